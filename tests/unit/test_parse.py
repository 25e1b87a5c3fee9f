"""Tests for service/inbound/parse.py and service/inbound/charset.py."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.inbound.charset import decode_bytes, unflow
from service.inbound.parse import Attachment, MalformedMessage, ParsedMessage, parse_message

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
FIXTURES = sorted(p.name for p in MAIL.glob("*.eml"))


def load(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def test_gmail_reply_headers() -> None:
    msg = parse_message(load("gmail_reply_english.eml"))
    assert msg.message_id == "CAF=abc123XyZ+gmail.reply@mail.gmail.com"
    assert (msg.from_addr, msg.from_name) == ("alice@example.com", "Alice Example")
    assert msg.recipients == ("circle+a1b2c3d4@example.org",)
    assert msg.subject == "Re: Check-in 3: what happened since last time?"
    assert msg.date == datetime(2026, 1, 14, 16, 41, 8, tzinfo=UTC)
    assert msg.in_reply_to == ("checkin-3.alice@circle.example.org",)
    assert msg.references == ("checkin-3.alice@circle.example.org",)
    assert msg.content_type == "multipart/alternative"
    assert msg.has_plain and msg.html is not None and "gmail_quote" in msg.html
    assert msg.text.startswith("Hi Helen,\n\nThis week I finally ran")
    assert ("Return-Path", "<alice@example.com>") in msg.headers
    assert msg.raw_size == len(load("gmail_reply_english.eml"))


def test_outlook_latin1_crlf_and_encoded_from() -> None:
    msg = parse_message(load("outlook_reply_german.eml"))
    assert msg.from_name == "Jonas Müller"
    assert "\r" not in msg.text
    assert "die 15-Minuten-Übung gemacht" in msg.text
    assert msg.subject == "AW: Check-in 3: what happened since last time?"


def test_thunderbird_format_flowed_is_joined() -> None:
    msg = parse_message(load("thunderbird_reply_flowed.eml"))
    assert msg.from_addr == "bob@example.net"  # lower-cased
    assert msg.text.splitlines()[2] == (
        'this fortnight I tried the "one conversation a week" habit from the workshop. '
        "It felt awkward the first time, but by Thursday I was enjoying it."
    )
    assert "> Check-in 3 is on Tuesday. What happened since last time? What did you try? One" in (msg.text)
    assert "\n-- \nBob Smith" in msg.text  # the signature separator is never flowed


def test_iso_2022_jp_body_and_header() -> None:
    msg = parse_message(load("iphone_reply_japanese.eml"))
    assert msg.from_name == "健二"
    assert msg.text.startswith("ヘレンさん\n\n今週は毎朝10分、目標について書きました。")
    assert msg.html is not None and "blockquote" in msg.html


def test_html_only_message_gets_text_from_html() -> None:
    msg = parse_message(load("outlook_html_only_reply.eml"))
    assert not msg.has_plain
    assert msg.text.startswith("Hi Helen – quick update:\n\n- Kept the “two-minute rule” all week")


def test_calendar_inline_and_attached_is_deduplicated() -> None:
    msg = parse_message(load("google_calendar_decline.eml"))
    assert len(msg.calendar_parts) == 1
    assert msg.calendar_methods == ("",)
    assert b"PARTSTAT=DECLINED" in msg.calendar_parts[0]
    assert msg.attachments == ()
    assert msg.text.startswith("Alice Example has declined this invitation.")


def test_calendar_method_from_content_type() -> None:
    msg = parse_message(load("outlook_calendar_counter.eml"))
    assert msg.calendar_methods == ("COUNTER",)


def test_report_fields_and_attachments() -> None:
    msg = parse_message(load("gmail_bounce.eml"))
    assert msg.content_type == "multipart/report"
    assert msg.report_type == "delivery-status"
    assert msg.delivery_status is not None and "Final-Recipient: rfc822; grace.old@gmail.com" in (
        msg.delivery_status
    )
    assert Attachment("icon.png", "image/png", 70) in msg.attachments
    assert msg.text.strip().startswith("** Address not found **")


def test_missing_message_id_is_hash_of_raw() -> None:
    raw = load("qmail_bounce.eml")
    assert parse_message(raw).message_id == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_message_id_without_brackets_and_spaces() -> None:
    raw = b"Message-ID:   abc@x.example  \nFrom: a@b.c\nReferences: <one@x>\n <two@x> <one@x>\n\nhi"
    msg = parse_message(raw)
    assert msg.message_id == "abc@x.example"
    assert msg.references == ("one@x", "two@x")


def test_recipients_from_all_delivery_headers() -> None:
    raw = (
        b"From: A <a@b.c>\nTo: X <X@Example.org>, y@example.org\nCc: z@example.org\n"
        b"Delivered-To: circle+T0K@example.org\nX-Original-To: circle+t0k@example.org\n"
        b"Envelope-To: x@example.org\n\nbody"
    )
    assert parse_message(raw).recipients == (
        "x@example.org",
        "y@example.org",
        "z@example.org",
        "circle+t0k@example.org",
    )


def test_date_variants() -> None:
    base = b"From: a@b.c\nDate: %s\n\nx"
    assert parse_message(base % b"Mon, 12 Jan 2026 10:00:00 +0100").date == datetime(
        2026, 1, 12, 10, 0, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse_message(base % b"12 Jan 2026 10:00:00 -0000").date == datetime(
        2026, 1, 12, 10, 0, tzinfo=UTC
    )
    assert parse_message(base % b"yesterday-ish").date is None


def test_nul_bytes_removed_and_charset_fallbacks() -> None:
    raw = b"From: a@b.c\nContent-Type: text/plain; charset=utf-8\n\nfa\x00\x93ade\x94 caf\xe9\n"
    assert parse_message(raw).text == "fa“ade” café\n"
    raw = b"From: a@b.c\nContent-Type: text/plain; charset=x-klingon\n\ncaf\xc3\xa9"
    assert parse_message(raw).text == "café"
    raw = b"From: a@b.c\nContent-Type: text/plain; charset=iso-8859-1\n\n\x93quoted\x94"
    assert parse_message(raw).text == "“quoted”"  # WHATWG: iso-8859-1 means windows-1252


def test_raw_8bit_and_broken_encoded_headers() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@x.de>\nSubject: caf\xc3\xa9 =?bogus?q?x?= =?utf-8?b?###?=\n"
        b"To: \xff\xfe <\xe9@x>\n\nbody"
    )
    msg = parse_message(raw)
    assert msg.from_name == "Jürgen"
    assert msg.subject.startswith("café")


def test_decode_bytes_never_fails() -> None:
    assert decode_bytes(b"\x81\x8d", "utf-8") == "\x81\x8d"
    assert decode_bytes("Grüße".encode("cp1252"), None) == "Grüße"


def test_unflow_delsp_and_quote_depth() -> None:
    assert unflow("one \ntwo\n", delsp=False) == "one two\n"
    assert unflow("Kanji \nhere", delsp=True) == "Kanjihere"
    assert unflow("> quoted \n>> deeper\nplain", delsp=False) == "> quoted \n>> deeper\nplain"
    assert unflow(" >stuffed", delsp=False) == ">stuffed"
    assert unflow("-- \nsig", delsp=False) == "-- \nsig"


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\n\njust a body"])
def test_empty_or_headerless_input_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_message(raw)


def test_too_many_parts_is_malformed() -> None:
    parts = b"".join(b"--b\nContent-Type: text/plain\n\nx\n" for _ in range(600))
    raw = b'From: a@b.c\nContent-Type: multipart/mixed; boundary="b"\n\n' + parts + b"--b--\n"
    with pytest.raises(MalformedMessage, match="more than 500"):
        parse_message(raw)
    msg = parse_message(raw, max_parts=1000)
    assert msg.attachments == ()  # Apple Mail style: inline text parts are all body text
    assert msg.text == "\n".join(["x"] * 600)


def test_deep_nesting_is_malformed() -> None:
    depth = 60
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    tail = b"".join(b"\n--b%d--\n" % i for i in reversed(range(depth)))
    raw = b"From: a@b.c\n" + head + b"Content-Type: text/plain\n\ndeep" + tail
    with pytest.raises(MalformedMessage, match="nested"):
        parse_message(raw)


def test_huge_header_does_not_hang() -> None:
    raw = b"From: a@b.c\nSubject: " + b"=?utf-8?q?x?= " * 50_000 + b"\nTo: " + b"a@b.c, " * 20_000
    msg = parse_message(raw + b"\n\nbody")
    assert msg.text == "body"


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_parses(name: str) -> None:
    msg = parse_message(load(name))
    assert isinstance(msg, ParsedMessage)
    assert msg.message_id and "<" not in msg.message_id


def _parse_or_malformed(raw: bytes) -> None:
    try:
        msg = parse_message(raw)
    except MalformedMessage as exc:
        assert str(exc)
        return
    assert isinstance(msg, ParsedMessage)
    assert "\x00" not in msg.text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_parse_or_raise_malformed(raw: bytes) -> None:
    _parse_or_malformed(raw)


_HEADERISH = st.lists(
    st.sampled_from(
        [
            b"From: ",
            b"To: ",
            b"Content-Type: multipart/mixed; boundary=x\n",
            b"Content-Type: text/plain; charset=",
            b"Content-Transfer-Encoding: base64\n",
            b"Content-Transfer-Encoding: quoted-printable\n",
            b"=?utf-8?b?",
            b"=?",
            b"?=",
            b"<",
            b">",
            b"\n",
            b"\n\n",
            b"--x\n",
            b"--x--\n",
            b"\x00",
            b"\xff",
            b";",
            b"=",
            b'"',
            b"format=flowed",
            b"message/rfc822\n",
            b"text/calendar",
        ]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_HEADERISH)
def test_mime_shaped_noise_parse_or_raise_malformed(raw: bytes) -> None:
    _parse_or_malformed(raw)


@pytest.mark.parametrize("folded", [
    b"Subject: Re: this week in the\r\n circle (Tue 24 Nov)",
    b"Subject: Re: this week in the \r\n circle (Tue 24 Nov)",  # folded after a space too
    b"Subject: Re: this week in the\r\n\tcircle (Tue 24 Nov)",  # Outlook folds with a tab
    b"Subject: =?utf-8?q?Re=3A_this_week_in_the?=\r\n =?utf-8?q?_circle_=28Tue_24_Nov=29?=",
])
def test_folded_subject_unfolds_with_one_space(folded: bytes) -> None:
    raw = b"From: alice@example.com\r\n" + folded + b"\r\n\r\nHello.\r\n"
    assert parse_message(raw).subject == "Re: this week in the circle (Tue 24 Nov)"
