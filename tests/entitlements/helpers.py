"""Builders shared by the entitlements tests (plain functions, usable in parametrize)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from entitlements.model import Assignment, BillHistory, Subscriber
from entitlements.months import Month
from entitlements.policy import Policy, load_policy
from entitlements.tiers import Evaluation, evaluate

P2015 = load_policy("unicom-2015")
PVIP = load_policy("unicom-vip")
PHENAN = load_policy("unicom-henan-2011")
PCUM = load_policy("unicom-cumulative")
PCREDIT = load_policy("cmcc-credit")


def d(text: str) -> date:
    """``"2026-11-06"`` → date."""
    return date.fromisoformat(text)


def sub(
    joined: str = "2018-03-15",
    *,
    service_type: str = "mobile",
    network: str | None = "4g",
    payment_mode: str = "postpaid",
    status: str = "active",
    flags: Sequence[str] = (),
    lucky_class: int | None = None,
    contract_plan: int | None = None,
    suspensions: int = 0,
    brand: str = "wo",
    plan_code: str = "P1",
    msisdn: str = "18603710001",
) -> Subscriber:
    """A subscriber with sensible defaults (a 4G postpaid mobile user since 2018)."""
    return Subscriber(
        msisdn=msisdn,
        service_type=service_type,  # type: ignore[arg-type]  # tests pass valid codes
        network=network,  # type: ignore[arg-type]  # tests pass valid codes
        payment_mode=payment_mode,  # type: ignore[arg-type]  # tests pass valid codes
        plan_code=plan_code,
        brand=brand,
        status=status,  # type: ignore[arg-type]  # tests pass valid codes
        joined_on=d(joined),
        flags=frozenset(flags),
        lucky_class=lucky_class,
        contract_plan=contract_plan,
        suspensions=suspensions,
        birthday=None,
    )


def bills(
    evaluation_month: str,
    billed: Sequence[int | None],
    *,
    paid: Sequence[int | None] | None = None,
    cumulative_paid_fen: int = 0,
    months: int = 13,
) -> BillHistory:
    """Bills for the ``months`` months before ``evaluation_month``; ``billed`` are the
    most recent ones, oldest first (earlier months have no bill row)."""
    end = Month.parse(evaluation_month) - 1
    pad = [None] * (months - len(billed))
    billed_all = tuple([*pad, *billed])
    paid_all = billed_all if paid is None else tuple([*([None] * (months - len(paid))), *paid])
    return BillHistory(end, billed_all, paid_all, cumulative_paid_fen)


def flat(evaluation_month: str, fen: int, months: int = 13) -> BillHistory:
    """The same bill every month."""
    return bills(evaluation_month, [fen] * months, months=months)


def assignment(
    scheme: str,
    level: str,
    effective: str,
    until: str | None,
    *,
    policy: str = "unicom-2015",
    since: str | None = None,
    source: str = "evaluation",
) -> Assignment:
    """A stored assignment."""
    return Assignment(
        scheme=scheme,
        level=level,
        policy=policy,
        effective_from=d(effective),
        valid_until=None if until is None else d(until),
        since=None if since is None else d(since),
        source=source,  # type: ignore[arg-type]  # tests pass valid codes
    )


def star(level: str, effective: str, until: str | None, since: str | None = None) -> Assignment:
    """A stored star assignment under unicom-2015."""
    return assignment("star", level, effective, until, since=since)


def card(
    level: str,
    effective: str,
    until: str | None,
    policy: str = "unicom-vip",
    source: str = "evaluation",
) -> Assignment:
    """A stored VIP card."""
    return assignment("vip_card", level, effective, until, policy=policy, source=source)


def run(
    policy: Policy,
    run_date: str,
    subscriber: Subscriber,
    history: BillHistory,
    current: Assignment | None = None,
    legacy: Assignment | None = None,
) -> Evaluation:
    """Evaluate in the month of ``run_date``."""
    day = d(run_date)
    return evaluate(policy, subscriber, history, Month.of(day), day, current, legacy)


def joined_for_tenure(evaluation_month: str, tenure: int) -> str:
    """The joining date (the 15th) that gives ``tenure`` in ``evaluation_month`` (T1.3)."""
    month = Month.parse(evaluation_month) - (tenure - 1)
    return month.day(15).isoformat()
