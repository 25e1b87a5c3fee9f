from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.config import Config
from service.core.plan import ParticipantState, plan
from service.core.schedule import checkin_for, checkins, digest_slots

PEOPLE = [ParticipantState("alice@example.com"), ParticipantState("bob@example.com")]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_series_keeps_local_time_across_dst(config: Config) -> None:
    series = checkins(config.checkins)
    assert [c.start.hour for c in series] == [12, 12, 12, 12]
    # New York leaves daylight time on 1 November 2026: the UTC instant moves by an hour.
    assert [c.start_utc.hour for c in series] == [16, 16, 17, 17]
    assert series[0].end - series[0].start == timedelta(minutes=45)


def test_nothing_is_due_before_the_first_prompt(config: Config) -> None:
    now = utc(2026, 10, 1)
    first = plan(config, now, PEOPLE, set())
    assert first.due == []
    # the next thing to happen is the first prompt, two days before the first check-in
    assert first.next_wakeup == utc(2026, 10, 18, 16)
    assert first.next_what == "the prompt for check-in 1"


def test_prompt_then_reminder_only_for_those_who_have_not_replied(config: Config) -> None:
    at_prompt = utc(2026, 10, 18, 16)
    due = plan(config, at_prompt, PEOPLE, set()).due
    assert sorted(d.key for d in due if d.kind == "prompt") == [
        "prompt:1:alice@example.com", "prompt:1:bob@example.com"]
    done = {d.key for d in due}
    people = [ParticipantState("alice@example.com", replied=frozenset({1})),
              ParticipantState("bob@example.com")]
    at_remind = utc(2026, 10, 19, 16)
    due = plan(config, at_remind, people, done).due
    assert [d.key for d in due if d.kind == "reminder"] == ["reminder:1:bob@example.com"]


def test_no_prompt_after_the_checkin_started(config: Config) -> None:
    late = utc(2026, 10, 20, 17)  # an hour after check-in 1 started
    due = plan(config, late, PEOPLE, set()).due
    assert not [d for d in due if d.kind == "prompt" and d.checkin == 1]


def test_stopped_paused_and_bouncing_get_no_prompts(config: Config) -> None:
    now = utc(2026, 10, 18, 17)
    people = [
        ParticipantState("alice@example.com", status="stopped"),
        ParticipantState("bob@example.com", status="paused", paused_until=utc(2026, 11, 1)),
        ParticipantState("carol@example.com", bounce_state="hard"),
        ParticipantState("dan@example.com", status="paused", paused_until=utc(2026, 10, 1)),
    ]
    due = plan(config, now, people, set()).due
    assert {d.participant for d in due if d.kind == "prompt"} == {"dan@example.com"}


def test_missed_digest_is_sent_once(config: Config) -> None:
    # Down from Thursday 22 Oct to Tuesday 3 Nov: the two missed Friday digests become one.
    now = utc(2026, 11, 3, 12)
    due = [d for d in plan(config, now, PEOPLE, set()).due if d.kind == "digest"]
    assert len(due) == 1
    assert due[0].slot == utc(2026, 10, 30, 13)  # Friday 09:00 EDT
    assert not [d for d in plan(config, now, PEOPLE, {due[0].key}).due if d.kind == "digest"]


def test_digest_slots_follow_local_time(config: Config) -> None:
    slots = digest_slots(config.digest, "America/New_York", utc(2026, 10, 20), utc(2026, 11, 10))
    assert slots == [utc(2026, 10, 23, 13), utc(2026, 10, 30, 13), utc(2026, 11, 6, 14)]


def test_checkin_for(config: Config) -> None:
    assert checkin_for(config, utc(2026, 10, 1)) is None
    assert checkin_for(config, utc(2026, 10, 19)) == 1
    assert checkin_for(config, utc(2026, 10, 26)) == 2


def test_local_time_digest_is_composed_when_the_first_zone_gets_there(config: Config) -> None:
    import dataclasses

    from service.core.schedule import digest_zone

    local = dataclasses.replace(config, digest=dataclasses.replace(config.digest, local_time=True))
    people = [ParticipantState("a@x", timezone="Asia/Tokyo"),
              ParticipantState("b@x", timezone="America/Los_Angeles")]
    after = utc(2026, 10, 18)
    zones = [p.timezone for p in people]
    assert digest_zone(config, zones, after) == "America/New_York"  # local_time off
    assert digest_zone(local, zones, after) == "Asia/Tokyo"  # Friday 09:00 comes first there
    due = [d for d in plan(local, utc(2026, 10, 23, 0, 30), people, set()).due if d.kind == "digest"]
    assert [d.slot for d in due] == [utc(2026, 10, 23, 0)]  # Friday 09:00 in Tokyo


