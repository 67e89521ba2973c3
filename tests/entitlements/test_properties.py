"""Properties that must hold for any input (hypothesis)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from entitlements.explain import Explanation, assignment_fields
from entitlements.model import FLAGS, LEVELS, RANK, Assignment, BillHistory, Subscriber, Tier
from entitlements.months import Month
from entitlements.policy import Policy
from entitlements.reactivation import (
    REFUSAL_CODES,
    AccountState,
    decide_credit,
    decide_reactivation,
)
from entitlements.tiers import Evaluation, evaluate
from entitlements.validity import reevaluation_month
from tests.entitlements.helpers import P2015, PCREDIT, PCUM, PHENAN, PVIP

POLICIES = (P2015, PVIP, PHENAN, PCUM, PCREDIT)
VALIDITY_POLICIES = (P2015, PVIP, PHENAN)
RULE_ID = r"^(T\d(\.\d+)?|Q\d|E|R\d+|W\d|C\d)$"  # §1–§5, and the §13 corrections
FIRST = Month.parse("2016-01")
LAST = Month.parse("2030-12")

# Per-test settings (not a global profile: other packages' properties keep theirs).
PROPERTY = settings(deadline=None, max_examples=150)

months = st.integers(min_value=int(FIRST), max_value=int(LAST)).map(Month)
amounts = st.one_of(st.none(), st.integers(min_value=0, max_value=120_000))


@st.composite
def subscribers(draw: st.DrawFn, month: Month) -> Subscriber:
    """Any subscriber who joined before ``month`` ends."""
    service = draw(st.sampled_from(["mobile", "mobile", "mobile", "fixed", "broadband"]))
    network = draw(st.sampled_from(["2g", "3g", "4g", "5g"])) if service == "mobile" else None
    tenure = draw(st.integers(min_value=1, max_value=200))
    joined = (month - (tenure - 1)).day(draw(st.integers(min_value=1, max_value=28)))
    return Subscriber(
        msisdn="18603710001",
        service_type=service,  # type: ignore[arg-type]  # drawn from the vocabulary
        network=network,  # type: ignore[arg-type]  # drawn from the vocabulary
        payment_mode=draw(st.sampled_from(["prepaid", "postpaid"])),
        plan_code="P",
        brand=draw(st.sampled_from(["gotone", "mzone", "easyown", "wo"])),
        status="active",
        joined_on=joined,
        flags=draw(st.frozensets(st.sampled_from(sorted(FLAGS)), max_size=2)),
        lucky_class=draw(st.one_of(st.none(), st.integers(min_value=1, max_value=3))),
        contract_plan=draw(st.one_of(st.none(), st.sampled_from([96, 156, 286, 386, 586]))),
        suspensions=draw(st.integers(min_value=0, max_value=3)),
        birthday=None,
    )


def history(month: Month, billed: list[int | None], cumulative: int) -> BillHistory:
    """13 months of bills before ``month`` (paid as billed)."""
    return BillHistory(month - 1, tuple(billed), tuple(billed), cumulative)


def level_rank(policy: Policy, ev: Evaluation, computed: bool = True) -> int:
    """The rank of the computed (or resulting) level."""
    return RANK[policy.scheme][ev.computed_level if computed else ev.level]


@PROPERTY
@given(st.data())
def test_more_spend_never_lowers_a_computed_level(data: st.DataObject) -> None:
    # rule T1.6, rule T2.1, rule T3.1, rule T4.1, rule T5.3: monotone in spend.
    policy = data.draw(st.sampled_from(POLICIES))
    month = data.draw(months)
    run_date = month.day(data.draw(st.integers(min_value=1, max_value=28)))
    s = data.draw(subscribers(month))
    billed = data.draw(st.lists(amounts, min_size=13, max_size=13))
    extra = data.draw(st.lists(st.integers(min_value=0, max_value=80_000), min_size=13, max_size=13))
    more = [None if b is None and e == 0 else (b or 0) + e for b, e in zip(billed, extra, strict=True)]
    cumulative = data.draw(st.integers(min_value=0, max_value=3_000_000))
    low = evaluate(policy, s, history(month, billed, cumulative), month, run_date, None)
    high = evaluate(policy, s, history(month, more, cumulative + sum(extra)), month, run_date, None)
    assert low.rated == high.rated
    assert level_rank(policy, high) >= level_rank(policy, low)


@PROPERTY
@given(st.data())
def test_within_validity_a_level_never_falls(data: st.DataObject) -> None:
    # rule T1.9, rule T2.6: a chain of monthly evaluations, feeding each result forward.
    policy = data.draw(st.sampled_from(VALIDITY_POLICIES))
    validity = policy.rating.validity
    start = data.draw(months.filter(lambda m: m <= LAST - 24))
    s = data.draw(subscribers(start))
    current: Assignment | None = None
    for step in range(data.draw(st.integers(min_value=2, max_value=20))):
        month = start + step
        run_date = month.day(data.draw(st.integers(min_value=1, max_value=28)))
        billed = data.draw(st.lists(amounts, min_size=13, max_size=13))
        ev = evaluate(policy, s, history(month, billed, 0), month, run_date, current)
        live = (
            current is not None
            and RANK[policy.scheme][current.level] > 0
            and current.valid_until is not None
            and current.valid_until >= run_date
        )
        within = (
            live
            and current is not None
            and current.valid_until is not None
            and month < reevaluation_month(validity, current.valid_until)
        )
        if within and current is not None:
            assert RANK[policy.scheme][ev.level] >= RANK[policy.scheme][current.level]
            if ev.change == "held":
                assert ev.valid_until == current.valid_until
        if ev.change != "held":
            current = ev.assignment()


@PROPERTY
@given(st.data())
def test_card_validity_ends_on_the_8th(data: st.DataObject) -> None:
    # rule T2.5: every card assignment an evaluation makes expires on the 8th.
    policy = data.draw(st.sampled_from((PVIP, PHENAN)))
    month = data.draw(months)
    run_date = month.day(data.draw(st.integers(min_value=1, max_value=28)))
    s = data.draw(subscribers(month))
    level = data.draw(st.sampled_from(LEVELS["vip_card"][:-1]))
    expiry_month = month + data.draw(st.integers(min_value=-2, max_value=13))
    current = Assignment("vip_card", level, policy.name, run_date - timedelta(days=300),
                         expiry_month.day(8))  # fmt: skip
    billed = data.draw(st.lists(amounts, min_size=13, max_size=13))
    ev = evaluate(policy, s, history(month, billed, 0), month, run_date, current)
    if ev.valid_until is not None:
        assert ev.valid_until.day == 8


@PROPERTY
@given(st.data())
def test_every_explanation_cites_a_rule_and_round_trips(data: st.DataObject) -> None:
    # rule T1.9: every evaluation keeps an explanation with the rule IDs that decided.
    import re

    policy = data.draw(st.sampled_from(POLICIES))
    month = data.draw(months)
    run_date = month.day(data.draw(st.integers(min_value=1, max_value=28)))
    s = data.draw(subscribers(month))
    if data.draw(st.booleans()):
        s = replace(s, status="cancelled")
    billed = data.draw(st.lists(amounts, min_size=13, max_size=13))
    ev = evaluate(policy, s, history(month, billed, 5_000_000), month, run_date, None)
    rules = ev.explanation.rules
    assert rules
    assert all(re.match(RULE_ID, r) for r in rules)
    e = ev.explanation
    assert Explanation.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    # what the evaluation stores: the explanation without its assignment row's fields
    row = assignment_fields(
        e.policy, e.version, e.scheme, e.month, e.level, e.computed, e.previous, e.change,
        e.effective_from, e.valid_until,
    )  # fmt: skip
    assert Explanation.from_dict({**json.loads(json.dumps(e.stored_dict())), **row}) == e
    assert not set(e.stored_dict()) & set(row)
    assert ev.explanation.render("zh")
    assert ev.explanation.render("en")


tiers = st.one_of(
    st.none(),
    st.sampled_from([Tier(s, lvl) for s in ("star", "vip_card") for lvl in LEVELS[s]]),
)
accounts = st.one_of(
    st.none(),
    st.builds(
        AccountState,
        service_type=st.sampled_from(["mobile", "fixed", "broadband"]),
        payment_mode=st.sampled_from(["prepaid", "postpaid"]),
        status=st.sampled_from(["active", "suspended", "cancelled"]),
        arrears_months=st.integers(min_value=0, max_value=6),
        grants_this_month=st.integers(min_value=0, max_value=3),
        unpaid_grant=st.booleans(),
    ),
)


@PROPERTY
@given(tiers, accounts, st.booleans())
def test_a_refused_reactivation_always_has_a_code(
    tier: Tier | None, account: AccountState | None, verified: bool
) -> None:
    # rule R11: every decision, granted or refused, returns a reason.
    decision = decide_reactivation(P2015, tier, account, verified)
    if decision.eligible:
        assert decision.code is None and decision.mode is not None
        assert (decision.credit_limit_fen is not None) == (decision.mode == "prepaid_credit")
    else:
        assert decision.code in REFUSAL_CODES
    assert decision.rules


NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@PROPERTY
@given(
    st.one_of(st.none(), st.integers(min_value=0, max_value=50_000)),
    st.integers(min_value=0, max_value=60_000),
    st.one_of(st.none(), st.integers(min_value=-3600, max_value=3600)),
    st.integers(min_value=1, max_value=60_000),
)
def test_credit_never_approves_more_than_remains(
    limit: int | None, used: int, expires_in: int | None, amount: int
) -> None:
    # rule R5
    expires = None if expires_in is None else NOW + timedelta(seconds=expires_in)
    decision = decide_credit(limit, used, expires, amount, NOW)
    if decision.approved:
        assert limit is not None
        assert amount <= limit - used
        assert decision.remaining_fen == limit - used - amount >= 0
        assert expires is None or expires > NOW
    else:
        assert decision.code in ("no_credit", "credit_exhausted", "credit_expired")
        assert decision.remaining_fen >= 0


def test_dates_used_by_the_properties_are_sane() -> None:
    # rule T1.3: the strategies draw months the policies are in effect for.
    assert FIRST.first_day >= max(p.effective_from for p in POLICIES)
    assert date(2016, 1, 1) == FIRST.first_day
