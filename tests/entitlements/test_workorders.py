"""W2–W6 — the follow-up work order's state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entitlements.errors import WorkOrderError
from entitlements.policy import POLICY_NAMES, load_policy
from entitlements.workorders import (
    EVENTS,
    STATUSES,
    TRANSITIONS,
    apply_event,
    events_allowed,
    is_overdue,
    overdue_at,
)
from tests.entitlements.helpers import P2015

FIELDS = {"county_code": "HA-ZZ-ZM", "tracker": "王丽", "note": "done", "actor_role": "admin"}


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
def test_dispatch_needs_county_and_tracker(kwargs: dict[str, str], code: str) -> None:
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
def test_close_needs_an_admin_and_a_note(kwargs: dict[str, str], code: str) -> None:
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