def test_a_late_prompt_is_not_chased_by_its_reminder_at_once(config: Config) -> None:
    # The cohort started late: the prompt for check-in 1 goes out after the reminder time.
    late = utc(2026, 10, 19, 20)  # check-in 1 is 20 Oct 16:00 UTC, remind_before 1d
    due = plan(config, late, PEOPLE, {}).due
    assert {d.kind for d in due if d.checkin == 1} == {"prompt"}
    done = {d.key: late for d in due}
    # The next pass, seconds later: no reminder (the spacing of 1 day would end after the
    # check-in began, so there is none at all for this check-in).
    for later in (late + timedelta(seconds=5), late + timedelta(hours=19)):
        assert not [d for d in plan(config, later, PEOPLE, done).due if d.kind == "reminder"]


def test_a_reminder_waits_for_the_spacing_after_a_delayed_prompt(config: Config) -> None:
    # The prompt went out 6 hours late (the daemon was down): the reminder keeps its
    # distance (prompt_before - remind_before = 1 day) and the plan wakes up for it.
    prompt_at = utc(2026, 10, 18, 16)
    prompted = prompt_at + timedelta(hours=6)
    done = {"prompt:1:alice@example.com": prompted, "prompt:1:bob@example.com": prompt_at}
    at_remind = utc(2026, 10, 19, 16)
    due = [d.key for d in plan(config, at_remind, PEOPLE, done).due if d.kind == "reminder"]
    assert due == ["reminder:1:bob@example.com"]
    result = plan(config, at_remind, PEOPLE, {**done, "reminder:1:bob@example.com": at_remind})
    assert result.next_wakeup == prompted + timedelta(days=1)
    due = [d.key for d in plan(config, prompted + timedelta(days=1), PEOPLE, done).due
           if d.kind == "reminder"]
    assert due == ["reminder:1:alice@example.com", "reminder:1:bob@example.com"]


def test_a_late_joiner_gets_the_invitation_first_and_the_prompt_a_gap_later(config: Config) -> None:
    gap = config.mail.message_gap
    # Dan joins while check-in 1's prompt is out: his invitation goes now, his prompt
    # not in the same second but [mail] message_gap later, when the plan wakes up for it.
    now = utc(2026, 10, 18, 20)
    dan = ParticipantState("dan@example.com")
    first = plan(config, now, [dan], {}, series_sequence=0)
    assert [d.kind for d in first.due] == ["calendar"]
    assert first.next_wakeup == now + gap
    invited = ParticipantState("dan@example.com", calendar=first.due[0].calendar.shape,  # type: ignore[union-attr]
                               calendar_at=now)
    done = {first.due[0].key: now}
    assert plan(config, now + timedelta(minutes=1), [invited], done, series_sequence=0).due == []
    later = plan(config, now + gap, [invited], done, series_sequence=0)
    assert [(d.kind, d.checkin) for d in later.due] == [("prompt", 1)]


def test_a_prompt_that_would_follow_the_invitation_after_the_call_began_is_dropped(
        config: Config) -> None:
    # Invited ten minutes before check-in 1 (20 Oct 16:00 UTC): no prompt for it at all.
    now = utc(2026, 10, 20, 15, 50)
    invited = ParticipantState("dan@example.com", calendar_at=now,
                               calendar=plan(config, now, [ParticipantState("dan@example.com")], {},
                                             series_sequence=0).due[0].calendar.shape)  # type: ignore[union-attr]
    for t in (now, now + timedelta(minutes=9)):
        assert not [d for d in plan(config, t, [invited], {}, series_sequence=0).due
                    if d.kind == "prompt"]


def test_a_reminder_keeps_its_gap_after_the_digest(config: Config) -> None:
    from service.core import keys
    gap = config.mail.message_gap
    # The digest went out a minute before check-in 2's reminder time: the reminder waits.
    second = checkins(config.checkins)[1]
    at_remind = second.start_utc - timedelta(days=1)
    slot = max(s for s in digest_slots(config.digest, "America/New_York",
                                       utc(2026, 10, 18), at_remind) if s <= at_remind)
    done = {"prompt:2:alice@example.com": second.start_utc - timedelta(days=2),
            keys.digest_key(slot): at_remind - timedelta(minutes=1)}
    people = [ParticipantState("alice@example.com", replied=frozenset({1}))]
    assert not [d for d in plan(config, at_remind, people, done).due if d.kind == "reminder"]
    due = plan(config, at_remind - timedelta(minutes=1) + gap, people, done).due
    assert [d.key for d in due if d.kind == "reminder"] == ["reminder:2:alice@example.com"]
