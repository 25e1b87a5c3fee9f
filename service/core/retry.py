"""Retry is a value: one backoff policy object instead of scattered sleeps."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with optional "full jitter".

    `attempts` is the total number of tries (the first one included), so a policy with
    `attempts=5` allows four retries. `delay(n)` is the pause before retry `n` (1-based):
    `base * 2**(n-1)`, capped at `cap`. With `jitter`, the pause is drawn uniformly from
    `[0, that]` (the "full jitter" of the AWS architecture blog), which spreads out the
    retries of many daemons that failed at the same moment.
    """

    attempts: int = 5
    base: float = 1.0
    cap: float = 300.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Backoff.attempts must be at least 1")
        if self.base < 0 or self.cap < 0:
            raise ValueError("Backoff.base and Backoff.cap must not be negative")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        # min() before the power would overflow a float for large attempt numbers.
        ceiling = float(min(self.cap, self.base * 2.0 ** min(attempt - 1, 64)))
        return self.rng.uniform(0.0, ceiling) if self.jitter else ceiling

    def should_retry(self, attempt: int) -> bool:
        """True when try number `attempt` (1-based, just failed) may be followed by another."""
        return attempt < self.attempts

    def delays(self) -> list[float]:
        """Every pause the policy allows, in order (handy for logs and tests)."""
        return [self.delay(n) for n in range(1, self.attempts)]
