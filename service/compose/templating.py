"""The one way circleback's jinja2 environments are made: HTML templates autoescaped, a
missing variable an error, and the filters every template may use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2

from service.compose.texts import is_web_url, text_html, url_label

__all__ = ["new_environment"]


def new_environment(directory: Path, *, autoescape_html: bool = True,
                    finalize: Callable[[object], object] | None = None) -> jinja2.Environment:
    """An environment over ``directory``: ``*.html.j2`` autoescaped (unless
    ``autoescape_html`` is off: a Markdown or plain-text book escapes by ``finalize``), with
    the ``text_html`` and ``url_label`` filters and the ``web_url`` test."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ) if autoescape_html else False,
        finalize=finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["text_html"] = text_html
    env.filters["url_label"] = url_label
    env.tests["web_url"] = is_web_url
    return env
