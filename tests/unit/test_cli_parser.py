"""The `circleback` command behaves like one: every command has a description and an
example, every option its help, -v works before or after the command, and the exit codes
are documented in --help."""

from __future__ import annotations

import argparse

import pytest

from service.cli import build_parser


def commands(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((f"{path} {name}".strip(), child))
                found += commands(child, f"{path} {name}")
    return found


ALL = commands(build_parser())


def test_the_commands_of_the_contract_exist() -> None:
    names = {name for name, _ in ALL}
    assert {"init", "check", "run", "status", "inspect", "preview", "digest", "demo"} <= names


@pytest.mark.parametrize(("name", "parser"), ALL, ids=[name for name, _ in ALL])
def test_every_command_has_a_description_an_example_and_option_help(
        name: str, parser: argparse.ArgumentParser) -> None:
    assert parser.description, f"{name}: no description"
    if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        assert parser.epilog and "circleback " in parser.epilog and "example" in parser.epilog, \
            f"{name}: no example in its epilog"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("argv", [["-v", "status", "c.toml"], ["status", "-v", "c.toml"],
                                  ["status", "c.toml", "--verbose"],
                                  ["preview", "prompt", "c.toml", "-v"]])
def test_verbose_works_anywhere(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).verbose is True


def test_verbose_is_off_unless_given() -> None:
    assert build_parser().parse_args(["status", "c.toml"]).verbose is False


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for code, words in (("0", "ok"), ("1", "config problems"), ("2", "usage"),
                        ("3", "a server unreachable or refusing"), ("4", "messages refused for good")):
        assert f"  {code}  {words}" in out
