"""Tests for service/inbound/classify.py, end to end over the fixture emails."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.inbound.classify import Classification, ClassifyContext, classify, to_json
from service.inbound.controls import Control
from service.inbound.links import Link

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
FIXTURES = sorted(p.name for p in MAIL.glob("*.eml"))

TOKENS = {
    "a1b2c3d4": "alice@example.com",
    "j9k8l7m6": "jonas@example.de",
    "c4m1ll3x": "camille@example.fr",
    "b0bt0k3n": "bob@example.net",
    "d4n4t0k3": "dana@example.com",
    "k3nj1t0k": "kenji@example.jp",
    "s4nn3t0k": "sanne@example.nl",
    "l0c14t0k": "lucia@example.es",
}
SENT = {
    "checkin-3.alice@circle.example.org": "alice@example.com",
    "checkin-3.grace@circle.example.org": "grace.old@gmail.com",
    "checkin-3.frank@circle.example.org": "frank@example.net",
    "checkin-3.henry@circle.example.org": "henry@example.co.uk",
    "checkin-4.alice@circle.example.org": "alice@example.com",
}
CTX = ClassifyContext(
    own_address="circle@example.org",
    participant_for_token=TOKENS.get,
    sent_message_ids=SENT,
    participant_emails=[*TOKENS.values(), "grace.old@gmail.com", "frank@example.net"],
    today=date(2026, 1, 14),
)


def run(name: str, ctx: ClassifyContext | None = CTX) -> Classification:
    return classify((MAIL / name).read_bytes(), ctx)[1]


@pytest.mark.parametrize(
    ("name", "participant", "text"),
    [
        (
            "gmail_reply_english.eml",
            "alice@example.com",
            'Hi Helen,\n\nThis week I finally ran the "working out loud" experiment: I posted my '
            "draft\nin the team channel before it was finished. Two people replied with ideas.\n\n"
            "Resource: this article helped https://hbr.org/2016/05/the-power-of-small-wins\nand I "
            "keep coming back to [the WOL circle guide](https://workingoutloud.com/circle-guides)."
            "\n\nThanks,\nAlice",
        ),
        (
            "outlook_reply_german.eml",
            "jonas@example.de",
            "Hallo Helen,\n\ndiese Woche habe ich zweimal die 15-Minuten-Übung gemacht. Ergebnis: "
            "weniger Grübeln, mehr Tun.\nFür nächste Woche nehme ich mir vor, meinen Kollegen Jörg "
            "einzubeziehen.\n\nViele Grüße\nJonas",
        ),
        (
            "apple_mail_reply_french.eml",
            "camille@example.fr",
            "Bonjour Helen,\n\nJ’ai testé la méthode « une petite victoire par jour » : ça marche !"
            "\nMon objectif reste le même.\n\nCamille",
        ),
        (
            "thunderbird_reply_flowed.eml",
            "bob@example.net",
            'Hi Helen,\n\nthis fortnight I tried the "one conversation a week" habit from the '
            "workshop. It felt awkward the first time, but by Thursday I was enjoying it.\n\n"
            "Things I tried:\n- asking for feedback on a half-done slide deck\n"
            "- sharing my notes in the wiki",
        ),
        (
            "outlook_html_only_reply.eml",
            "dana@example.com",
            "Hi Helen – quick update:\n\n- Kept the “two-minute rule” all week\n- Shared a good "
            "article on habits (https://jamesclear.com/how-to-stop-procrastinating)\n\nDana",
        ),
        (
            "iphone_reply_japanese.eml",
            "kenji@example.jp",
            "ヘレンさん\n\n今週は毎朝10分、目標について書きました。\n少しずつ習慣になってきました。\n\n健二",
        ),
        (
            "outlook_web_reply_dutch.eml",
            "sanne@example.nl",
            "Hoi Helen,\n\nDeze week heb ik elke dag één ding gedeeld in ons teamkanaal. Tip: begin "
            "klein!\n\nGroet,\nSanne",
        ),
        (
            "gmail_reply_interleaved.eml",
            "alice@example.com",
            "I presented my goal to my manager. She offered to mentor me.\n\nBlocking Friday "
            "mornings for deep work.\nWorked 3 out of 4 weeks.\n\n"
            "https://en.wikipedia.org/wiki/Working_out_loud_(methodology)",
        ),
    ],
)
def test_stories(name: str, participant: str, text: str) -> None:
    result = run(name)
    assert (result.kind, result.participant) == ("story", participant)
    assert result.story is not None
    assert result.story.text == text
    assert result.story.cut


def test_story_links() -> None:
    story = run("gmail_reply_english.eml").story
    assert story is not None
    assert story.links == (
        Link("https://hbr.org/2016/05/the-power-of-small-wins", "hbr.org/2016/05/the-power-of-small-wins"),
        Link("https://workingoutloud.com/circle-guides", "the WOL circle guide"),
    )
    html_story = run("outlook_html_only_reply.eml").story
    assert html_story is not None
    assert html_story.links == (
        Link("https://jamesclear.com/how-to-stop-procrastinating", "good article on habits"),
    )


def test_authenticated_by_token() -> None:
    result = run("gmail_reply_english.eml")
    assert result.token == "a1b2c3d4"
    assert result.reason == "authenticated by reply token"


def test_command_keeps_story_text() -> None:
    result = run("iphone_reply_pause_control.eml")
    assert result.kind == "command"
    assert result.control == Control("pause", date(2026, 2, 12), 29)
    assert result.story is not None
    assert result.story.text == "Pause until 12 Feb.\n\nCrazy month at work, back after that!"


def test_auto_replies() -> None:
    ooo = run("out_of_office_spanish_no_headers.eml")
    assert (ooo.kind, ooo.participant) == ("auto_reply", "lucia@example.es")
    vacation = run("gmail_vacation_responder.eml")
    assert vacation.kind == "auto_reply" and "Auto-Submitted" in vacation.reason


@pytest.mark.parametrize(
    ("name", "participant", "recipient"),
    [
        ("postfix_bounce_dsn.eml", "frank@example.net", "frank@example.net"),
        ("gmail_bounce.eml", "grace.old@gmail.com", "grace.old@gmail.com"),
        ("exim_bounce.eml", "henry@example.co.uk", "henry@example.co.uk"),  # via returned Message-ID
        ("qmail_bounce.eml", None, "ivan@example.com"),
    ],
)
def test_bounces(name: str, participant: str | None, recipient: str) -> None:
    result = run(name)
    assert result.kind == "bounce"
    assert result.participant == participant
    assert result.bounce is not None and result.bounce.recipient == recipient
    assert result.reason == f"hard bounce for {recipient} (5.1.1)"


def test_rsvp_accept_from_outlook() -> None:
    result = run("outlook_calendar_accept.eml")
    assert (result.kind, result.participant) == ("rsvp", "dana@example.com")
    assert result.rsvp is not None
    assert (result.rsvp.uid, result.rsvp.partstat) == (
        "series-orlando-2015@circle.example.org",
        "ACCEPTED",
    )
    assert result.rsvp.recurrence_id == datetime(2026, 1, 20, 17, 0, tzinfo=UTC)


def test_rsvp_decline_with_method_only_in_body() -> None:
    result = run("google_calendar_decline.eml")
    assert (result.kind, result.participant) == ("rsvp", "alice@example.com")
    assert result.rsvp is not None and result.rsvp.partstat == "DECLINED"


def test_counter_proposal() -> None:
    result = run("outlook_calendar_counter.eml")
    assert (result.kind, result.participant) == ("counter", "jonas@example.de")


def test_rsvp_for_someone_else_is_unknown_sender() -> None:
    raw = (MAIL / "outlook_calendar_accept.eml").read_bytes()
    raw = raw.replace(b"From: Dana Lee <dana@example.com>", b"From: Eve <eve@example.com>")
    result = classify(raw, CTX)[1]
    assert result.kind == "unknown_sender"
    assert "does not match" in result.reason


def test_unknown_sender_reasons() -> None:
    raw = (MAIL / "gmail_reply_english.eml").read_bytes()
    spoofed = raw.replace(b"From: Alice Example <alice@example.com>", b"From: Mallory <m@evil.example>")
    result = classify(spoofed, CTX)[1]
    assert result.kind == "unknown_sender"
    assert result.reason == "the sender m@evil.example does not match the reply token's participant"

    bad_token = raw.replace(b"circle+a1b2c3d4@", b"circle+forged00@")
    no_refs = bad_token.replace(b"checkin-3.alice@", b"something-else@")
    result = classify(no_refs, CTX)[1]
    assert (result.kind, result.reason) == ("unknown_sender", "the reply token is not valid")

    no_token = no_refs.replace(b"circle+forged00@", b"circle@")
    result = classify(no_token, CTX)[1]
    assert result.kind == "unknown_sender"
    assert result.reason.startswith("no reply token in the recipients")


def test_fallback_to_references_when_token_is_missing() -> None:
    raw = (MAIL / "gmail_reply_english.eml").read_bytes().replace(b"circle+a1b2c3d4@", b"circle@")
    result = classify(raw, CTX)[1]
    assert (result.kind, result.participant) == ("story", "alice@example.com")
    assert result.reason == "authenticated by In-Reply-To/References"


def test_token_match_is_case_insensitive_on_address_but_keeps_token_case() -> None:
    seen: list[str] = []

    def lookup(token: str) -> str | None:
        seen.append(token)
        return "alice@example.com" if token == "AbC" else None

    raw = b"From: alice@example.com\nTo: CIRCLE+AbC@EXAMPLE.ORG\nSubject: Re: x\n\nMy story.\n"
    ctx = ClassifyContext("circle@example.org", lookup, {}, ["alice@example.com"], date(2026, 1, 1))
    result = classify(raw, ctx)[1]
    assert (result.kind, result.participant, result.token) == ("story", "alice@example.com", "AbC")
    assert seen == ["AbC"]


def test_empty_reply_is_invalid() -> None:
    raw = (
        b"From: alice@example.com\nTo: circle+a1b2c3d4@example.org\nSubject: Re: x\n\n"
        b"On Mon, Jan 12, 2026 at 10:00 AM Helen <helen@example.org> wrote:\n> old\n"
    )
    result = classify(raw, CTX)[1]
    assert (result.kind, result.reason) == ("invalid", "empty reply")


def test_unparseable_is_invalid() -> None:
    msg, result = classify(b"", CTX)
    assert msg is None
    assert result.kind == "invalid" and result.reason.startswith("unreadable message")


def test_parse_only_mode() -> None:
    result = run("gmail_reply_english.eml", None)
    assert (result.kind, result.participant) == ("story", None)
    assert result.reason == "parsed without a config: sender not authenticated"
    assert run("outlook_calendar_accept.eml", None).kind == "rsvp"
    assert run("exim_bounce.eml", None).kind == "bounce"


def test_to_json_contract() -> None:
    story = to_json(run("gmail_reply_english.eml"))
    assert json.loads(json.dumps(story)) == story
    assert story["kind"] == "story" and story["participant"] == "alice@example.com"
    assert story["story"]["links"][1] == {
        "url": "https://workingoutloud.com/circle-guides",
        "title": "the WOL circle guide",
    }
    assert story["rsvp"] is None and story["reason"] == "authenticated by reply token"
    assert "control" not in story and "bounce" not in story

    rsvp = to_json(run("outlook_calendar_accept.eml"))
    assert rsvp["story"] is None
    assert {k: rsvp["rsvp"][k] for k in ("uid", "partstat", "recurrence_id")} == {
        "uid": "series-orlando-2015@circle.example.org",
        "partstat": "ACCEPTED",
        "recurrence_id": "2026-01-20T17:00:00+00:00",
    }
    command = to_json(run("iphone_reply_pause_control.eml"))
    assert command["control"] == {"word": "pause", "until": "2026-02-12", "duration_days": 29}
    bounce = to_json(run("postfix_bounce_dsn.eml"))
    assert bounce["bounce"]["recipient"] == "frank@example.net" and bounce["bounce"]["hard"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_classify_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    msg, result = classify(raw, CTX)
    assert isinstance(result, Classification)
    assert (msg is None) == (result.kind == "invalid" and result.reason.startswith("unreadable"))
    json.dumps(to_json(result))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(FIXTURES),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.lists(st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]), max_size=6),
)
def test_classify_never_raises_on_mutated_fixtures(name: str, seed: int, ops: list[str]) -> None:
    data = bytearray((MAIL / name).read_bytes())
    rng = random.Random(seed)
    junk = [b"\x00", b"\xff\xfe", b"=?utf-8?b?", b"\n--", b"boundary=", b">", b"\r", b"; charset="]
    for op in ops:
        at = rng.randrange(len(data) + 1)
        if op == "flip" and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op == "delete":
            del data[at : at + rng.randrange(1, 200)]
        elif op == "insert":
            data[at:at] = rng.choice(junk)
        elif op == "duplicate":
            data[at:at] = data[at : at + rng.randrange(1, 400)]
        elif op == "truncate":
            del data[at:]
    for ctx in (CTX, None):
        _, result = classify(bytes(data), ctx)
        assert isinstance(result, Classification)
        json.dumps(to_json(result))


def test_list_unsubscribe_mailto_with_control_in_subject() -> None:
    raw = b"From: alice@example.com\nTo: circle+a1b2c3d4@example.org\nSubject: stop\n\n"
    result = classify(raw, CTX)[1]
    assert (result.kind, result.participant) == ("command", "alice@example.com")
    assert result.control == Control("stop", None, None)


def test_message_without_sender_is_invalid() -> None:
    parsed, result = classify(b"Subject: hi\r\n\r\nNo From header here.\r\n", None)
    assert parsed is not None
    assert (result.kind, result.participant) == ("invalid", None)
    assert "no sender" in result.reason
