"""The engine's input and output facts: subscribers, bills, stored assignments, tiers.

All are immutable slots dataclasses (`entitlements.immutable`); amounts are integer
fen. The level and scheme codes are the SPEC §6 vocabulary, listed here high to low
(the rank used by every "only rises" rule).
"""

from __future__ import annotations

from datetime import date
from typing import Final, Literal

from entitlements.immutable import immutable
from entitlements.months import Month

Scheme = Literal["star", "vip_card", "membership", "credit_star"]
ServiceType = Literal["mobile", "fixed", "broadband"]
Network = Literal["2g", "3g", "4g", "5g"]
PaymentMode = Literal["prepaid", "postpaid"]
Status = Literal["active", "suspended", "cancelled", "stopped"]  # stopped: H5
AssignmentSource = Literal["evaluation", "import"]

SCHEMES: Final[tuple[str, ...]] = ("star", "vip_card", "membership", "credit_star")
SERVICE_TYPES: Final[tuple[str, ...]] = ("mobile", "fixed", "broadband")
NETWORKS: Final[tuple[str, ...]] = ("2g", "3g", "4g", "5g")
PAYMENT_MODES: Final[tuple[str, ...]] = ("prepaid", "postpaid")
STATUSES: Final[tuple[str, ...]] = ("active", "suspended", "cancelled", "stopped")

#: Events a work order takes (W2–W6), in the order of its life.
WORK_ORDER_EVENTS: Final[tuple[str, ...]] = (
    "dispatch", "remind", "extend", "paid", "overdue", "resuspend", "done", "close",
)  # fmt: skip
#: Branch levels of the branch directory (SPEC §5: the province, its city and county branches).
BRANCH_LEVELS: Final[tuple[str, ...]] = ("province", "city", "county")

#: Subscriber flags of the import (SPEC §6 ``flags`` column).
FLAGS: Final[frozenset[str]] = frozenset(
    {
        "data_card",
        "test",
        "public_free",
        "employee",
        "wo_family",
        "group",
        "public_phone",
        "vip_guest",
        "loyal",
        "sms_card_2g",
        "high_data_2g",
        "employee_2g",
    }
)

#: Levels per scheme, highest first; the last one is the scheme's bottom code.
#: Star order is the display order of T1.8 (five-star > VIP-guest > loyal > four-star …).
LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "star": (
        "five_star",
        "vip_guest",
        "loyal",
        "four_star",
        "three_star",
        "two_star",
        "one_star",
        "unrated",
    ),
    "vip_card": ("supreme", "diamond", "gold", "silver", "none"),
    "membership": ("diamond", "platinum", "gold", "silver", "ordinary"),
    "credit_star": ("five_star", "four_star", "three_star", "two_star", "one_star", "no_star"),
}

#: ``RANK[scheme][level]``: higher is better; the bottom level has rank 0.
RANK: Final[dict[str, dict[str, int]]] = {
    scheme: {level: len(levels) - 1 - i for i, level in enumerate(levels)}
    for scheme, levels in LEVELS.items()
}

#: Star levels given by the special rule (T1.8) rather than by value.
SPECIAL_STAR_LEVELS: Final[tuple[str, ...]] = ("vip_guest", "loyal")

#: The ``change`` vocabulary of an evaluation (see ``entitlements.tiers``).
CHANGES: Final[tuple[str, ...]] = (
    "new",
    "raised",
    "held",
    "renewed",
    "lowered",
    "expired",
    "ended",
    "unchanged",
    "not_rated",
)


def bottom_level(scheme: str) -> str:
    """The scheme's code for "no level" (``unrated``, ``none``, ``ordinary``, ``no_star``)."""
    try:
        return LEVELS[scheme][-1]
    except KeyError:
        raise ValueError(f"unknown scheme {scheme!r}") from None


def rank(scheme: str, level: str) -> int:
    """The level's rank within its scheme (bottom = 0); ``ValueError`` for unknown codes."""
    try:
        return RANK[scheme][level]
    except KeyError:
        raise ValueError(f"unknown level {level!r} for scheme {scheme!r}") from None


@immutable
class Subscriber:
    """The facts of one number, as the SPEC §6 subscriber CSV has them (minus branch codes)."""

    msisdn: str
    service_type: ServiceType
    network: Network | None
    payment_mode: PaymentMode
    plan_code: str
    brand: str
    status: Status
    joined_on: date
    flags: frozenset[str] = frozenset()
    lucky_class: int | None = None
    contract_plan: int | None = None
    suspensions: int = 0
    birthday: date | None = None


@immutable
class BillHistory:
    """Monthly amounts in fen for the consecutive months ending at ``end`` (index -1).

    ``None`` means no bill row that month (counted as 0 fen where an average spans it).
    ``cumulative_paid_fen`` is everything paid through ``end`` (T4.1). The batch passes
    the 13 months M−13…M−1 for an evaluation in month M.
    """

    end: Month
    billed_fen: tuple[int | None, ...]
    paid_fen: tuple[int | None, ...]
    cumulative_paid_fen: int = 0

    def __post_init__(self) -> None:
        if len(self.billed_fen) != len(self.paid_fen):
            raise ValueError("billed_fen and paid_fen must cover the same months")

    @property
    def start(self) -> Month:
        """The first month covered (``end`` when empty)."""
        return self.end - max(len(self.billed_fen) - 1, 0)

    def billed(self, month: Month) -> int | None:
        """The billed amount of ``month``, ``None`` outside the history or without a row."""
        index = len(self.billed_fen) - 1 - (self.end - month)
        if 0 <= index < len(self.billed_fen):
            return self.billed_fen[index]
        return None

    def paid(self, month: Month) -> int | None:
        """The amount paid in ``month``, ``None`` outside the history or without a row."""
        index = len(self.paid_fen) - 1 - (self.end - month)
        if 0 <= index < len(self.paid_fen):
            return self.paid_fen[index]
        return None


@immutable
class Assignment:
    """A stored tier assignment, effective-dated.

    ``valid_until`` is the last day it serves (inclusive; for cards the expiry date, the
    8th of a month, T2.5); ``None`` = until replaced. ``since`` is when the current level
    was first reached (kept by renewals, for the upgrade-only bookkeeping).
    """

    scheme: str
    level: str
    policy: str
    effective_from: date
    valid_until: date | None
    since: date | None = None
    source: AssignmentSource = "evaluation"

    def in_force(self, day: date) -> bool:
        """Whether this assignment serves on ``day``."""
        return self.effective_from <= day and (self.valid_until is None or day <= self.valid_until)

    def as_tier(self) -> Tier:
        """The tier this assignment gives (for routing, benefits, reactivation)."""
        return Tier(self.scheme, self.level, self.valid_until)


@immutable
class Tier:
    """The level serving a caller: what routing, benefits and reactivation decide on."""

    scheme: str
    level: str
    valid_until: date | None = None

    @property
    def is_bottom(self) -> bool:
        """Whether this is the scheme's "no level" code."""
        return self.level == bottom_level(self.scheme)
