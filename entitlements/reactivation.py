"""R1–R12: emergency reactivation (紧急开机) and the temporary credit (临时授信).

``decide_reactivation`` checks, in this order, and stops at the first refusal:

1. ``unknown_subscriber`` — no tier or no account for the number.
2. ``identity_not_verified`` (R9) — the agent verifies identity first, before anything
   about the account is disclosed.
3. ``cancelled`` — the number is cancelled (T1.10).
4. ``not_entitled`` (R1) — the tier has no "emergency reactivation: yes" in E, or the
   service is not one reactivation covers (mobile).
5. ``not_suspended`` (R2, H6) — only a suspended customer is reactivated; an emergency
   stop (``stopped``, H5) is no suspension.
5a. ``not_in_arrears`` (H6) — suspended, but no bill month in arrears (S197: 欠费且已经停机).
6. ``monthly_limit`` (R3, R12) — the tier's grants per calendar month are used up.
7. ``arrears_too_long`` (R7) — postpaid, two or more months in arrears.
8. ``previous_unpaid`` (R8) — postpaid, an earlier reactivation is still unpaid.

Entitlement comes before the account's transient state so a customer who could never
have it is told so; the postpaid checks follow the rule order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from entitlements.benefits import benefit_value
from entitlements.errors import InvalidAmount
from entitlements.model import Tier
from entitlements.policy import REACTIVATION_BENEFIT, Policy, ReactivationTerms

#: Refusal codes of SPEC §6, in check order.
REFUSAL_CODES: Final[tuple[str, ...]] = (
    "unknown_subscriber",
    "identity_not_verified",
    "cancelled",
    "not_entitled",
    "not_suspended",
    "not_in_arrears",
    "monthly_limit",
    "arrears_too_long",
    "previous_unpaid",
)

#: Credit denial codes of SPEC §6.
CREDIT_CODES: Final[tuple[str, ...]] = ("no_credit", "credit_exhausted", "credit_expired")

Mode = Literal["postpaid_48h", "prepaid_credit"]


@dataclass(frozen=True, slots=True)
class AccountState:
    """What reactivation needs to know about the account right now."""

    service_type: str
    payment_mode: str
    status: str
    #: Bill months not fully paid (payments settle the oldest bill first).
    arrears_months: int
    #: Reactivations granted in the current calendar month (Asia/Shanghai).
    grants_this_month: int
    #: An earlier postpaid reactivation whose arrears are still unpaid (R8).
    unpaid_grant: bool


@dataclass(frozen=True, slots=True)
class ReactivationDecision:
    """A grant (mode and terms) or a refusal (``code``); ``rules`` cite what decided."""

    eligible: bool
    code: str | None
    mode: Mode | None
    credit_limit_fen: int | None
    hours: int | None
    days: int | None
    rules: tuple[str, ...]

    @property
    def creates_work_order(self) -> bool:
        """R10: a postpaid grant creates a work order for the city branch."""
        return self.eligible and self.mode == "postpaid_48h"

    def expires_at(self, granted_at: datetime) -> datetime | None:
        """When the grant's window ends: hours (R6) or days (R4) after ``granted_at``."""
        if not self.eligible:
            return None
        if self.mode == "prepaid_credit" and self.days is not None:
            return granted_at + timedelta(days=self.days)
        if self.hours is not None:
            return granted_at + timedelta(hours=self.hours)
        return None


def _refuse(code: str, *rules: str) -> ReactivationDecision:
    return ReactivationDecision(False, code, None, None, None, None, rules)


def reactivation_terms(
    policy: Policy, tier: Tier | None, service_type: str | None = None
) -> ReactivationTerms | None:
    """R1/R4/R12: the terms a tier's emergency reactivation has, or ``None`` (C2 as E)."""
    if tier is None or benefit_value(policy, tier, REACTIVATION_BENEFIT, service_type) != "yes":
        return None
    name = policy.reactivation.levels.get(tier.scheme, {}).get(tier.level)
    return None if name is None else policy.reactivation.terms[name]


def decide_reactivation(
    policy: Policy, tier: Tier | None, account: AccountState | None, verified: bool
) -> ReactivationDecision:
    """R1–R9, R12: grant or refuse an emergency reactivation (check order: module doc)."""
    rules = policy.reactivation
    if tier is None or account is None:
        return _refuse("unknown_subscriber", "R11")
    if not verified:
        return _refuse("identity_not_verified", "R9")
    if account.status == "cancelled":
        return _refuse("cancelled", "T1.10")
    terms = reactivation_terms(policy, tier, account.service_type)
    if terms is None or account.service_type not in rules.service_types:
        return _refuse("not_entitled", "R1")
    if account.status != "suspended":
        return _refuse("not_suspended", "R2", "H6")
    if account.arrears_months <= 0:
        return _refuse("not_in_arrears", "H6")
    if account.grants_this_month >= terms.per_month:
        return _refuse("monthly_limit", "R3", "R12")
    if account.payment_mode == "prepaid":
        return ReactivationDecision(
            True,
            None,
            "prepaid_credit",
            terms.credit_fen,
            None,
            terms.days,
            ("R9", "R1", "R2", "R3", "R4", "R12"),
        )
    if account.arrears_months >= rules.refuse_at_arrears_months:
        return _refuse("arrears_too_long", "R7")
    if account.unpaid_grant:
        return _refuse("previous_unpaid", "R8")
    return ReactivationDecision(
        True,
        None,
        "postpaid_48h",
        None,
        terms.hours,
        None,
        ("R9", "R1", "R2", "R3", "R6", "R7", "R8", "R10", "R12"),
    )


@dataclass(frozen=True, slots=True)
class CreditDecision:
    """R5: one charge against the temporary credit."""

    approved: bool
    remaining_fen: int
    code: str | None


def decide_credit(
    limit_fen: int | None,
    used_fen: int,
    expires_at: datetime | None,
    amount_fen: int,
    now: datetime,
) -> CreditDecision:
    """R5: approve a charge of ``amount_fen`` against the temporary credit, or decline it.

    Checks in order: no grant (``limit_fen`` is ``None``) → ``no_credit``; the days ran
    out (``now >= expires_at``) → ``credit_expired`` with nothing remaining; a charge
    larger than what is left → ``credit_exhausted``, the credit stays for smaller
    charges. ``expires_at`` ``None`` means no time limit. Amounts must be positive.
    """
    if isinstance(amount_fen, bool) or amount_fen <= 0:
        raise InvalidAmount("a charge must be a positive number of fen")
    if limit_fen is None:
        return CreditDecision(False, 0, "no_credit")
    if expires_at is not None and now >= expires_at:
        return CreditDecision(False, 0, "credit_expired")
    remaining = max(limit_fen - max(used_fen, 0), 0)
    if amount_fen > remaining:
        return CreditDecision(False, remaining, "credit_exhausted")
    return CreditDecision(True, remaining - amount_fen, None)
