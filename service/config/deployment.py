"""A deployment: the cohorts one daemon serves, from one cohort file or from a folder.

A single TOML file is a deployment of one cohort (``load_config``, unchanged). A folder is::

    DIR/circleback.toml     [database], [smtp], [imap], [http], [daemon] and [mail] defaults
    DIR/cohorts/*.toml      one cohort each: [cohort], [facilitator], [mail], [checkins],
                            [digest], [[prompts]], [[participants]]; optionally [smtp] and
                            [imap] keys that override the deployment's for this cohort

Each cohort file is merged with circleback.toml (the cohort's keys win, key by key, in
[mail], [smtp] and [imap]) and the merged tree is validated by ``parse_config`` like a
single file, with a map of key path -> file so that every problem names the file the
offending key was written in. Problems from circleback.toml are reported once, not once per
cohort; every problem of every file is raised together in one ConfigError.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.config.model import Config, ConfigError, Problem
from service.config.parse import parse_config

DEPLOYMENT_FILE = "circleback.toml"
COHORTS_DIR = "cohorts"

# Sections of DIR/circleback.toml.
DEPLOYMENT_SECTIONS = ("database", "smtp", "imap", "http", "daemon", "mail")
# Sections only circleback.toml may have: one value for the whole deployment.
DEPLOYMENT_ONLY = ("database", "http", "daemon")
# Sections a cohort file may give to override the deployment's keys one by one.
MERGED_SECTIONS = ("mail", "smtp", "imap")
# Sections only a cohort file may have.
COHORT_SECTIONS = ("cohort", "facilitator", "mail", "checkins", "digest", "prompts", "participants",
                   "polls")


@dataclass(frozen=True)
class Deployment:
    """The cohorts of one file or folder, and what they share."""

    path: Path  # the cohort file, or the deployment folder
    cohorts: tuple[Config, ...]  # sorted by cohort id
    database_url: str
    http_listen: str | None
    lease_seconds: float  # [daemon] lease, 5 s .. 10 min, default 30 s
    is_folder: bool

    @classmethod
    def of(cls, config: Config) -> Deployment:
        """A single cohort's config as a deployment of one."""
        return cls(path=config.path, cohorts=(config,), database_url=config.database_url,
                   http_listen=config.http_listen, lease_seconds=config.lease_seconds,
                   is_folder=False)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.cohort.id for c in self.cohorts)

    def cohort(self, cohort_id: str | None) -> Config:
        """The cohort ``--cohort ID`` names; with None, the only one. ConfigError otherwise."""
        known = ", ".join(self.ids)
        if cohort_id is None:
            if len(self.cohorts) == 1:
                return self.cohorts[0]
            raise ConfigError([Problem(
                str(self.path), "--cohort", f"this deployment has {len(self.cohorts)} cohorts",
                f"pass --cohort ID to pick one of: {known}")])
        for config in self.cohorts:
            if config.cohort.id == cohort_id:
                return config
        close = difflib.get_close_matches(cohort_id, self.ids, n=1)
        hint = f"did you mean --cohort {close[0]}? " if close else ""
        raise ConfigError([Problem(
            str(self.path), "--cohort", f"\"{cohort_id}\" is not a cohort of this deployment",
            f"{hint}the cohorts here are: {known}")])


def load_deployment(path: str | os.PathLike[str], *, require_secrets: bool = False) -> Deployment:
    """Read and validate a cohort file or a deployment folder; raise ConfigError listing
    every problem of every file. ``require_secrets`` as for ``load_config``."""
    p = Path(path)
    if not p.is_dir():
        return Deployment.of(load_config(p, require_secrets=require_secrets))
    return _load_folder(p, require_secrets)


def load_config(path: str | os.PathLike[str], *, require_secrets: bool = False) -> Config:
    """Read and validate one cohort file; raise ConfigError listing every problem.

    With ``require_secrets`` the environment variables named by ``password_env``
    must be set (the daemon needs them; ``status`` or ``preview`` do not).
    """
    p = Path(path)
    problems: list[Problem] = []
    data = _read_toml(p, problems, Problem(
        str(p), "-", "the file does not exist",
        "check the path, or create one with `circleback init PATH`"))
    if data is None:
        raise ConfigError(problems)
    return parse_config(data, p, require_secrets=require_secrets)


def _read_toml(path: Path, problems: list[Problem], missing: Problem) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(missing)
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), "-", f"cannot be read ({exc})", "check the file"))
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(str(path), "-", f"is not valid TOML: {exc}",
                                "fix the syntax at that line (strings need quotes, "
                                "tables look like [smtp])"))
        return None


def _check_deployment_file(data: Mapping[str, Any], file: str, folder: Path) -> tuple[
        dict[str, Any], list[Problem]]:
    """The sections of circleback.toml that can be merged, and what is wrong with it."""
    problems: list[Problem] = []
    shared: dict[str, Any] = {}
    cohort_file = folder / COHORTS_DIR / "ID.toml"
    for key, value in data.items():
        if key in COHORT_SECTIONS and key not in DEPLOYMENT_SECTIONS:
            problems.append(Problem(
                file, key, "belongs to one cohort, not to the deployment",
                f"move it to that cohort's file, {cohort_file} (circleback.toml has only "
                f"{', '.join(f'[{s}]' for s in DEPLOYMENT_SECTIONS)})"))
        elif key not in DEPLOYMENT_SECTIONS:
            close = difflib.get_close_matches(key, DEPLOYMENT_SECTIONS, n=1, cutoff=0.6)
            problems.append(Problem(
                file, key, "is not a known key",
                f"did you mean `{close[0]}`?" if close
                else f"known keys: {', '.join(DEPLOYMENT_SECTIONS)}"))
        elif not isinstance(value, dict):
            problems.append(Problem(file, key, "should be a table",
                                    f"write it as [{key}] with keys below it"))
        else:
            shared[key] = value
    return shared, problems


