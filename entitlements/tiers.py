"""Tier evaluation: the single entry point the batch, the lookup and the agent view share.

``evaluate`` rates one subscriber for the evaluation run in month M (over the bills up
to M−1) under a policy, then applies the policy's validity regime to the assignment the
subscriber held before this run (see ``entitlements.validity``).

``Evaluation.change`` is one of:

* ``new`` — no level was in force; the figures give one.
* ``raised`` — a level was in force and the figures give a higher one; validity restarts.
* ``held`` — within validity the figures give the same or a lower level: nothing changes.
* ``renewed`` — at re-evaluation the figures give the same level: a new validity period.
* ``lowered`` — at re-evaluation (or, for monthly schemes, any month) a lower level.
* ``expired`` — the level ran out and nothing replaces it (no longer rated, or below
  the lowest level at re-evaluation); the result is the scheme's bottom level.
* ``ended`` — cancellation ended a level in force at once (T1.10, T2.7).
* ``unchanged`` — no level before and none now (or, for monthly schemes, the same level).
* ``not_rated`` — the subscriber is outside the scheme (excluded, tenure too short,
  cancelled) and held no level.

T1.11 (``unicom-2015`` with an imported legacy card): the card serves while in force
and the star level is still computed every month for the explanation. A star is only
assigned in the run of the month before the card's expiry month (or later): it takes
effect the day after the card expires and is valid through the last day of M+12, so
service passes from card to star without a gap. ``tier_in_force`` lets a card in force
beat a star in any case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

from entitlements.cards import contract_network_ok, rate_card
from entitlements.credit import rate_credit
from entitlements.errors import EvaluationError
from entitlements.explain import Explanation
from entitlements.immutable import immutable
from entitlements.membership import rate_membership
from entitlements.model import LEVELS, RANK, Assignment, BillHistory, Subscriber, Tier, bottom_level
from entitlements.months import Month
from entitlements.policy import CardRules, CreditRules, MembershipRules, Policy, StarRules
from entitlements.scored import Scalar, Scored
from entitlements.star import rate_star
from entitlements.validity import Outcome, cancelled, decide

__all__ = [
    "Evaluation",
    "bottom_level",
    "end_assignment",
    "evaluate",
    "tier_in_force",
]

_DAY = timedelta(days=1)
_CHANGED = frozenset({"new", "raised", "renewed", "lowered", "expired", "ended"})
_CANCEL_RULE = {"star": "T1.10", "vip_card": "T2.7", "membership": "T1.10", "credit_star": "T1.10"}


@immutable
class Evaluation:
    """The tier of one subscriber for one evaluation run, with its explanation.

    The decision itself (levels, change, dates, policy) lives once, in the explanation
    that is stored with it; the properties below read it from there.
    """

    msisdn: str
    month: Month
    #: Whether the subscriber is inside the scheme this month (not excluded, old enough).
    rated: bool
    #: When the resulting level was first reached (kept by renewals and held levels).
    since: date | None
    explanation: Explanation
    #: T1.10 / T1.11: cancellation also ends an imported legacy card in force (store
    #: ``end_assignment(card, run_date)``).
    legacy_card_ended: bool = False

    @property
    def scheme(self) -> str:
        """The policy's scheme (``star``, ``vip_card``, ``membership``, ``credit_star``)."""
        return self.explanation.scheme

    @property
    def run_date(self) -> date:
        """The day of the evaluation run."""
        return self.explanation.run_date

    @property
    def computed_level(self) -> str:
        """The level the rating rules give this month, before validity rules."""
        return self.explanation.computed

    @property
    def level(self) -> str:
        """The resulting level (after upgrade-only and validity rules)."""
        return self.explanation.level

    @property
    def previous_level(self) -> str | None:
        """The level of the assignment held before this run (``None``: none held)."""
        return self.explanation.previous

    @property
    def change(self) -> str:
        """What happened: ``new``, ``raised``, ``held``, … (see the module docstring)."""
        return self.explanation.change

    @property
    def effective_from(self) -> date:
        """The first day the resulting assignment serves."""
        return self.explanation.effective_from

    @property
    def valid_until(self) -> date | None:
        """The last day it serves (``None``: until replaced)."""
        return self.explanation.valid_until

    @property
    def policy(self) -> str:
        """The policy name."""
        return self.explanation.policy

    @property
    def policy_version(self) -> str:
        """The policy version (with any override suffix)."""
        return self.explanation.version

    @property
    def changed(self) -> bool:
        """Whether the level or its validity changed (a new assignment to store)."""
        return self.explanation.change in _CHANGED

    def assignment(self) -> Assignment:
        """The assignment to store for this evaluation."""
        e = self.explanation
        return Assignment(
            scheme=e.scheme,
            level=e.level,
            policy=e.policy,
            effective_from=e.effective_from,
            valid_until=e.valid_until,
            since=self.since,
            source="evaluation",
        )

    def tier(self) -> Tier:
        """The resulting tier (for routing, benefits and reactivation)."""
        e = self.explanation
        return Tier(e.scheme, e.level, e.valid_until)


