"""What a rating rule computes before validity rules apply (internal to the engine)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

#: A JSON-safe scalar of an explanation.
Scalar = str | int | bool | None


class Scored(NamedTuple):
    """The level the figures give, with the figures, inputs and rules that decided it."""

    rated: bool
    level: str
    rules: list[str]
    inputs: dict[str, Scalar]
    figures: dict[str, Scalar]
    next: dict[str, Scalar] | None
    notes: list[str]


@lru_cache(maxsize=65536)
def milli_text(milli: int) -> str:
    """1100 → ``"1.1"``, 343200 → ``"343.2"``, 260000 → ``"260"`` (exact)."""
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), 1000)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}".rstrip("0")


def excluded(
    rules_service: frozenset[str],
    networks: frozenset[str] | None,
    excluded_flags: frozenset[str],
    excluded_modes: frozenset[str],
    service_type: str,
    network: str | None,
    flags: frozenset[str],
    payment_mode: str,
) -> str | None:
    """Why a subscriber is outside a scheme (a note code), or ``None`` if eligible."""
    if service_type not in rules_service:
        return f"service_type:{service_type}"
    if networks is not None and service_type == "mobile" and network not in networks:
        return f"network:{network}"
    if payment_mode in excluded_modes:
        return f"payment_mode:{payment_mode}"
    if flags:
        hit = flags & excluded_flags
        if hit:
            return "flag:" + ",".join(sorted(hit))
    return None
