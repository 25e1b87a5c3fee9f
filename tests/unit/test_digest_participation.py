"""Each participant's copy of the digest: a +1 address per story, made for that reader
and that story, none under their own (service/flows/digest.py, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from service.compose import DigestView, FacilitatorSection, StoryView
from service.config import Config
from service.core.clock import ManualClock
from service.core.tokens import verify_reaction_token, verify_token
from service.flows.cohort import Cohort
from service.flows.digest import DigestContent, reader_view
from service.store.models import Participant

NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)


def test_a_reader_gets_a_plus_one_address_for_every_story_but_their_own(config: Config) -> None:
    cohort = Cohort(config=config, secret=b"s" * 32, clock=ManualClock(NOW))
    view = DigestView(cohort_name="C", period_start=NOW, period_end=NOW,
                      stories=(StoryView("Alice", 1, "a", NOW), StoryView("Bob", 1, "b", NOW)),
                      resources=(), next_checkin=None, next_prompt=None, accepted=())
    content = DigestContent(view=view, facilitator=FacilitatorSection(), period_start=NOW,
                            period_end=NOW, authors=((10, 1), (11, 2)))
    alice = Participant(id=1, cohort_id=config.cohort.id, email="a@x", name="Alice",
                        timezone="UTC", joined_at=NOW)
    mine, bobs = reader_view(cohort, content, alice).stories
    assert mine.plus_one is None
    assert bobs.plus_one is not None
    local, _, domain = bobs.plus_one.partition("@")
    assert domain == config.mail.domain and local.startswith(config.mail.local_part + "+")
    token = local.split("+", 1)[1]
    assert verify_reaction_token(cohort.secret, cohort.id, token) == (1, 11)
    assert verify_token(cohort.secret, cohort.id, token) is None  # not a reply address
    carol = Participant(id=3, cohort_id=config.cohort.id, email="c@x", name="Carol",
                        timezone="UTC", joined_at=NOW)
    assert {s.plus_one for s in reader_view(cohort, content, carol).stories}.isdisjoint(
        {bobs.plus_one})
    assert content.view.stories[1].plus_one is None  # the shared view is left as it was
