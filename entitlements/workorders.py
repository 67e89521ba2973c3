"""W1–W6: the follow-up work order of a postpaid reactivation, as a state machine.

Statuses: ``new`` (at the city branch) → ``dispatched`` (at a county, with a tracker) →
``paid`` | ``overdue`` → ``resuspended``; any open status → ``closed`` by an admin with
a note. ``remind`` is an event that leaves the status as it is (W3).

Payment can arrive before the order is dispatched, so ``paid`` (and ``overdue`` when
the window ends first) are accepted from ``new`` as well as ``dispatched``; an overdue
customer who pays before the city suspends the number again goes to ``paid``.

H9: the city branch controls the window: ``extend`` moves the deadline of an open order
(an overdue one goes back to where it was: ``dispatched`` with a tracker, else ``new``),
and ``resuspend`` is allowed at any time an order is open.

H8: the two VIP-fulfilment kinds (``manager_assignment``, ``card_issue``) go
``new`` → ``done`` | ``overdue`` (and ``overdue`` → ``done`` when done late); ``done`` on a
manager assignment names the manager.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Final, Literal

from entitlements.errors import WorkOrderError
from entitlements.model import WORK_ORDER_EVENTS
from entitlements.months import SHANGHAI, Month
from entitlements.policy import Policy

Status = Literal["new", "dispatched", "paid", "overdue", "resuspended", "closed", "done"]
Event = Literal["dispatch", "remind", "extend", "paid", "overdue", "resuspend", "done", "close"]

STATUSES: Final[tuple[str, ...]] = ("new", "dispatched", "paid", "overdue", "resuspended", "closed", "done")
#: H8: work-order kinds; the first is the reactivation follow-up of W1–W6.
KINDS: Final[tuple[str, ...]] = ("reactivation_followup", "manager_assignment", "card_issue")
FOLLOWUP: Final = "reactivation_followup"
FULFILMENT_KINDS: Final[tuple[str, ...]] = ("manager_assignment", "card_issue")
EVENTS: Final[tuple[str, ...]] = WORK_ORDER_EVENTS
#: Statuses in which the order still waits for something to happen.
OPEN_STATUSES: Final[frozenset[str]] = frozenset({"new", "dispatched", "overdue"})

#: (status, event) → new status; every pair not listed is an illegal transition.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("new", "dispatch"): "dispatched",  # W2
    ("dispatched", "remind"): "dispatched",  # W3
    ("overdue", "remind"): "overdue",  # W3
    ("new", "paid"): "paid",  # W4
    ("dispatched", "paid"): "paid",  # W4
    ("overdue", "paid"): "paid",  # W4: paid before the number was suspended again
    ("new", "overdue"): "overdue",  # W4
    ("dispatched", "overdue"): "overdue",  # W4
    ("overdue", "resuspend"): "resuspended",  # W4
    ("new", "close"): "closed",  # W6
    ("dispatched", "close"): "closed",  # W6
    ("paid", "close"): "closed",  # W6
    ("overdue", "close"): "closed",  # W6
    ("resuspended", "close"): "closed",  # W6
    ("new", "extend"): "new",  # H9
    ("dispatched", "extend"): "dispatched",  # H9
    ("overdue", "extend"): "dispatched",  # H9: back where it was (``new`` without a tracker)
    ("new", "resuspend"): "resuspended",  # H9: the city may suspend again at any time
    ("dispatched", "resuspend"): "resuspended",  # H9
}

#: H8: (status, event) → new status for the fulfilment kinds.
FULFILMENT_TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    ("new", "done"): "done",  # H8
    ("overdue", "done"): "done",  # H8: done late
    ("new", "overdue"): "overdue",  # H8: past the month's last day
    ("overdue", "remind"): "overdue",
    ("new", "remind"): "new",
    ("new", "close"): "closed",  # W6
    ("overdue", "close"): "closed",  # W6
    ("done", "close"): "closed",  # W6
}

#: The rule each event implements.
EVENT_RULES: Final[dict[str, str]] = {
    "dispatch": "W2",
    "remind": "W3",
    "paid": "W4",
    "overdue": "W4",
    "resuspend": "W4",
    "close": "W6",
    "extend": "H9",
    "done": "H8",
}


def apply_event(
    status: str,
    event: str,
    *,
    county_code: str | None = None,
    tracker: str | None = None,
    note: str | None = None,
    actor_role: str | None = None,
    kind: str = FOLLOWUP,
    hours: int | None = None,
    max_hours: int = 72,
    manager_id: int | None = None,
) -> str:
    """W2–W6, H8, H9: the status after ``event``; ``WorkOrderError`` for an illegal one.

    ``dispatch`` needs the county branch and the person tracking the order; ``close``
    needs an admin (``actor_role="admin"`` when a role is given) and a note; ``extend``
    needs ``hours`` in 1..``max_hours`` (H9); ``done`` on a ``manager_assignment`` needs
    the manager (H8).
    """
    if kind not in KINDS:
        raise WorkOrderError(f"unknown work-order kind {kind!r}", code="invalid_request")
    if status not in STATUSES:
        raise WorkOrderError(f"unknown status {status!r}", code="invalid_request", status=status)
    if event not in EVENTS:
        raise WorkOrderError(f"unknown event {event!r}", code="invalid_request", event=event)
    table = TRANSITIONS if kind == FOLLOWUP else FULFILMENT_TRANSITIONS
    new = table.get((status, event))
    if new is None:
        raise WorkOrderError(
            f"a {status} {kind} order cannot take the event {event!r}",
            code="invalid_transition",
            status=status,
            event=event,
        )
    if event == "extend":
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= max_hours:
            raise WorkOrderError(
                f"extend needs hours between 1 and {max_hours} (H9)",
                code="invalid_request",
                status=status,
                event=event,
            )
        if status == "overdue" and not (tracker or "").strip():
            new = "new"  # H9: an undispatched order goes back to the city's queue
    if event == "done" and kind == "manager_assignment" and manager_id is None:
        raise WorkOrderError(
            "done on a manager assignment names the manager (manager_id, H8)",
            code="invalid_request",
            status=status,
            event=event,
        )
    if event == "dispatch" and (not (county_code or "").strip() or not (tracker or "").strip()):
        raise WorkOrderError(
            "dispatch needs the county branch and the tracker (W2)",
            code="invalid_request",
            status=status,
            event=event,
        )
    if event == "close":
        if actor_role is not None and actor_role != "admin":
            raise WorkOrderError(
                "only an admin closes an order (W6)", code="forbidden", status=status, event=event
            )
        if not (note or "").strip():
            raise WorkOrderError(
                "closing an order needs a note (W6)",
                code="invalid_request",
                status=status,
                event=event,
            )
    return new


def overdue_at(policy: Policy, granted_at: datetime, hours: int | None = None) -> datetime:
    """W4: when an unpaid order becomes overdue (the reactivation window's end)."""
    window = policy.work_orders.overdue_after_hours if hours is None else hours
    return granted_at + timedelta(hours=window)


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    """W4, H8: whether an open order should take the ``overdue`` event now."""
    return status in ("new", "dispatched") and now >= deadline


def extended_due(due_at: datetime, now: datetime, hours: int) -> datetime:
    """H9: the deadline after an ``extend`` of ``hours`` — counted from the old deadline,
    or from now when the window has already ended (an overdue order gets the hours it is
    given, not hours already past)."""
    return max(due_at, now) + timedelta(hours=hours)


def month_end_deadline(created: date) -> datetime:
    """H8: fulfilment orders are due by the last day of the month they were created in
    (S249 "月底之前"): the deadline is the first instant of the next month, Asia/Shanghai."""
    return datetime.combine((Month.of(created) + 1).first_day, time(0), tzinfo=SHANGHAI)


def events_allowed(policy: Policy, level: str) -> frozenset[str]:
    """W2–W5: the events staff of a ``level`` branch (``city``, ``county``) may record.

    Policy data (``[work_orders.branch_events]``); a level the policy does not list —
    or no branch at all — records nothing. Admins are not branch staff: they may record
    every event, and only they close (W6, checked by ``apply_event``).
    """
    return policy.work_orders.branch_events.get(level, frozenset())
