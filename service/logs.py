"""Log lines name the cohort they are about when the daemon serves several.

Work for one cohort runs inside ``about(cohort_id)``; ``CohortPrefix``, a filter on the
log handlers, puts ``[cohort-id]`` before its lines once ``name_cohorts(True)`` says
there is more than one cohort to tell apart."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["CohortPrefix", "about", "name_cohorts"]

_cohort: ContextVar[str | None] = ContextVar("circleback_cohort", default=None)
_naming = [False]


def name_cohorts(enabled: bool) -> None:
    _naming[0] = enabled


@contextlib.contextmanager
def about(cohort_id: str | None) -> Iterator[None]:
    """Log lines inside are about this cohort."""
    token = _cohort.set(cohort_id)
    try:
        yield
    finally:
        _cohort.reset(token)


class CohortPrefix(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        cohort = _cohort.get()
        if cohort and _naming[0] and not getattr(record, "cohort_named", False):
            record.msg = f"[{cohort}] {record.msg}"
            record.cohort_named = True  # a record passes every handler's filter
        return True
