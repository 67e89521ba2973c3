"""How a computed level becomes an assignment: validity, rises, renewals, cancellation.

Three regimes, chosen per policy (``[<rating>.validity] mode``):

* ``star`` (T1.9): evaluated in M, effective the 1st of M+1, valid through the last day
  of M+12; re-evaluated in the last month of validity (C6).
* ``card`` (T2.5/T2.6): a first grant or a rise on run day D is effective on D and
  expires on the 8th of D's month + 12; re-evaluated in the month before the expiry
  month, a renewal expiring on the 8th twelve months after the old expiry month
  (2013-01…2013-12 → 2014-01-08).
* ``monthly`` (T4/T5 [assumption]): each evaluation replaces the level, no validity;
  with ``downgrade = false`` (C5, T4) it replaces it only with a higher one.

Within validity a level only rises (a rise restarts the validity from the rise, in the
re-evaluation month too: C4); at re-evaluation it may be renewed, lowered or expire.
Cancellation ends a level at once (T1.10, T2.7).
A re-evaluation result takes effect the day after the old validity ends, so the old
level is never cut short and there is no gap.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

from entitlements.model import LEVELS, RANK, Assignment
from entitlements.months import Month
from entitlements.policy import Validity

_DAY = timedelta(days=1)


class Outcome(NamedTuple):
    """The assignment an evaluation results in, and the rules that decided it."""

    level: str
    change: str
    effective_from: date
    valid_until: date | None
    since: date | None
    rules: tuple[str, ...]
    notes: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def month_start(validity: Validity, month: int) -> tuple[date, date | None]:
    """For a run in ``month``: the effective date of a new level and its validity end.

    Card validity depends on the run day, so the card regime returns the month's
    expiry (the 8th of M+12) and the caller uses the run date as the start.
    """
    m = Month(month)
    if validity.mode == "star":
        return (m + 1).first_day, (m + validity.months).last_day
    if validity.mode == "card":
        return m.first_day, (m + validity.months).day(validity.expiry_day)
    start = (m + 1).first_day if validity.next_month else m.first_day
    return start, None


def reevaluation_month(validity: Validity, valid_until: date) -> int:
    """The month a held level is re-evaluated in (T1.9/C6: its last month; T2.5: the month before).

    C6: a star valid through 2027-11-30 is re-evaluated in 2027-11, effective 2027-12-01.
    """
    last = valid_until.year * 12 + valid_until.month - 1
    return last - 1 if validity.mode == "card" else last


@lru_cache(maxsize=1024)  # a renewal month asks for a handful of ends a million times
def renewal_end(validity: Validity, valid_until: date) -> date:
    """The end of the validity that follows one ending on ``valid_until`` (T1.9, T2.5)."""
    following = Month.of(valid_until) + validity.months
    if validity.mode == "card":
        return following.day(validity.expiry_day)
    return following.last_day


def cancelled(scheme: str, current: Assignment | None, run_date: date, rule: str) -> Outcome:
    """T1.10 / T2.7: cancellation ends a level in force at once."""
    bottom = _bottom(scheme)
    live = _live(scheme, current, run_date)
    if live:
        return Outcome(bottom, "ended", run_date, None, run_date, (rule,))
    return Outcome(bottom, "not_rated", run_date, None, None, (rule,))


def _bottom(scheme: str) -> str:
    return LEVELS[scheme][-1]


def _live(scheme: str, current: Assignment | None, run_date: date) -> bool:
    """Whether ``current`` holds a level that has not run out by ``run_date``."""
    return (
        current is not None
        and RANK[scheme][current.level] > 0
        and (current.valid_until is None or current.valid_until >= run_date)
    )


def decide(
    validity: Validity,
    scheme: str,
    rated: bool,
    computed: str,
    current: Assignment | None,
    month: int,
    run_date: date,
    start: date | None = None,
    hold: bool = False,
) -> Outcome:
    """Apply the validity regime to a computed level (see the module docstring).

    ``start`` overrides the effective date of a new level (T1.11 moves it past a legacy
    card); ``hold`` keeps a level in force without re-evaluation (T1.8 special levels).
    """
    ranks = RANK[scheme]
    new_rank = ranks[computed] if rated else 0
    default_start, new_end = month_start(validity, month)
    mode = validity.mode
    if start is None:
        start = run_date if mode == "card" else default_start
    bottom = _bottom(scheme)
    live = _live(scheme, current, run_date)

    if mode == "monthly":
        return _monthly(validity, scheme, rated, computed, current if live else None, start)

    if not live:
        lapsed = (
            current is not None
            and ranks[current.level] > 0
            and current.valid_until is not None
            and current.valid_until < run_date
        )
        if not rated:
            change = "expired" if lapsed else "not_rated"
            return Outcome(bottom, change, start, None, None, (validity.rule,))
        if new_rank == 0:
            change = "expired" if lapsed else "unchanged"
            return Outcome(bottom, change, start, None, None, (validity.rule,))
        return Outcome(computed, "new", start, new_end, start, (validity.rule,))

    assert current is not None  # live implies a current assignment
    cur_rank = ranks[current.level]
    since = current.since or current.effective_from
    held = Outcome(
        current.level,
        "held",
        current.effective_from,
        current.valid_until,
        since,
        (validity.rule,),
    )
    if current.valid_until is None:
        # An imported level without an end never comes up for re-evaluation: it can only rise.
        if rated and new_rank > cur_rank and not hold:
            return Outcome(computed, "raised", start, new_end, start, (validity.rise_rule,))
        return held
    if month < reevaluation_month(validity, current.valid_until):
        if hold:
            return held._replace(notes=("not_reevaluated",))
        if rated and new_rank > cur_rank:
            return Outcome(computed, "raised", start, new_end, start, (validity.rise_rule,))
        return held

    # Re-evaluation (the last month of a star, the month before a card's expiry month).
    old_end = current.valid_until
    renewed_end = renewal_end(validity, old_end)
    after = max(start, old_end + _DAY)
    if rated and new_rank > cur_rank:
        # C4 (T2.6): a rise restarts the 12 months from the rise, in the re-evaluation month
        # too (silver expiring 2013-03-08, gold on 2013-02-05 → gold expiring 2014-02-08).
        return Outcome(computed, "raised", start, new_end, start, (validity.rise_rule, validity.rule))
    if rated and new_rank == cur_rank:
        return Outcome(computed, "renewed", after, renewed_end, since, (validity.rule,))
    if rated and new_rank > 0:
        return Outcome(computed, "lowered", after, renewed_end, after, (validity.rule,))
    return Outcome(bottom, "expired", old_end + _DAY, None, None, (validity.rule,))


def _monthly(
    validity: Validity,
    scheme: str,
    rated: bool,
    computed: str,
    live: Assignment | None,
    start: date,
) -> Outcome:
    """T4/T5 [assumption]: each evaluation replaces the level from ``start``.

    C5: with ``downgrade = false`` (T4 membership) a level only rises: figures that give
    less, or none at all, hold the level in force while the customer stays.
    """
    ranks = RANK[scheme]
    bottom = _bottom(scheme)
    rules = (validity.rule,)
    cur_rank = 0 if live is None else ranks[live.level]
    if live is not None and not validity.downgrade and (not rated or ranks[computed] < cur_rank):
        since = live.since or live.effective_from
        return Outcome(live.level, "held", live.effective_from, live.valid_until, since, rules)
    if not rated:
        change = "expired" if live is not None else "not_rated"
        return Outcome(bottom, change, start, None, None, rules)
    new_rank = ranks[computed]
    if new_rank == cur_rank:
        if live is not None:
            since = live.since or live.effective_from
            return Outcome(computed, "unchanged", live.effective_from, None, since, rules)
        return Outcome(computed, "unchanged", start, None, None, rules)
    if new_rank > cur_rank:
        return Outcome(computed, "new" if cur_rank == 0 else "raised", start, None, start, rules)
    return Outcome(computed, "lowered", start, None, start if new_rank else None, rules)
