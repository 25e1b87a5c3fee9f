"""Email addresses as people type and paste them: one function, ``check_address``, that says
whether a text is an address circleback can mail, in the form SMTP needs, and what to
write instead when it is not.

The syntax is email-validator's (RFC 5321/5322 as mail servers accept it, IDNA 2008 for
international domains), without DNS lookups, so that `check` works offline and the same
text always gives the same answer. On top of it: the mistakes a facilitator makes in a
config or a spreadsheet (a name pasted around the address, a space, two dots, a domain
without its ".com", a misspelt big provider), each with the address they most likely meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

__all__ = ["AddressCheck", "check_address", "is_example_address"]


@dataclass(frozen=True)
class AddressCheck:
    """What ``check_address`` found.

    ``normalized``: the address as circleback stores and mails it (lower case, the domain in
    its ASCII/IDNA form); None when the text is not an address at all. ``problem`` and
    ``fix``: what is wrong and what to write instead (a clause each, for a ``Problem``).
    A problem with ``normalized`` set is a well-formed address that is almost surely
    mistyped (no dot in the domain, a provider misspelt): the config still loads, so that
    a running cohort is never stopped by it, but `check` and the CSV import refuse it.
    ``note``: something worth saying about a good address (it needs SMTPUTF8).
    """

    normalized: str | None
    problem: str | None = None
    fix: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing wrong: mail it."""
        return self.problem is None


# The domains most addresses are at; a domain one slip away from one of these is a typo.
# Only names of five letters or more are matched loosely ("me.com", "gmx.de" are one letter
# from too many real domains); KNOWN_REAL are real domains that look like slips.
PROVIDERS = (
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "hotmail.co.uk",
    "outlook.com", "icloud.com", "protonmail.com", "fastmail.com", "comcast.net",
    "verizon.net", "yandex.ru", "orange.fr", "laposte.net", "libero.it", "btinternet.com",
)
KNOWN_REAL = frozenset({
    "ymail.com", "email.com", "mail.com", "gmx.com", "gmx.net", "gmx.de", "web.de",
    "cloud.com", "hotmail.de", "hotmail.fr", "hotmail.it", "hotmail.es", "outlook.de",
    "outlook.fr", "outlook.es", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it", "yahoo.ca",
    "live.com", "msn.com", "me.com", "mac.com", "aol.com", "proton.me", "pm.me", "qq.com",
    "163.com", "mail.ru", "free.fr", "att.net", "zoho.com", "naver.com", "t-online.de",
})
# RFC 2606/6761 names that never receive mail: the example configs' and the tests'.
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
RESERVED_TLDS = ("test", "example", "invalid", "localhost")


def check_address(text: str) -> AddressCheck:
    """Whether ``text`` is an address to mail, in the form to mail it (see AddressCheck).

    >>> check_address("Alice@Gmial.com").fix
    'did you mean "alice@gmail.com"?'
    """
    raw = text.strip()
    if raw.lower().startswith("mailto:") or ("<" in raw and raw.endswith(">")):
        bare = _repaired(raw)
        return AddressCheck(None, f"\"{text}\" has a name or a mailto: around the address",
                            f"write only the address: \"{bare}\"" if bare
                            else "write only the address, like \"alice@example.com\"")
    try:
        valid = validate_email(raw, check_deliverability=False, globally_deliverable=False,
                               test_environment=True, allow_smtputf8=True,
                               allow_display_name=False, allow_quoted_local=False,
                               allow_domain_literal=False)
    except EmailNotValidError as exc:
        bare = _repaired(raw)
        if bare:
            fix = f"did you mean \"{bare}\"?"
        elif "special-use" in str(exc):
            fix = "use an address at a real domain (.localhost, .local and .invalid receive no mail)"
        else:
            fix = "write a bare address like \"alice@example.com\""
        return AddressCheck(None, f"\"{text}\" is not an email address ({_reason(raw, exc)})", fix)
    local = valid.local_part.lower()
    domain = valid.ascii_domain.lower()
    normalized = f"{local}@{domain}"
    if "." not in domain:
        guess = _provider_for(domain) or _typo_of(f"{domain}.com")
        return AddressCheck(normalized, f"\"{text}\" has no dot in its domain (\"{domain}\")",
                            f"did you mean \"{local}@{guess}\"?" if guess
                            else f"write the whole domain, e.g. \"{local}@{domain}.com\"")
    typo = _typo_of(domain)
    if typo:
        return AddressCheck(normalized, f"\"{text}\" looks like a typo of {typo}",
                            f"did you mean \"{local}@{typo}\"?")
    notes = []
    if valid.smtputf8:
        notes.append(f"{normalized} has non-ASCII letters before the @: mail to it needs "
                     "SMTPUTF8 (RFC 6531), which the SMTP server must support (if it does not, "
                     "mail to this address is refused)")
    if domain != valid.domain.lower():
        notes.append(f"{valid.domain} is written {domain} in mail headers (its IDNA form)")
    return AddressCheck(normalized, note="; ".join(notes) or None)


def is_example_address(address: str) -> bool:
    """An address at a reserved example or test domain, which no real person reads."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return (any(domain == d or domain.endswith("." + d) for d in EXAMPLE_DOMAINS)
            or domain.rpartition(".")[2] in RESERVED_TLDS)


def _reason(raw: str, exc: EmailNotValidError) -> str:
    if re.search(r"\s", raw):
        return "it contains a space"
    if ".." in raw:
        return "it has two dots in a row"
    if raw.count("@") != 1:
        return "it has no @" if "@" not in raw else "it has more than one @"
    return str(exc).rstrip(".")[:1].lower() + str(exc).rstrip(".")[1:]


def _repaired(raw: str) -> str | None:
    """The address a mangled text most likely was, if that is a good address."""
    text = raw.strip()
    text = re.sub(r"(?i)^mailto:", "", text)
    if "<" in text and text.endswith(">"):
        text = text[text.rindex("<") + 1:-1]
    text = re.sub(r"[\s\u200b\ufeff]+", "", text).replace(",", ".")
    text = re.sub(r"\.{2,}", ".", text).strip(".")
    text = text.replace(".@", "@").replace("@.", "@")
    if text == raw:
        return None
    again = check_address(text)
    if again.normalized is None:
        return None
    if again.ok:
        return again.normalized
    suggestion = re.search(r'"([^"]+)"\?$', again.fix or "")  # the typo's correction
    return suggestion.group(1) if suggestion else None


def _provider_for(label: str) -> str | None:
    """``gmail`` -> ``gmail.com``: the provider whose name this dotless domain is."""
    for domain in PROVIDERS:
        if domain.split(".", 1)[0] == label:
            return domain
    return None


def _typo_of(domain: str) -> str | None:
    """The big provider's domain that ``domain`` misspells (one slip in the name, one in the
    ending, at most), or None."""
    if domain in PROVIDERS or domain in KNOWN_REAL:
        return None
    name, _, ending = domain.partition(".")
    best: tuple[int, str] | None = None
    for provider in PROVIDERS:
        p_name, _, p_ending = provider.partition(".")
        if len(p_name) < 5:
            continue
        slips = (_distance(name, p_name), _distance(ending, p_ending))
        if max(slips) <= 1 and sum(slips) >= 1 and (best is None or sum(slips) < best[0]):
            best = (sum(slips), provider)
    return best[1] if best else None


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one slip (Damerau, restricted):
    "gmial" is one slip from "gmail"."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]
