"""A4/Q5: the queue engine's live figures — what one call's outcome adds to the counters, and
the service level, ASA and abandon rate a set of counters gives.

A call counts when its outcome is known, in the minute and the 15-minute interval of the
outcome's time (the ACD's ``at``): answered (its wait counts for ASA and against the
threshold) or abandoned (a *short* abandon when the caller hung up before the
short-abandon limit). So ``offered = answered + abandoned`` and no figure includes a call
whose outcome could still change; calls still waiting are shown apart (``waiting``).

Service level the Chinese way (Q5): answered within the threshold ÷ (offered − short
abandons) — abandoned calls stay in the denominator, short ones leave it. The threshold
(20 s) and the short-abandon limit (5 s) are policy data (``[agents.service_level]``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from entitlements.policy import ServiceLevelRules

MS: Final = 1000
#: A4: the rolling window (the current minute and the 29 before it) and the interval length.
WINDOW_MINUTES: Final = 30
INTERVAL_MINUTES: Final = 15
MINUTE_MS: Final = 60 * MS
INTERVAL_MS: Final = INTERVAL_MINUTES * MINUTE_MS

Outcome = Literal["answered", "abandoned"]


@dataclass(frozen=True, slots=True)
class Counts:
    """Counters of calls whose outcome is known (milliseconds for the waits)."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    wait_ms: int = 0  # total wait of the answered calls (ASA)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The counter names, as stored (Redis hash fields, table columns)."""
        return COUNT_NAMES

    def as_tuple(self) -> tuple[int, ...]:
        """The counters in ``names()`` order."""
        return (
            self.offered, self.answered, self.answered_within, self.abandoned, self.short_abandoned,
            self.wait_ms,
        )  # fmt: skip


COUNT_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in fields(Counts))


def outcome(kind: Outcome, waited_ms: int, rules: ServiceLevelRules) -> Counts:
    """A4/Q5: what one call's outcome adds: answered within the threshold (inclusive) or
    not; abandoned, short when the caller hung up before the short-abandon limit. A wait
    reported negative (the ACD's clocks disagree) counts as zero."""
    waited = max(0, waited_ms)
    if kind == "answered":
        within = 1 if waited <= rules.threshold_s * MS else 0
        return Counts(offered=1, answered=1, answered_within=within, wait_ms=waited)
    short = 1 if waited < rules.short_abandon_s * MS else 0
    return Counts(offered=1, abandoned=1, short_abandoned=short)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def figures(counts: Counts, rules: ServiceLevelRules) -> dict[str, Any]:
    """A4/Q5: the counters and the figures derived from them (``None`` where nothing counts).

    ``service_level`` = answered within ÷ (offered − short abandons) (Q5, the Chinese
    formula); ``service_level_answered`` = answered within ÷ answered; ``asa_s`` the
    average wait of answered calls; ``abandon_rate`` = abandoned ÷ offered.
    """
    asa = _ratio(counts.wait_ms, counts.answered)
    return {
        "offered": counts.offered,
        "answered": counts.answered,
        "abandoned": counts.abandoned,
        "short_abandoned": counts.short_abandoned,
        "answered_within": counts.answered_within,
        "service_level": _ratio(counts.answered_within, counts.offered - counts.short_abandoned),
        "service_level_answered": _ratio(counts.answered_within, counts.answered),
        "asa_s": None if asa is None else asa / MS,
        "abandon_rate": _ratio(counts.abandoned, counts.offered),
    }


def meets_target(service_level: float | None, rules: ServiceLevelRules) -> bool | None:
    """A5: whether a service level reaches the desk's target (85 % by default); ``None``
    when there is no service level yet."""
    if service_level is None:
        return None
    return service_level * 1000 >= rules.target_milli


def minute_of(ms: int) -> int:
    """The minute (since the epoch) an instant falls in."""
    return ms // MINUTE_MS


def interval_of(ms: int) -> int:
    """The start (ms since the epoch) of the 15-minute interval an instant falls in."""
    return ms - ms % INTERVAL_MS


def window_minutes(now_ms: int) -> range:
    """A4: the minutes of the rolling window: the current one and the 29 before it."""
    current = minute_of(now_ms)
    return range(current - WINDOW_MINUTES + 1, current + 1)
