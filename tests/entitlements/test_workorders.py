"""W2–W6 — the follow-up work order's state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from entitlements.errors import WorkOrderError
from entitlements.policy import POLICY_NAMES, load_policy
from entitlements.workorders import (
    EVENTS,
    STATUSES,
    TRANSITIONS,
    apply_event,
    events_allowed,
    extended_due,
    is_overdue,
    month_end_deadline,
    overdue_at,
)
from tests.entitlements.helpers import P2015

FIELDS: dict[str, Any] = {"county_code": "HA-ZZ-ZM", "tracker": "王丽", "note": "done", "actor_role": "admin"}


@pytest.mark.parametrize(
    ("status", "event", "new"),
    [
        pytest.param("new", "dispatch", "dispatched", id="the city dispatches a new order to a county"),
        pytest.param("dispatched", "remind", "dispatched", id="a reminder leaves a dispatched order be"),
        pytest.param("overdue", "remind", "overdue", id="a reminder leaves an overdue order as it is"),
        pytest.param("dispatched", "paid", "paid", id="payment settles a dispatched order"),
        pytest.param("new", "paid", "paid", id="payment before dispatch settles the order"),
        pytest.param("overdue", "paid", "paid", id="payment before resuspension settles the order"),
        pytest.param("dispatched", "overdue", "overdue", id="an unpaid dispatched order falls overdue"),
        pytest.param("new", "overdue", "overdue", id="an undispatched order can fall overdue"),
        pytest.param("overdue", "resuspend", "resuspended", id="the city suspends an overdue number again"),
        pytest.param("new", "close", "closed", id="an admin closes a new order"),
        pytest.param("dispatched", "close", "closed", id="an admin closes a dispatched order"),
        pytest.param("paid", "close", "closed", id="an admin closes a paid order"),
        pytest.param("overdue", "close", "closed", id="an admin closes an overdue order"),
        pytest.param("resuspended", "close", "closed", id="an admin closes a resuspended order"),
    ],
)  # fmt: skip
def test_legal_transitions(status: str, event: str, new: str) -> None:
    # rule W6 (rule W2 dispatch, rule W3 reminders, rule W4 paid / overdue / resuspended)
    assert apply_event(status, event, **FIELDS) == new


ILLEGAL = [(s, e) for s in STATUSES for e in EVENTS if (s, e) not in TRANSITIONS]


@pytest.mark.parametrize(
    ("status", "event"),
    [pytest.param(s, e, id=f"a {s} order cannot take {e}") for s, e in ILLEGAL],
)
def test_illegal_transitions(status: str, event: str) -> None:
    # rule W6
    with pytest.raises(WorkOrderError) as caught:
        apply_event(status, event, **FIELDS)
    assert caught.value.code == "invalid_transition"
    assert (caught.value.status, caught.value.event) == (status, event)


def test_closed_is_final_and_every_status_is_covered() -> None:
    # rule W6
    assert not [e for e in EVENTS if ("closed", e) in TRANSITIONS]
    assert len(ILLEGAL) + len(TRANSITIONS) == len(STATUSES) * len(EVENTS)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"tracker": "王丽"}, "invalid_request", id="dispatch needs the county"),
        pytest.param({"county_code": "HA-ZZ-ZM"}, "invalid_request", id="dispatch needs a tracker"),
        pytest.param({"county_code": " ", "tracker": "王丽"}, "invalid_request", id="a blank county is none"),
    ],
)
def test_dispatch_needs_county_and_tracker(kwargs: dict[str, Any], code: str) -> None:
    # rule W2
    with pytest.raises(WorkOrderError) as caught:
        apply_event("new", "dispatch", **kwargs)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"actor_role": "admin"}, "invalid_request", id="closing needs a note"),
        pytest.param({"actor_role": "branch", "note": "x"}, "forbidden", id="only an admin closes an order"),
    ],
)
def test_close_needs_an_admin_and_a_note(kwargs: dict[str, Any], code: str) -> None:
    # rule W6
    with pytest.raises(WorkOrderError) as caught:
        apply_event("dispatched", "close", **kwargs)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("status", "event"),
    [
        pytest.param("open", "paid", id="an unknown status is refused"),
        pytest.param("new", "escalate", id="an unknown event is refused"),
    ],
)
def test_unknown_codes(status: str, event: str) -> None:
    # rule W6
    with pytest.raises(WorkOrderError) as caught:
        apply_event(status, event)
    assert caught.value.code == "invalid_request"


def test_overdue_when_the_48_hour_window_ends() -> None:
    # rule W4 [assumption: the 48 h reactivation window]
    granted = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    deadline = overdue_at(P2015, granted)
    assert deadline == granted + timedelta(hours=48)
    assert overdue_at(P2015, granted, hours=24) == granted + timedelta(hours=24)
    assert not is_overdue("dispatched", deadline, deadline - timedelta(seconds=1))
    assert is_overdue("dispatched", deadline, deadline)
    assert is_overdue("new", deadline, deadline)
    assert not is_overdue("paid", deadline, deadline + timedelta(days=1))


# ------------------------------------------------------------------ who records what


@pytest.mark.parametrize("name", POLICY_NAMES)
@pytest.mark.parametrize(
    ("level", "event", "allowed"),
    [
        pytest.param("city", "dispatch", True, id="the city branch dispatches to a county"),
        pytest.param("county", "dispatch", False, id="a county branch does not dispatch"),
        pytest.param("county", "remind", True, id="the county branch reminds the customer"),
        pytest.param("city", "remind", True, id="the city branch may remind too"),
        pytest.param("county", "paid", True, id="the county branch records the payment"),
        pytest.param("city", "paid", True, id="the city branch records the payment"),
        pytest.param("city", "overdue", True, id="the city branch marks an unpaid order overdue"),
        pytest.param("county", "overdue", False, id="a county branch does not mark it overdue"),
        pytest.param("city", "resuspend", True, id="the city branch suspends the number again"),
        pytest.param("county", "resuspend", False, id="a county branch does not suspend"),
        pytest.param("city", "close", False, id="no branch closes an order, only an admin"),
        pytest.param("county", "close", False, id="a county branch does not close either"),
        pytest.param("province", "remind", False, id="a province branch is listed for nothing"),
        pytest.param("district", "paid", False, id="an unknown branch level records nothing"),
    ],
)
def test_events_each_branch_level_may_record(name: str, level: str, event: str, allowed: bool) -> None:
    # rule W2, rule W3, rule W4, rule W5 and rule W6: policy data [work_orders.branch_events].
    assert (event in events_allowed(load_policy(name), level)) is allowed


def test_branch_events_are_policy_data(tmp_path: Path) -> None:
    # rule W5: an override changes who may record what, without a release.
    path = tmp_path / "county-dispatch.toml"
    path.write_text('[work_orders.branch_events]\ncounty = ["remind", "paid", "dispatch"]\n', "utf-8")
    policy = load_policy("unicom-2015", path)
    assert events_allowed(policy, "county") == {"remind", "paid", "dispatch"}
    assert events_allowed(policy, "city") == events_allowed(P2015, "city")
    assert events_allowed(P2015, "county") == {"remind", "paid"}


# --- H8, H9 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "tracker", "new"),
    [
        pytest.param("new", None, "new", id="rule H9: extending a new order keeps it new"),
        pytest.param("dispatched", "王丽", "dispatched", id="rule H9: extending a dispatched order keeps it"),
        pytest.param("overdue", "王丽", "dispatched", id="rule H9: an extended overdue order goes back to its tracker"),
        pytest.param("overdue", None, "new", id="rule H9: an extended undispatched overdue order is new again"),
    ],
)  # fmt: skip
def test_extend_moves_the_window(status: str, tracker: str | None, new: str) -> None:
    assert apply_event(status, "extend", tracker=tracker, hours=24) == new


@pytest.mark.parametrize("hours", [0, 73, None, True, -1])
def test_extend_needs_1_to_72_hours(hours: Any) -> None:
    # rule H9
    with pytest.raises(WorkOrderError) as caught:
        apply_event("new", "extend", hours=hours)
    assert caught.value.code == "invalid_request"


@pytest.mark.parametrize("status", ["new", "dispatched", "overdue"])
def test_the_city_may_resuspend_at_any_time(status: str) -> None:
    # rule H9
    assert apply_event(status, "resuspend") == "resuspended"


def test_an_extension_counts_from_the_deadline_or_from_now() -> None:
    # rule H9
    due = datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert extended_due(due, due - timedelta(hours=5), 24) == due + timedelta(hours=24)
    assert extended_due(due, due + timedelta(hours=5), 24) == due + timedelta(hours=29)


@pytest.mark.parametrize("kind", ["manager_assignment", "card_issue"])
def test_fulfilment_orders_end_done_or_overdue(kind: str) -> None:
    # rule H8
    assert apply_event("new", "done", kind=kind, manager_id=7) == "done"
    assert apply_event("new", "overdue", kind=kind) == "overdue"
    assert apply_event("overdue", "done", kind=kind, manager_id=7) == "done"
    for event in ("dispatch", "paid", "resuspend", "extend"):
        with pytest.raises(WorkOrderError) as caught:
            apply_event("new", event, kind=kind, hours=1, county_code="X", tracker="Y")
        assert caught.value.code == "invalid_transition"


def test_done_on_a_manager_assignment_names_the_manager() -> None:
    # rule H8
    with pytest.raises(WorkOrderError) as caught:
        apply_event("new", "done", kind="manager_assignment")
    assert caught.value.code == "invalid_request"
    assert apply_event("new", "done", kind="card_issue") == "done"


def test_fulfilment_is_due_by_the_months_last_day() -> None:
    # rule H8: the deadline is the first instant of the next month, Asia/Shanghai
    deadline = month_end_deadline(date(2026, 11, 26))
    assert deadline.isoformat() == "2026-12-01T00:00:00+08:00"
    assert month_end_deadline(date(2026, 12, 1)).isoformat() == "2027-01-01T00:00:00+08:00"


def test_auto_resuspend_is_off_by_default() -> None:
    # rule H9
    for name in POLICY_NAMES:
        rules = load_policy(name).work_orders
        assert rules.auto_resuspend is False and rules.extend_max_hours == 72
