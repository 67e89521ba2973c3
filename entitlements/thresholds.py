"""T1.7: propose yearly star thresholds from the value distribution.

The national thresholds are computed centrally each December from the ranking of users
by value (T1.6). Given every rated user's value and the share of users wanted per level
(top down), ``propose_thresholds`` gives the lower bounds; ``threshold_override`` turns
them into a provincial override file (TOML) adding a threshold set from a month on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from entitlements.months import Month
from entitlements.policy import Policy, StarRules
from entitlements.scored import milli_text

#: The value levels with a threshold, highest first (one-star takes everyone below).
THRESHOLD_LEVELS: tuple[str, ...] = ("five_star", "four_star", "three_star", "two_star")


def _share(value: Fraction | Decimal | float | str) -> Fraction:
    share = Fraction(str(value)) if isinstance(value, (float, str)) else Fraction(value)
    if not 0 < share < 1:
        raise ValueError(f"a share is between 0 and 1, got {value!r}")
    return share


def propose_thresholds(
    values_milli: Iterable[int], shares: Mapping[str, Fraction | Decimal | float | str]
) -> dict[str, int]:
    """T1.7: lower bounds (milli-points, inclusive) giving each level about its share.

    Users tied at a cut all go to the higher level (the bounds are inclusive). When a
    tie swallows a whole level, that level's bound is set just below the one above it,
    so the bounds still fall strictly from level to level.
    """
    missing = [level for level in THRESHOLD_LEVELS if level not in shares]
    if missing or set(shares) - set(THRESHOLD_LEVELS):
        raise ValueError(f"give a share for exactly {', '.join(THRESHOLD_LEVELS)}")
    ranked = sorted(values_milli, reverse=True)
    if not ranked:
        raise ValueError("no values to rank")
    cumulative = Fraction(0)
    result: dict[str, int] = {}
    previous: int | None = None
    for level in THRESHOLD_LEVELS:
        cumulative += _share(shares[level])
        if cumulative > 1:
            raise ValueError("the shares add up to more than 1")
        # Half-up on the count so 2.5 % of 1,000 users is 25 users, not 24 or 26 by float.
        count = max(1, int(cumulative * len(ranked) + Fraction(1, 2)))
        bound = ranked[min(count, len(ranked)) - 1]
        if previous is not None and bound >= previous:
            bound = previous - 1
        result[level] = bound
        previous = bound
    return result


def threshold_override(policy: Policy, proposal: Mapping[str, int], valid_from: Month) -> str:
    """A provincial override (TOML) adding ``proposal`` as the set from ``valid_from`` on."""
    rating = policy.rating
    if not isinstance(rating, StarRules):
        raise ValueError(f"{policy.name} has no star thresholds (T1.7)")
    lines = [
        f"# Star thresholds for {policy.name}, proposed from the value distribution (T1.7).",
        f'name = "{policy.name}"',
        f'version = "{policy.version}+thresholds-{valid_from}"',
        "",
    ]
    sets = [
        (s.valid_from, dict(zip(s.ladder.levels, s.ladder.bounds, strict=True)))
        for s in rating.threshold_sets
        if s.valid_from < valid_from
    ]
    sets.append((valid_from, {level: proposal[level] for level in THRESHOLD_LEVELS}))
    for start, bounds in sets:
        lines.append("[[star.thresholds.sets]]")
        lines.append(f'valid_from = "{start}"')
        if start == valid_from:
            lines.append('assumption = "proposed from the value distribution"')
        for level in THRESHOLD_LEVELS:
            lines.append(f"{level} = {milli_text(bounds[level])}")
        lines.append("")
    return "\n".join(lines)