def end_assignment(assignment: Assignment, on: date) -> Assignment:
    """T1.10 / T2.7: the assignment ended at once on ``on`` (it no longer serves that day)."""
    end = on - _DAY
    if assignment.valid_until is not None and assignment.valid_until < end:
        return assignment
    return replace(assignment, valid_until=end)


def tier_in_force(assignments: Sequence[Assignment], today: date) -> Assignment | None:
    """Which stored assignment serves a caller today (T1.9, T1.11).

    Only assignments in force on ``today`` count (effective-dated; expired ones never).
    Within a scheme the most recently effective one wins, so a newer evaluation (or a
    cancellation record) supersedes an older one. Across schemes a legacy card above the
    bottom beats a star (T1.11). ``None`` when nothing is in force.
    """
    latest: dict[str, Assignment] = {}
    for a in assignments:
        if a.effective_from > today or (a.valid_until is not None and a.valid_until < today):
            continue
        held = latest.get(a.scheme)
        if held is None or a.effective_from >= held.effective_from:
            latest[a.scheme] = a
    if not latest:
        return None
    legacy = latest.pop("vip_card", None)
    if legacy is not None and (legacy.level != "none" or not latest):
        return legacy
    return max(latest.values(), key=lambda a: a.effective_from)


def _check(
    policy: Policy,
    sub: Subscriber,
    month: Month,
    run_date: date,
    current: Assignment | None,
    legacy_card: Assignment | None,
) -> None:
    if Month.of(run_date) != month:
        raise EvaluationError(f"run date {run_date} is not in the evaluation month {month}")
    if not (
        policy.effective_from <= run_date
        and (policy.effective_until is None or run_date <= policy.effective_until)
    ):  # Policy.in_effect, inlined: this runs once per subscriber
        raise EvaluationError(
            f"policy {policy.name} {policy.version} is not in effect on {run_date}",
            code="policy_not_in_effect",
        )
    if current is not None and (current.scheme != policy.scheme or current.level not in RANK[policy.scheme]):
        raise EvaluationError(
            f"current assignment {current.scheme}/{current.level} is not a "
            f"{policy.scheme} level of {policy.name}"
        )
    if legacy_card is not None:
        transition = policy.transition
        if transition is None:
            raise EvaluationError(f"policy {policy.name} honours no legacy cards (T1.11)")
        if legacy_card.scheme != transition.legacy_scheme or legacy_card.level not in RANK.get(
            legacy_card.scheme, {}
        ):
            raise EvaluationError(f"legacy card {legacy_card.scheme}/{legacy_card.level} invalid")
    if sub.service_type not in ("mobile", "fixed", "broadband"):
        raise EvaluationError(f"unknown service type {sub.service_type!r}")


def _score(policy: Policy, sub: Subscriber, bills: BillHistory, month: int, run: date) -> Scored:
    rating = policy.rating
    if isinstance(rating, StarRules):
        return rate_star(rating, sub, bills, month)
    if isinstance(rating, CardRules):
        return rate_card(rating, sub, bills, month)
    if isinstance(rating, MembershipRules):
        return rate_membership(rating, sub, bills, month)
    assert isinstance(rating, CreditRules)  # the four rating kinds of a Policy
    return rate_credit(rating, sub, bills, month, run)


def evaluate(
    policy: Policy,
    sub: Subscriber,
    bills: BillHistory,
    month: Month,
    run_date: date,
    current: Assignment | None,
    legacy_card: Assignment | None = None,
) -> Evaluation:
    """The tier of ``sub`` for the run in ``month`` on ``run_date`` (T1–T5).

    ``current`` is the assignment of this policy's scheme held *before* this run (not one
    an earlier run this month wrote); ``legacy_card`` an imported T2 card (T1.11).
    """
    _check(policy, sub, month, run_date, current, legacy_card)
    scheme = policy.scheme
    m = int(month)
    scored = _score(policy, sub, bills, m, run_date)
    rules = scored.rules  # fresh lists of this evaluation's own: extended in place
    notes = scored.notes
    validity = policy.rating.validity
    legacy_ended = False

    if sub.status == "cancelled":
        outcome = cancelled(scheme, current, run_date, _CANCEL_RULE[scheme])
        if (
            legacy_card is not None
            and legacy_card.level != "none"
            and (legacy_card.valid_until is None or legacy_card.valid_until >= run_date)
        ):
            legacy_ended = True
            rules.append("T2.7")
            if outcome.change == "not_rated":
                outcome = outcome._replace(change="ended", since=run_date)
    else:
        start = None
        hold = False
        if legacy_card is not None and policy.transition is not None:
            start, deferred = _after_legacy(legacy_card, m, run_date)
            if deferred:
                rules.append(policy.transition.rule)
                notes.append("legacy_card")
                outcome = _deferred(scheme, current, m, run_date, validity.rule)
                return _build(policy, sub, month, run_date, scored, outcome, rules, notes, current, False)
            if start is not None:
                rules.append(policy.transition.rule)
                notes.append("legacy_card")
        if (
            scheme == "star"
            and current is not None
            and current.level in ("vip_guest", "loyal")
            and isinstance(policy.rating, StarRules)
        ):
            # T1.9: VIP guests and loyal customers are not re-evaluated within validity.
            hold = True
            rules.append(policy.rating.special_rule)
        outcome = decide(validity, scheme, scored.rated, scored.level, current, m, run_date, start, hold)
        if isinstance(policy.rating, CardRules):
            _card_rules(policy.rating, sub, current, outcome, rules, notes, run_date)
    return _build(policy, sub, month, run_date, scored, outcome, rules, notes, current, legacy_ended)