def _merge(
    shared: Mapping[str, Any], own: Mapping[str, Any], shared_file: str, cohort_file: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The cohort's tree with the deployment's sections merged in, and key path -> file.

    [database], [http], [daemon] are the deployment's alone; in [mail], [smtp] and [imap]
    the cohort's keys win one by one. A missing [smtp]/[imap] key is the deployment's to
    add, a missing [mail] key the cohort's."""
    tree: dict[str, Any] = dict(own)
    origins: dict[str, str] = {"smtp": shared_file, "imap": shared_file}
    for section in (*DEPLOYMENT_ONLY, *MERGED_SECTIONS):
        values: Mapping[str, Any] = shared.get(section, {})
        mine = own.get(section)
        if section in DEPLOYMENT_ONLY:
            if section in shared:
                tree[section] = values
                origins[section] = shared_file
            continue
        if mine is not None and not isinstance(mine, dict):
            origins[section] = cohort_file  # parse_config: "should be a table"
            continue
        if section not in shared:
            continue
        tree[section] = {**values, **(mine or {})}
        for key in values:
            origins[f"{section}.{key}"] = shared_file
        for key in mine or {}:
            origins[f"{section}.{key}"] = cohort_file
    return tree, origins


def _load_folder(folder: Path, require_secrets: bool) -> Deployment:
    problems: list[Problem] = []
    shared_path = folder / DEPLOYMENT_FILE
    shared_file = str(shared_path)
    data = _read_toml(shared_path, problems, Problem(
        shared_file, "-", "the file does not exist",
        "create it with what every cohort of the deployment shares: [database] url, [smtp] and "
        "[imap] (the servers), and optionally [http] listen, [daemon] lease and [mail] defaults "
        "(see config/deployment/circleback.toml)"))
    shared_ok = data is not None
    shared: dict[str, Any] = {}
    if data is not None:
        shared, found = _check_deployment_file(data, shared_file, folder)
        problems.extend(found)

    cohorts_dir = folder / COHORTS_DIR
    files: list[Path] = []
    if not cohorts_dir.is_dir():
        problems.append(Problem(
            str(cohorts_dir), "-", "the folder does not exist",
            f"create {cohorts_dir}/ with one TOML file per cohort ([cohort], [facilitator], "
            "[mail], [checkins], [digest], [[participants]]; see config/deployment/cohorts/)"))
    else:
        files = sorted(f for f in cohorts_dir.glob("*.toml") if f.is_file() and not f.name.startswith("."))
        if not files:
            problems.append(Problem(
                str(cohorts_dir), "-", "has no cohort files (*.toml)",
                "add one file per cohort, e.g. cohorts/orlando-2026.toml with [cohort], "
                "[facilitator], [mail], [checkins], [digest] and [[participants]]"))

    configs: list[Config] = []
    first_with_id: dict[str, Path] = {}
    for file in files:
        cohort_file = str(file)
        own = _read_toml(file, problems, Problem(cohort_file, "-", "the file does not exist",
                                                 "check the folder"))
        if own is None:
            continue
        own = dict(own)
        for key in DEPLOYMENT_ONLY:
            if key in own:
                del own[key]
                problems.append(Problem(
                    cohort_file, key, "is a deployment-only key: it is the same for every cohort",
                    f"move it to {shared_file}"))
        raw = own.get("cohort")
        cohort_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(cohort_id, str):
            if cohort_id in first_with_id:
                problems.append(Problem(
                    cohort_file, "cohort.id",
                    f"\"{cohort_id}\" is also the id of {first_with_id[cohort_id]}",
                    "give each cohort file its own [cohort] id"))
            else:
                first_with_id[cohort_id] = file
        tree, origins = _merge(shared, own, shared_file, cohort_file)
        try:
            config = parse_config(tree, file, require_secrets=require_secrets, origins=origins,
                                  base_dir=folder)
        except ConfigError as exc:
            # Without a readable circleback.toml its keys are all missing: that is one problem.
            problems.extend(p for p in exc.problems if shared_ok or p.file != shared_file)
            continue
        configs.append(dataclasses.replace(config, deployment_path=folder))

    if problems:
        # Each problem once, grouped by file: circleback.toml, cohorts/, then each cohort file.
        order = {f: n for n, f in enumerate([shared_file, str(cohorts_dir), *map(str, files)])}
        unique = list(dict.fromkeys(problems))
        raise ConfigError(sorted(unique, key=lambda p: order.get(p.file, len(order))))
    configs.sort(key=lambda c: c.cohort.id)
    first = configs[0]
    return Deployment(path=folder, cohorts=tuple(configs), database_url=first.database_url,
                      http_listen=first.http_listen, lease_seconds=first.lease_seconds,
                      is_folder=True)
