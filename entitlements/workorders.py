"""W1–W6: the follow-up work order of a postpaid reactivation, as a state machine.

Statuses: ``new`` (at the city branch) → ``dispatched`` (at a county, with a tracker) →
``paid`` | ``overdue`` → ``resuspended``; any open status → ``closed`` by an admin with
a note. ``remind`` is an event that leaves the status as it is (W3).

Payment can arrive before the order is dispatched, so ``paid`` (and ``overdue`` when
the window ends first) are accepted from ``new`` as well as ``dispatched``; an overdue
customer who pays before the city suspends the number again goes to ``paid``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

from entitlements.errors import WorkOrderError
from entitlements.model import WORK_ORDER_EVENTS
from entitlements.policy import Policy

Status = Literal["new", "dispatched", "paid", "overdue", "resuspended", "closed"]
Event = Literal["dispatch", "remind", "paid", "overdue", "resuspend", "close"]

STATUSES: Final[tuple[str, ...]] = ("new", "dispatched", "paid", "overdue", "resuspended", "closed")
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
}

#: The rule each event implements.
EVENT_RULES: Final[dict[str, str]] = {
    "dispatch": "W2",
    "remind": "W3",
    "paid": "W4",
    "overdue": "W4",
    "resuspend": "W4",
    "close": "W6",
}


def apply_event(
    status: str,
    event: str,
    *,
    county_code: str | None = None,
    tracker: str | None = None,
    note: str | None = None,
    actor_role: str | None = None,
) -> str:
    """W2–W6: the status after ``event``; ``WorkOrderError`` for an illegal one.

    ``dispatch`` needs the county branch and the person tracking the order; ``close``
    needs an admin (``actor_role="admin"`` when a role is given) and a note.
    """
    if status not in STATUSES:
        raise WorkOrderError(f"unknown status {status!r}", code="invalid_request", status=status)
    if event not in EVENTS:
        raise WorkOrderError(f"unknown event {event!r}", code="invalid_request", event=event)
    new = TRANSITIONS.get((status, event))
    if new is None:
        raise WorkOrderError(
            f"a {status} order cannot take the event {event!r}",
            code="invalid_transition",
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
    """W4: whether an unpaid order should take the ``overdue`` event now."""
    return status in ("new", "dispatched") and now >= deadline


def events_allowed(policy: Policy, level: str) -> frozenset[str]:
    """W2–W5: the events staff of a ``level`` branch (``city``, ``county``) may record.

    Policy data (``[work_orders.branch_events]``); a level the policy does not list —
    or no branch at all — records nothing. Admins are not branch staff: they may record
    every event, and only they close (W6, checked by ``apply_event``).
    """
    return policy.work_orders.branch_events.get(level, frozenset())
