"""Routing a message of a shared mailbox to its cohort (service/inbound/route.py)."""

from __future__ import annotations

from collections.abc import Collection

from service.inbound.route import (
    RouteContext,
    addressed_to,
    recipient_tokens,
    referenced_ids,
    route,
    tokenised,
)

TOKENS = {"tokenalpha": "alpha", "tokenbeta": "beta"}
MEMBERS = {"sam@example.com": {"alpha", "beta"}, "ann@example.com": {"alpha"}}


def ctx(home: tuple[str, ...] = ("alpha", "beta"), sent: dict[str, str] | None = None) -> RouteContext:
    def of_sender(address: str) -> Collection[str]:
        return MEMBERS.get(address, set())

    return RouteContext(cohort_ids=home, addresses={"circle@example.org", "berlin@example.org"},
                        cohort_for_token=TOKENS.get, sent=sent or {}, cohorts_of_sender=of_sender)


def message(to: str, sender: str = "sam@example.com", extra: str = "", body: str = "Hi") -> bytes:
    return (f"From: Sam <{sender}>\r\nTo: {to}\r\nSubject: Re: check-in\r\n{extra}\r\n{body}\r\n").encode()


def test_a_valid_reply_token_decides() -> None:
    assert route(message("circle+tokenbeta@example.org"), ctx()).cohort_id == "beta"
    # another cohort's address of the deployment, and in Cc or Delivered-To as well
    assert route(message("x@y", extra="Delivered-To: berlin+tokenalpha@example.org\r\n"),
                 ctx()).cohort_id == "alpha"
    # a token that does not verify is ignored; a known sender of two cohorts decides nothing
    assert route(message("circle+forged@example.org"), ctx()).cohort_id is None


def test_a_token_for_a_cohort_outside_this_mailbox_still_counts() -> None:
    assert route(message("circle+tokenbeta@example.org"), ctx(home=("alpha",))).cohort_id == "beta"


def test_references_to_our_mail() -> None:
    sent = {"cb.123@example.org": "beta"}
    msg = message("circle@example.org", extra="In-Reply-To: <cb.123@example.org>\r\n")
    assert route(msg, ctx(sent=sent)).cohort_id == "beta"
    bounce = message("circle@example.org", sender="mailer-daemon@mx.example",
                     body="--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                          "Message-ID: <cb.123@example.org>\r\n")
    assert "cb.123@example.org" in referenced_ids(bounce)
    assert route(bounce, ctx(sent=sent)).cohort_id == "beta"


def test_fallbacks_stay_within_the_mailboxs_own_cohorts() -> None:
    assert route(message("circle@example.org", sender="ann@example.com"), ctx()).cohort_id == "alpha"
    assert route(message("circle@example.org", sender="ann@example.com"),
                 ctx(home=("beta",))).cohort_id == "beta"  # the mailbox of one cohort
    stranger = route(message("circle@example.org", sender="who@else.org"), ctx())
    assert stranger.cohort_id is None and "no reply token" in stranger.reason


def test_recipient_tokens_match_only_our_addresses() -> None:
    headers = [("To", "circle+one@example.org, other+two@example.org"),
               ("Cc", "CIRCLE+Three@EXAMPLE.ORG")]
    assert recipient_tokens(headers, {"circle@example.org"}) == ["one", "Three"]


def test_what_concerns_circleback_in_a_shared_mailbox() -> None:
    ours = {"circle@example.org"}
    assert tokenised(message("circle+anything@example.org"), ours)  # valid or not
    assert tokenised(message("x@y", extra="Cc: CIRCLE+t@EXAMPLE.ORG\r\n"), ours)
    assert not tokenised(message("circle@example.org"), ours)
    assert not tokenised(message("boss+news@example.org"), ours)


def test_addressed_to_the_plain_cohort_address() -> None:
    assert addressed_to(message("Circle <CIRCLE@example.org>"), "circle@example.org")
    assert addressed_to(message("x@y", extra="Cc: circle@example.org\r\n"), "circle@example.org")
    assert not addressed_to(message("circle+t@example.org"), "circle@example.org")
    assert not addressed_to(message("helen@example.org"), "circle@example.org")
