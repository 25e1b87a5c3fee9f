from __future__ import annotations

import pytest

from service.config import zones
from service.config.zones import canonical_zone, links_from, suggest_zone, zone_advice


@pytest.mark.parametrize(("old", "current"), [
    ("US/Eastern", "America/New_York"),
    ("Asia/Calcutta", "Asia/Kolkata"),
    ("Europe/Kiev", "Europe/Kyiv"),
    ("GB", "Europe/London"),
    ("Universal", "UTC"),
])
def test_old_aliases_have_a_current_name(old: str, current: str) -> None:
    assert canonical_zone(old) == current
    advice = zone_advice(old)
    assert advice is not None and not advice.serious
    assert advice.message == f"\"{old}\" is an old name for \"{current}\""
    assert advice.fix.startswith(f"write \"{current}\"")


@pytest.mark.parametrize("name", ["America/New_York", "UTC", "Etc/UTC", "GMT", "Europe/London",
                                  # linked to Europe/Brussels since 2022, yet the Dutch zone
                                  "Europe/Amsterdam", "Asia/Kuala_Lumpur"])
def test_current_names_are_fine(name: str) -> None:
    assert canonical_zone(name) is None and zone_advice(name) is None


def test_fixed_offsets_suggest_a_city() -> None:
    est = zone_advice("EST")
    assert est is not None and est.serious  # a New York cohort an hour off half the year
    assert "without daylight saving time" in est.message and "America/New_York" in est.fix
    eastern = zone_advice("EST5EDT")
    assert eastern is not None and not eastern.serious and "America/New_York" in eastern.fix
    etc = zone_advice("Etc/GMT+5")
    assert etc is not None and "it is UTC-5" in etc.message


@pytest.mark.parametrize(("typed", "meant"), [
    ("Europe/Londn", "Europe/London"),
    ("America/New_Yrok", "America/New_York"),
    ("europe/london", "Europe/London"),
    ("New York", "America/New_York"),
    ("Asia/Calcuta", "Asia/Kolkata"),  # a misspelt old alias: its current name
    ("PST", "America/Los_Angeles"),
])
def test_a_misspelt_zone_gets_the_current_name_meant(typed: str, meant: str) -> None:
    assert suggest_zone(typed) == meant


def test_nothing_close_is_no_suggestion() -> None:
    assert suggest_zone("Mars/Olympus_Mons_Base") is None


def test_links_are_read_from_the_tz_database_text() -> None:
    zi = ("# version 2099a\nZ America/New_York -4:56:2 - LMT 1883 N 18 17u\n"
          "L America/New_York US/Eastern\nL Europe/Brussels Europe/Amsterdam\n")
    tabs = "# comment\nNL\t+5222+00454\tEurope/Amsterdam\n"
    assert links_from(zi, tabs) == {"US/Eastern": "America/New_York"}


def test_the_built_in_table_when_the_machine_has_no_tz_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zones, "_tz_files", lambda: iter(()))
    zones._data.cache_clear()
    try:
        assert canonical_zone("US/Pacific") == "America/Los_Angeles"
        assert canonical_zone("Asia/Calcutta") == "Asia/Kolkata"
    finally:
        zones._data.cache_clear()
