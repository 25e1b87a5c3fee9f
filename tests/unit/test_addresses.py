from __future__ import annotations

import pytest

from service.config.addresses import check_address, is_example_address


@pytest.mark.parametrize(("text", "normalized"), [
    ("Alice@Example.COM", "alice@example.com"),
    ("  bob@example.org ", "bob@example.org"),
    ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ("alice@cohort.test", "alice@cohort.test"),  # the tests' and the demo's domains
    ("ok@ymail.com", "ok@ymail.com"),  # real domains one letter from gmail.com
    ("ok@email.com", "ok@email.com"),
    ("ok@hotmail.de", "ok@hotmail.de"),
    ("ok@googlemail.com", "ok@googlemail.com"),
])
def test_good_addresses_pass_unchanged_but_for_case(text: str, normalized: str) -> None:
    checked = check_address(text)
    assert checked.ok and checked.normalized == normalized and checked.note is None


@pytest.mark.parametrize(("text", "meant"), [
    ("alice@gmial.com", "alice@gmail.com"),
    ("Alice@gmail.con", "alice@gmail.com"),
    ("alice@gmial.con", "alice@gmail.com"),
    ("bob@hotmial.com", "bob@hotmail.com"),
    ("x@outlok.com", "x@outlook.com"),
    ("y@yaho.com", "y@yahoo.com"),
    ("z@icloud.co", "z@icloud.com"),
])
def test_a_misspelt_provider_is_a_problem_with_the_address_meant(text: str, meant: str) -> None:
    checked = check_address(text)
    assert checked.normalized == text.lower()  # well-formed: the config still loads
    assert checked.problem == f"\"{text}\" looks like a typo of {meant.split('@')[1]}"
    assert checked.fix == f"did you mean \"{meant}\"?"


def test_no_dot_in_the_domain() -> None:
    gmail = check_address("alice@gmail")
    assert gmail.problem == "\"alice@gmail\" has no dot in its domain (\"gmail\")"
    assert gmail.fix == "did you mean \"alice@gmail.com\"?"
    assert check_address("alice@gmial").fix == "did you mean \"alice@gmail.com\"?"
    other = check_address("alice@x")
    assert not other.ok and other.fix == "write the whole domain, e.g. \"alice@x.com\""


@pytest.mark.parametrize(("text", "reason", "meant"), [
    ("alice @gmail.com", "it contains a space", "alice@gmail.com"),
    ("a..b@example.com", "it has two dots in a row", "a.b@example.com"),
    ("alice@gmail..com", "it has two dots in a row", "alice@gmail.com"),
    ("alice@gmail,com", "", "alice@gmail.com"),
    ("alice@gmial..com", "it has two dots in a row", "alice@gmail.com"),  # both mended
    ("bob at example", "it contains a space", None),
    ("alice.example.com", "it has no @", None),
])
def test_not_an_address_says_why_and_what_was_meant(text: str, reason: str, meant: str | None) -> None:
    checked = check_address(text)
    assert checked.normalized is None and checked.problem is not None
    assert checked.problem.startswith(f"\"{text}\" is not an email address (")
    assert reason in checked.problem
    if meant:
        assert checked.fix == f"did you mean \"{meant}\"?"
    else:
        assert checked.fix == "write a bare address like \"alice@example.com\""


@pytest.mark.parametrize("text", ["Alice Example <alice@example.com>",
                                  "\"Example, Alice\" <alice@example.com>",
                                  "mailto:alice@example.com"])
def test_a_pasted_name_or_mailto_asks_for_the_bare_address(text: str) -> None:
    checked = check_address(text)
    assert checked.normalized is None
    assert checked.fix == "write only the address: \"alice@example.com\""


def test_an_international_domain_is_sent_as_punycode() -> None:
    checked = check_address("User@Bücher.example")
    assert checked.ok and checked.normalized == "user@xn--bcher-kva.example"
    assert checked.note == "bücher.example is written xn--bcher-kva.example in mail headers (its IDNA form)"


def test_a_non_ascii_local_part_needs_smtputf8() -> None:
    checked = check_address("Jürgen@example.de")
    assert checked.ok and checked.normalized == "jürgen@example.de"
    assert checked.note is not None and "needs SMTPUTF8" in checked.note
    assert "the SMTP server must support" in checked.note


def test_reserved_domains_that_receive_no_mail() -> None:
    local = check_address("circle@localhost")
    assert local.normalized is None and local.fix is not None and "real domain" in local.fix
    assert is_example_address("alice@example.com") and is_example_address("c@circle.example.org")
    assert is_example_address("alice@cohort.test") and is_example_address("smtp.example.org")
    assert not is_example_address("alice@example.de") and not is_example_address("a@gmail.com")
