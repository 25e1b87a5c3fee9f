"""Deployments: one cohort file, or a folder of cohorts sharing servers (service.config.deployment)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from service.config import ConfigError, Deployment, Problem, load_config, load_deployment

REPO = Path(__file__).resolve().parents[2]

SHARED = """
[database]
url = "sqlite://data/circleback.sqlite3"

[http]
listen = "127.0.0.1:8025"

[mail]
address = "circle@example.org"

[smtp]
host = "smtp.example.org"
port = 587
username = "circle@example.org"
password_env = "CB_TEST_DEPLOY_SMTP_PW"

[imap]
host = "imap.example.org"
username = "circle@example.org"
password_env = "CB_TEST_DEPLOY_IMAP_PW"
"""


def cohort_toml(cohort_id: str, *, extra: str = "", mail: str = "") -> str:
    return textwrap.dedent(f"""
    [cohort]
    id = "{cohort_id}"
    name = "Cohort {cohort_id}"
    timezone = "America/New_York"

    [facilitator]
    name = "Helen"
    email = "helen@example.org"

    [mail]
    {mail}

    [checkins]
    first = 2026-12-01T12:00:00
    every = "1w"
    count = 4
    duration = "45m"
    location = "https://meet.example.org/{cohort_id}"

    [[participants]]
    name = "Alice"
    email = "alice@example.com"

    [[participants]]
    name = "Bob {cohort_id}"
    email = "bob-{cohort_id}@example.com"
    """) + textwrap.dedent(extra)


def make(tmp_path: Path, shared: str | None = SHARED, **cohorts: str) -> Path:
    """A deployment folder: circleback.toml (unless None) and cohorts/NAME.toml for each."""
    folder = tmp_path / "deploy"
    (folder / "cohorts").mkdir(parents=True)
    if shared is not None:
        (folder / "circleback.toml").write_text(textwrap.dedent(shared), encoding="utf-8")
    for name, text in cohorts.items():
        (folder / "cohorts" / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


def problems_of(path: Path, **kw: bool) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_deployment(path, **kw)
    return info.value.problems


def keyed(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(Path(p.file).name, p.key) for p in problems]


SINGLE = cohort_toml("solo", mail='address = "circle@example.org"') + textwrap.dedent(SHARED).replace(
    "[mail]\naddress = \"circle@example.org\"\n", "")


def test_a_single_file_is_a_deployment_of_one(tmp_path: Path) -> None:
    path = tmp_path / "cohort.toml"
    path.write_text(SINGLE, encoding="utf-8")
    deployment = load_deployment(path)
    assert isinstance(deployment, Deployment)
    assert not deployment.is_folder and deployment.path == path
    assert deployment.cohorts == (load_config(path),)
    assert deployment.ids == ("solo",)
    assert deployment.cohort(None) is deployment.cohorts[0]
    assert deployment.cohort("solo") is deployment.cohorts[0]
    assert deployment.database_url == deployment.cohorts[0].database_url
    assert deployment.http_listen == "127.0.0.1:8025"
    assert deployment.lease_seconds == 30.0
    assert deployment.cohorts[0].deployment_path is None


def test_a_single_file_with_problems_raises_as_load_config_does(tmp_path: Path) -> None:
    path = tmp_path / "cohort.toml"
    path.write_text(SINGLE.replace("port = 587", "port = 0"), encoding="utf-8")
    assert keyed(problems_of(path)) == [("cohort.toml", "smtp.port")]
    assert keyed(problems_of(tmp_path / "nope.toml")) == [("nope.toml", "-")]


def test_a_folder_of_three_cohorts_shares_the_servers(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLEBACK_DATA_DIR", raising=False)
    # File names sort differently from the ids: cohorts come sorted by id.
    folder = make(tmp_path, a=cohort_toml("zeta"), b=cohort_toml("alpha"), c=cohort_toml("mid"))
    deployment = load_deployment(folder)
    assert deployment.is_folder and deployment.path == folder
    assert deployment.ids == ("alpha", "mid", "zeta")
    assert [c.path.name for c in deployment.cohorts] == ["b.toml", "c.toml", "a.toml"]
    # the relative SQLite path is relative to the folder, not to cohorts/
    url = f"sqlite://{(folder / 'data' / 'circleback.sqlite3').resolve()}"
    assert deployment.database_url == url
    assert deployment.http_listen == "127.0.0.1:8025"
    for config in deployment.cohorts:
        assert config.deployment_path == folder
        assert config.database_url == url and config.http_listen == "127.0.0.1:8025"
        assert config.smtp == deployment.cohorts[0].smtp
        assert config.smtp.host == "smtp.example.org" and config.smtp.port == 587
        assert config.imap.host == "imap.example.org" and config.imap.mailbox == "INBOX"
        # one reply mailbox serves every cohort; Alice is in all three
        assert config.mail.address == "circle@example.org"
        assert config.participants[0].email == "alice@example.com"
    with pytest.raises(ConfigError) as info:
        deployment.cohort(None)
    [problem] = info.value.problems
    assert (problem.file, problem.key) == (str(folder), "--cohort")
    assert "alpha, mid, zeta" in problem.fix and "--cohort ID" in problem.fix
    assert deployment.cohort("mid").cohort.id == "mid"


def test_a_folder_of_one_needs_no_cohort_option(tmp_path: Path) -> None:
    deployment = load_deployment(make(tmp_path, only=cohort_toml("only")))
    assert deployment.cohort(None).cohort.id == "only"


def test_an_unknown_cohort_id_names_the_known_ones(tmp_path: Path) -> None:
    folder = make(tmp_path, a=cohort_toml("alpha"), b=cohort_toml("beta"))
    with pytest.raises(ConfigError) as info:
        load_deployment(folder).cohort("x")
    [problem] = info.value.problems
    assert (problem.file, problem.key) == (str(folder), "--cohort")
    assert '"x"' in problem.message and "alpha, beta" in problem.fix

    path = tmp_path / "cohort.toml"
    path.write_text(SINGLE, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_deployment(path).cohort("alpah")
    [problem] = info.value.problems
    assert (problem.file, problem.key) == (str(path), "--cohort")
    assert "solo" in problem.fix


def test_a_cohort_overrides_the_imap_mailbox(tmp_path: Path) -> None:
    own = cohort_toml("berlin", extra='[imap]\nmailbox = "Cohorts/Berlin"\npoll_interval = 30\n')
    deployment = load_deployment(make(tmp_path, a=cohort_toml("alpha"), b=own))
    alpha, berlin = deployment.cohorts
    assert alpha.imap.mailbox == "INBOX" and berlin.imap.mailbox == "Cohorts/Berlin"
    assert berlin.imap.poll_interval == 30.0
    # the other keys still come from circleback.toml
    assert berlin.imap.host == alpha.imap.host == "imap.example.org"
    assert berlin.imap.password_env == "CB_TEST_DEPLOY_IMAP_PW"


def test_a_cohort_smtp_override_with_a_bad_value_names_the_cohort_file(tmp_path: Path) -> None:
    own = cohort_toml("own", extra="[smtp]\nport = 0\n")
    found = problems_of(make(tmp_path, a=cohort_toml("alpha"), b=own))
    assert keyed(found) == [("b.toml", "smtp.port")]


def test_mail_defaults_and_overrides(tmp_path: Path) -> None:
    shared = SHARED.replace('[mail]\naddress = "circle@example.org"\n', textwrap.dedent("""
        [mail]
        address = "circle@example.org"
        base_url = "https://circle.example.org/"
        max_attachment_size = "2MB"
        """))
    own = cohort_toml("own", mail='address = "berlin@example.org"\ndisplay_name = "Berlin"\n'
                                  'max_attachment_size = "5MB"')
    deployment = load_deployment(make(tmp_path, shared, a=cohort_toml("alpha"), b=own))
    alpha, berlin = deployment.cohorts
    assert alpha.mail.address == "circle@example.org"
    assert alpha.mail.display_name == "Cohort alpha"  # default: the cohort's name
    assert alpha.mail.base_url == berlin.mail.base_url == "https://circle.example.org"
    assert alpha.mail.max_attachment_bytes == 2 * 1024**2
    assert berlin.mail.address == "berlin@example.org" and berlin.mail.display_name == "Berlin"
    assert berlin.mail.max_attachment_bytes == 5 * 1024**2


def test_a_bad_mail_default_is_named_once_in_circleback_toml(tmp_path: Path) -> None:
    shared = SHARED.replace('address = "circle@example.org"', 'address = "circle+x@example.org"')
    found = problems_of(make(tmp_path, shared, a=cohort_toml("alpha"), b=cohort_toml("beta")))
    assert keyed(found) == [("circleback.toml", "mail.address")]
    # ... but a cohort that overrides it is fine, and its own bad address is its own
    own = cohort_toml("beta", mail='address = "not an address"')
    found = problems_of(make(tmp_path / "2", a=cohort_toml("alpha", mail='address = "a@example.org"'), b=own))
    assert keyed(found) == [("b.toml", "mail.address")]


def test_a_missing_mail_address_is_the_cohorts_to_fix(tmp_path: Path) -> None:
    shared = SHARED.replace('[mail]\naddress = "circle@example.org"\n', "")
    found = problems_of(make(tmp_path, shared, a=cohort_toml("alpha")))
    assert keyed(found) == [("a.toml", "mail.address")]


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    folder = make(tmp_path, a=cohort_toml("same"), b=cohort_toml("other"), c=cohort_toml("same"))
    [problem] = problems_of(folder)
    assert (problem.file, problem.key) == (str(folder / "cohorts" / "c.toml"), "cohort.id")
    assert str(folder / "cohorts" / "a.toml") in problem.message


@pytest.mark.parametrize("section", ["database", "http", "daemon"])
def test_a_deployment_only_key_in_a_cohort_file(tmp_path: Path, section: str) -> None:
    value = {"database": 'url = "sqlite://x.sqlite3"', "http": 'listen = "0.0.0.0:80"',
             "daemon": 'lease = "1m"'}[section]
    folder = make(tmp_path, a=cohort_toml("alpha", extra=f"[{section}]\n{value}\n"))
    [problem] = problems_of(folder)
    assert (problem.file, problem.key) == (str(folder / "cohorts" / "a.toml"), section)
    assert problem.fix == f"move it to {folder / 'circleback.toml'}"


def test_a_cohort_section_in_circleback_toml(tmp_path: Path) -> None:
    shared = SHARED + '\n[cohort]\nid = "x"\n\n[[participants]]\nname = "C"\nemail = "c@example.com"\n'
    shared += '\n[smpt]\nhost = "x"\n'
    folder = make(tmp_path, shared, a=cohort_toml("alpha"), b=cohort_toml("beta"))
    found = problems_of(folder)
    assert keyed(found) == [("circleback.toml", "cohort"), ("circleback.toml", "participants"),
                            ("circleback.toml", "smpt")]
    assert all(p.file == str(folder / "circleback.toml") for p in found)
    assert "cohorts" in found[0].fix
    assert "did you mean `smtp`" in found[2].fix


def test_a_bad_key_in_circleback_toml_is_named_once(tmp_path: Path) -> None:
    shared = SHARED.replace("port = 587", "port = 70000\nprot = 25")
    folder = make(tmp_path, shared, a=cohort_toml("alpha"), b=cohort_toml("beta"), c=cohort_toml("gamma"))
    found = problems_of(folder)
    assert sorted(keyed(found)) == [("circleback.toml", "smtp.port"), ("circleback.toml", "smtp.prot")]
    assert all(p.file == str(folder / "circleback.toml") for p in found)


def test_missing_servers_are_the_deployments_to_add(tmp_path: Path) -> None:
    shared = SHARED.split("[smtp]")[0] + '[imap]\nhost = "imap.example.org"\n'
    found = problems_of(make(tmp_path, shared, a=cohort_toml("alpha"), b=cohort_toml("beta")))
    assert keyed(found) == [("circleback.toml", "smtp"), ("circleback.toml", "smtp.host"),
                            ("circleback.toml", "imap.username")]


def test_unset_password_variables_are_named_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CB_TEST_DEPLOY_SMTP_PW", raising=False)
    monkeypatch.setenv("CB_TEST_DEPLOY_IMAP_PW", "x")
    folder = make(tmp_path, a=cohort_toml("alpha"), b=cohort_toml("beta"))
    load_deployment(folder)  # secrets are not needed to read it
    found = problems_of(folder, require_secrets=True)
    assert keyed(found) == [("circleback.toml", "smtp.password_env")]


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    shared = SHARED.replace('listen = "127.0.0.1:8025"', 'listen = "nowhere"')
    broken = "[cohort\nid = 1"
    bad_tz = cohort_toml("beta").replace('"America/New_York"', '"Mars/Olympus"')
    folder = make(tmp_path, shared, a=cohort_toml("alpha"), b=bad_tz, c=broken)
    # grouped by file: circleback.toml first, then the cohort files in order
    assert keyed(problems_of(folder)) == [
        ("circleback.toml", "http.listen"), ("b.toml", "cohort.timezone"), ("c.toml", "-")]


def test_folder_without_circleback_toml(tmp_path: Path) -> None:
    folder = make(tmp_path, None, a=cohort_toml("alpha", extra="[cohrt]\n"))
    found = problems_of(folder)
    # the missing file once (not once per smtp/imap key it would have had), and the
    # cohort file's own problems beside it (with no [mail] default, its address is missing)
    assert keyed(found) == [("circleback.toml", "-"), ("a.toml", "cohrt"), ("a.toml", "mail.address")]
    assert found[0].file == str(folder / "circleback.toml")
    assert "[database]" in found[0].fix and "[smtp]" in found[0].fix


def test_folder_without_cohorts(tmp_path: Path) -> None:
    folder = make(tmp_path)
    [problem] = problems_of(folder)
    assert (problem.file, problem.key) == (str(folder / "cohorts"), "-")
    assert "no cohort files" in problem.message
    (folder / "cohorts").rmdir()
    [problem] = problems_of(folder)
    assert (problem.file, problem.key) == (str(folder / "cohorts"), "-")
    assert "does not exist" in problem.message


def test_daemon_lease(tmp_path: Path) -> None:
    folder = make(tmp_path, a=cohort_toml("alpha"))
    assert load_deployment(folder).lease_seconds == 30.0
    (folder / "circleback.toml").write_text(SHARED + '\n[daemon]\nlease = "2m"\n', encoding="utf-8")
    deployment = load_deployment(folder)
    assert deployment.lease_seconds == 120.0 and deployment.cohorts[0].lease_seconds == 120.0
    for bad in ('"1s"', '"11m"', '"soon"', "30"):
        (folder / "circleback.toml").write_text(SHARED + f"\n[daemon]\nlease = {bad}\n", encoding="utf-8")
        assert keyed(problems_of(folder)) == [("circleback.toml", "daemon.lease")], bad
    (folder / "circleback.toml").write_text(SHARED + '\n[daemon]\nlaese = "1m"\n', encoding="utf-8")
    assert keyed(problems_of(folder)) == [("circleback.toml", "daemon.laese")]


def test_daemon_lease_in_a_single_file(tmp_path: Path) -> None:
    path = tmp_path / "cohort.toml"
    path.write_text(SINGLE + '\n[daemon]\nlease = "5s"\n', encoding="utf-8")
    assert load_deployment(path).lease_seconds == 5.0
    assert load_config(path).lease_seconds == 5.0
    path.write_text(SINGLE + '\n[daemon]\nlease = "4s"\n', encoding="utf-8")
    assert keyed(problems_of(path)) == [("cohort.toml", "daemon.lease")]


def test_the_shipped_deployment_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIRCLEBACK_SMTP_PASSWORD", raising=False)
    deployment = load_deployment(REPO / "config" / "deployment")
    assert deployment.is_folder and deployment.ids == ("example-a", "example-b")
    assert deployment.database_url.startswith("postgres://")
    a, b = deployment.cohorts
    assert a.mail.address == b.mail.address  # one reply mailbox for both
    assert a.imap.mailbox == "INBOX" and b.imap.mailbox != "INBOX"
    assert a.imap.host == b.imap.host and a.smtp == b.smtp


def test_fixture_deployment_loads() -> None:
    deployment = load_deployment(REPO / "tests" / "fixtures" / "deployments" / "two-cohorts")
    assert deployment.ids == ("north", "south")
    assert deployment.cohort("south").smtp.username == "south@example.org"
    assert deployment.cohort("north").smtp.username == "circle@example.org"