def _after_legacy(card: Assignment, month: int, run_date: date) -> tuple[date | None, bool]:
    """T1.11: (the star's start after the card, or ``None``; whether to wait for a later run)."""
    if card.level == "none" or (card.valid_until is not None and card.valid_until < run_date):
        return None, False  # no card service left: the star is evaluated as usual
    if card.valid_until is None:
        return None, True  # a card without an end keeps serving
    if Month.of(card.valid_until) > month + 1:
        return None, True  # a later run (the month before the expiry month) assigns the star
    after = card.valid_until + _DAY
    return (after if after > Month(month + 1).first_day else None), False


def _deferred(scheme: str, current: Assignment | None, month: int, run_date: date, rule: str) -> Outcome:
    """T1.11: the star waits for the card; what was held stays held."""
    if (
        current is not None
        and RANK[scheme][current.level] > 0
        and (current.valid_until is None or current.valid_until >= run_date)
    ):
        return Outcome(
            current.level,
            "held",
            current.effective_from,
            current.valid_until,
            current.since or current.effective_from,
            (rule,),
        )
    bottom = LEVELS[scheme][-1]
    return Outcome(bottom, "unchanged", Month(month + 1).first_day, None, None, (rule,))


def _card_rules(
    rules_: CardRules,
    sub: Subscriber,
    current: Assignment | None,
    outcome: Outcome,
    rules: list[str],
    notes: list[str],
    run_date: date,
) -> None:
    """T3.4 / T3.5 / T2.4 citations that depend on the outcome (T3.4: only onto 3G, C1)."""
    if (
        rules_.migration_min_plan is not None
        and sub.contract_plan is not None
        and sub.contract_plan >= rules_.migration_min_plan
        and contract_network_ok(rules_, sub)  # C1: a migration to 3G
        and current is not None
        and current.level != "none"
        and current.in_force(run_date)
    ):
        rules.append(rules_.migration_rule)
        notes.append("migration")
    if rules_.reporting_rule is not None and outcome.change in ("new", "raised"):
        rules.append(rules_.reporting_rule)
    if run_date.day < rules_.billing_closes_day:
        notes.append("before_billing_close")
    rules.append(rules_.schedule_rule)


def _next(scored: Scored, outcome: Outcome) -> dict[str, Scalar] | None:
    """The next step up, only when it is a step up from the level the customer ends with."""
    if scored.next is None or outcome.change in ("ended", "not_rated"):
        return None
    if outcome.level != scored.level:
        return None  # a held higher level: the figures' next step would mislead
    return scored.next


def _build(
    policy: Policy,
    sub: Subscriber,
    month: Month,
    run_date: date,
    scored: Scored,
    outcome: Outcome,
    rules: list[str],
    notes: list[str],
    current: Assignment | None,
    legacy_ended: bool,
) -> Evaluation:
    for rule in outcome.rules:
        rules.append(rule)
    notes.extend(outcome.notes)
    # Positional arguments: a frozen dataclass's __init__ is markedly slower with
    # keywords, and this runs a million times a month.
    explanation = Explanation(
        policy.name,
        policy.version,
        policy.scheme,
        str(month),
        run_date,
        outcome.level,
        scored.level,
        None if current is None else current.level,
        outcome.change,
        outcome.effective_from,
        outcome.valid_until,
        tuple(dict.fromkeys(rules)),  # first mention order, repeats dropped
        scored.inputs,
        scored.figures,
        _next(scored, outcome),
        tuple(notes),
    )
    return Evaluation(sub.msisdn, month, scored.rated, outcome.since, explanation, legacy_ended)
