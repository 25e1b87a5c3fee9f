"""`circleback preview`: every kind of message, an unknown participant, and a test copy
mailed through the real SMTP server that reaches only its address and acts for no one."""

from __future__ import annotations

import asyncio
import email
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from cohort_kit import PASSWORD, People, cohort_config, inbox, new_people, send, thunderbird_reply

from service.cli import main
from service.dev.devmail import DevMailServer
from service.flows.preview import KINDS

pytestmark = pytest.mark.integration


@pytest.fixture
def cohort(mailserver: DevMailServer, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Path, People]:
    people = new_people(mailserver, monkeypatch)
    config = cohort_config(tmp_path, mailserver, None, people.cohort,
                           [people.alice, people.bob], datetime.now(UTC))
    return config.path, people


def read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=default_policy)


def test_every_kind_renders(cohort: tuple[Path, People], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    config, people = cohort
    assert main(["run", str(config), "--once"]) == 0
    subjects = {}
    for kind in KINDS:
        out = tmp_path / f"{kind}.eml"
        assert main(["preview", kind, str(config), "--participant", people.bob,
                     "--out", str(out)]) == 0, capsys.readouterr().err
        message = read(out)
        subjects[kind] = str(message["Subject"])
        to = people.facilitator if kind == "facilitator-digest" else people.bob
        assert to.split("@")[0].split("-")[0] in str(message["To"]), kind
        assert out.with_suffix(".html").read_text().lstrip().lower().startswith("<!doctype")
    assert subjects["invite"].startswith("Invitation:")
    assert subjects["reminder"].startswith("Reminder:")
    assert subjects["cancel"].startswith("Cancelled:") and "check-in 1 " in subjects["cancel"]
    assert "check-ins from" in subjects["cancel-series"]
    ics = [p for p in read(tmp_path / "cancel.eml").walk()
           if p.get_content_type() == "text/calendar"]
    assert ics and "METHOD:CANCEL" in ics[0].get_content() and "RECURRENCE-ID" in ics[0].get_content()
    ack = read(tmp_path / "ack.eml").get_body(("plain",))
    assert "no reminders for check-in 1" in ack.get_content()  # type: ignore[union-attr]
    # The same subject, but for the dates: each copy names the period in its reader's zone
    # (Bob is in Berlin, the facilitator in UTC: near midnight they are different days).
    assert subjects["digest"].split(" (")[0] == subjects["facilitator-digest"].split(" (")[0]
    facilitator = read(tmp_path / "facilitator-digest.eml").get_body(("plain",))
    participant = read(tmp_path / "digest.eml").get_body(("plain",))
    assert "your copy as the facilitator" in facilitator.get_content()  # type: ignore[union-attr]
    assert "facilitator" not in participant.get_content()  # type: ignore[union-attr]
    # --config CONFIG is still accepted, and a check-in can be chosen
    assert main(["preview", "prompt", "--config", str(config), "--checkin", "2",
                 "--out", str(tmp_path / "p2.eml")]) == 0
    assert "check-in 2" in str(read(tmp_path / "p2.eml")["Subject"])


def test_before_the_first_run_it_renders_from_the_config(
        cohort: tuple[Path, People], tmp_path: Path) -> None:
    config, people = cohort
    assert main(["preview", "invite", str(config), "--out", str(tmp_path / "i.eml")]) == 0
    assert people.alice.split("@")[0] in str(read(tmp_path / "i.eml")["To"])
    assert not (tmp_path / "cb.sqlite3").exists()


def test_unknown_participant_or_checkin_is_a_clear_error(
        cohort: tuple[Path, People], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, people = cohort
    assert main(["run", str(config), "--once"]) == 0
    capsys.readouterr()
    assert main(["preview", "prompt", str(config), "--participant", "nobody@example.test"]) == 1
    err = capsys.readouterr().err
    assert "nobody@example.test is not a participant" in err
    assert people.alice in err and people.bob in err and "circleback status" in err
    assert "Traceback" not in err
    # added to the config since the last run: said so, with what to do
    config.write_text(config.read_text().replace(
        "[smtp]", '[[participants]]\nname = "Carol"\nemail = "carol-x@example.test"\n\n[smtp]', 1))
    assert main(["preview", "prompt", str(config), "--participant", "carol-x@example.test"]) == 1
    assert "not in the database yet" in capsys.readouterr().err
    assert main(["preview", "cancel", str(config), "--checkin", "9"]) == 1
    assert "there is no check-in 9; the check-ins are 1, 2, 3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse names the kinds
        main(["preview", "postcard", str(config)])
    assert usage.value.code == 2 and "facilitator-digest" in capsys.readouterr().err


def test_send_test_reaches_only_its_address_and_acts_for_no_one(
        cohort: tuple[Path, People], mailserver: DevMailServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    config, people = cohort
    assert main(["run", str(config), "--once"]) == 0
    me = f"tester-{people.tag}@example.test"
    mailserver.add_user(me, PASSWORD)
    alice_before = len(asyncio.run(inbox(mailserver, people.alice)))
    capsys.readouterr()
    assert main(["status", str(config), "--json"]) == 0
    outbox_before = json.loads(capsys.readouterr().out)["outbox"]

    assert main(["preview", "prompt", str(config), "--participant", people.alice,
                 "--send-test", me]) == 0
    assert f"Sent a test copy to {me}" in capsys.readouterr().out
    [copy] = asyncio.run(inbox(mailserver, me))
    assert str(copy["Subject"]).startswith("[TEST COPY")
    assert str(copy["To"]) == me and copy["Cc"] is None
    assert len(asyncio.run(inbox(mailserver, people.alice))) == alice_before
    assert main(["status", str(config), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["outbox"] == outbox_before  # never recorded as sent to anyone

    # A reply to the test copy, even as Alice herself would write it, shares nothing:
    # its reply token was made with a throwaway key.
    reply = thunderbird_reply(me, copy, "This reply to a test copy must not be shared.")
    asyncio.run(send(mailserver, reply, str(copy["Reply-To"])))
    forged = thunderbird_reply(me, copy, "Nor this one.")
    del forged["From"]
    forged["From"] = people.alice
    asyncio.run(send(mailserver, forged, str(copy["Reply-To"])))
    assert main(["run", str(config), "--once"]) == 0
    assert "read 2 message(s)" in capsys.readouterr().out
    assert main(["status", str(config), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [p["stories"] for p in status["participants"]] == [0, 0]

    # never to a participant
    assert main(["preview", "digest", str(config), "--send-test", people.bob.upper()]) == 2
    assert "never to a participant" in capsys.readouterr().err
