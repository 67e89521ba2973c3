"""What a rating rule computes before validity rules apply (internal to the engine)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from entitlements.model import Subscriber
    from entitlements.policy import Eligibility

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


def excluded(elig: Eligibility, sub: Subscriber) -> str | None:
    """Why a subscriber is outside a scheme (a note code), or ``None`` if eligible."""
    service_type = sub.service_type
    if service_type not in elig.service_types:
        return f"service_type:{service_type}"
    if elig.networks is not None and service_type == "mobile" and sub.network not in elig.networks:
        return f"network:{sub.network}"
    if sub.payment_mode in elig.excluded_payment_modes:
        return f"payment_mode:{sub.payment_mode}"
    if sub.flags:
        hit = sub.flags & elig.excluded_flags
        if hit:
            return "flag:" + ",".join(sorted(hit))
    return None
