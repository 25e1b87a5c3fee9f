"""Tests for service/cli/export.py's progress bar: shown on a terminal, silent otherwise."""

from __future__ import annotations

import io

import pytest

from service.cli.export import _progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_big_export_shows_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with _progress(500, "Writing the mbox book") as tick:
        assert tick is not None
        for _ in range(500):
            tick(1)
    assert "Writing the mbox book" in terminal.getvalue()


@pytest.mark.parametrize(("stories", "tty"), [(500, False), (20, True)])
def test_no_progress_in_a_pipe_or_for_a_small_book(monkeypatch: pytest.MonkeyPatch, stories: int,
                                                   tty: bool) -> None:
    stream = Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    with _progress(stories, "Writing") as tick:
        assert tick is None
    assert stream.getvalue() == ""
