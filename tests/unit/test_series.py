from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

from service.calendar.itip import SeriesSpec, occurrence_starts
from service.calendar.series import participant_spec
from service.config import Config, MovedCheckin
from service.core.schedule import checkins, series_checkins
from service.core.series import ChangeKey, Changes, changes, desired_shape, utc_key

NY = ZoneInfo("America/New_York")

def with_checkins(config: Config, **changes_: object) -> Config:
    return dataclasses.replace(config, checkins=dataclasses.replace(config.checkins, **changes_))


def test_first_time_is_an_invitation_and_then_nothing(config: Config) -> None:
    shape = desired_shape(config)
    assert changes(None, shape) == Changes(request=True)
    assert changes(shape, shape).empty


def test_series_change_is_one_request_naming_what_changed(config: Config) -> None:
    old = desired_shape(config)
    new = desired_shape(with_checkins(config, duration=timedelta(hours=1), location="Room 4"))
    todo = changes(old, new)
    assert todo.request and not todo.cancel_occurrences
    assert todo.what == ("duration", "location")


def test_every_core_field_has_a_change_key(config: Config) -> None:
    """What changed is named by stable keys (templates/_calendar.j2 words them), one for each
    field of the series' core; a change of each is found and named."""
    core = desired_shape(config).core
    assert set(core) <= set(get_args(ChangeKey))
    old = desired_shape(config)
    for key in core:
        new = dataclasses.replace(old, core={**old.core, key: old.core[key] + "x"})
        assert changes(old, new).what == (key,)


def test_changes_are_plain_hashable_data(config: Config) -> None:
    old = desired_shape(config)
    todo = changes(old, desired_shape(with_checkins(config, duration=timedelta(hours=1))))
    assert todo == Changes(request=True, what=("duration",))
    assert hash(todo) == hash(Changes(request=True, what=("duration",)))


def test_cancelling_one_checkin_is_one_cancel_with_its_original_start(config: Config) -> None:
    old = desired_shape(config)
    new = desired_shape(with_checkins(config, cancelled=(3,)))
    todo = changes(old, new)
    assert not todo.request
    assert todo.cancel_occurrences == ("20261103T170000Z",)  # 12:00 EST, after the DST change


def test_moving_a_checkin_is_a_request_with_the_override(config: Config) -> None:
    moved = MovedCheckin(2, datetime(2026, 10, 28, 15, tzinfo=NY))
    new = desired_shape(with_checkins(config, moved=(moved,)))
    todo = changes(desired_shape(config), new)
    assert todo.request and todo.what == ("moved",)
    assert new.moved == (("20261027T160000Z", "2026-10-28T15:00:00-04:00"),)


def test_leavers_and_a_cancelled_series(config: Config) -> None:
    shape = desired_shape(config)
    assert changes(shape, shape, removed=True) == Changes(cancel_series=True)
    assert changes(None, shape, removed=True).empty  # never invited: nothing to cancel
    off = desired_shape(with_checkins(config, cancel_series=True))
    assert changes(shape, off) == Changes(cancel_series=True)
    assert checkins(with_checkins(config, cancel_series=True).checkins) == []
    back = changes(dataclasses.replace(shape, series_cancelled=True), shape)
    assert back.request and back.what == ("back-on",)


def test_reinstating_a_cancelled_checkin_sends_the_series_again(config: Config) -> None:
    cancelled = desired_shape(with_checkins(config, cancelled=(2,)))
    todo = changes(cancelled, desired_shape(config))
    assert todo.request and todo.what == ("reinstated",)


def base(config: Config) -> SeriesSpec:
    c = config.checkins
    return SeriesSpec(uid="u@x", summary="s", description="d", location=c.location,
                      timezone="America/New_York", first_start=c.first, duration=c.duration,
                      rrule=c.rrule, sequence=2)


def test_late_joiner_gets_the_series_from_the_next_checkin(config: Config) -> None:
    c = with_checkins(config, cancelled=(1, 4)).checkins
    shape = desired_shape(with_checkins(config, cancelled=(1, 4)))
    joined = datetime(2026, 10, 24, tzinfo=UTC)  # after check-in 1, before check-in 2
    spec = participant_spec(base(config), shape, series_checkins(c), joined, c.duration)
    assert spec is not None
    assert spec.first_start == datetime(2026, 10, 27, 12, tzinfo=NY)
    assert spec.rrule.endswith("COUNT=3")
    # check-in 1's cancellation is not theirs to know; check-in 4's is
    assert [utc_key(d) for d in spec.exdates] == ["20261110T170000Z"]
    assert [utc_key(d) for d in occurrence_starts(spec)] == ["20261027T160000Z", "20261103T170000Z"]


def test_nothing_left_for_a_very_late_joiner(config: Config) -> None:
    c = config.checkins
    joined = datetime(2026, 12, 1, tzinfo=UTC)
    assert participant_spec(base(config), desired_shape(config), series_checkins(c), joined,
                            c.duration) is None
