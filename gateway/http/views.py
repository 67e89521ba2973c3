"""Response views shared by several routes: the JSON shape of a work order and its
events, and the schema of the per-call lookup answer (lookup, call memory, screen pop)."""

from __future__ import annotations

from typing import Any

from gateway.logs import mask
from gateway.stores.queries.workorders import OrderEvent, WorkOrder

#: The lookup answer (SPEC §6), as `GET /v1/ivr/lookup` and `GET /v1/calls/{id}` return it
#: and the screen pop carries it.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "msisdn",
        "known",
        "tier",
        "queue",
        "manager",
        "entitlements",
        "reactivation",
        "degraded",
        "source",
        "points",
    ],
    "properties": {
        "msisdn": {"type": ["string", "null"]},
        "known": {"type": "boolean"},
        "tier": {
            "type": ["object", "null"],
            "required": ["scheme", "level", "valid_until"],
            "properties": {
                "scheme": {"enum": ["star", "vip_card", "membership", "credit_star"]},
                "level": {"type": "string"},
                "valid_until": {"type": ["string", "null"], "format": "date"},
                "name_zh": {"type": "string"},
                "name_en": {"type": "string"},
            },
        },
        "queue": {
            "type": "object",
            "required": ["name", "priority"],
            "properties": {"name": {"enum": ["vip", "general"]}, "priority": {"type": "integer"}},
        },
        "skill": {
            "type": "object",
            "description": "A3: desk, the agent star the caller needs, [seconds waited, star] relaxations",
            "required": ["desk", "min_agent_star", "relax"],
            "properties": {
                "desk": {"enum": ["vip", "general"]},
                "min_agent_star": {"type": "integer", "minimum": 1, "maximum": 5},
                "relax": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                },
            },
        },
        "manager": {
            "type": ["object", "null"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "phone": {"type": "string"},
            },
        },
        "entitlements": {"type": "array", "items": {"type": "string"}},
        "reactivation": {
            "type": "object",
            "required": ["eligible", "mode", "credit_limit_yuan", "hours", "days", "code"],
            "properties": {
                "eligible": {"type": "boolean"},
                "mode": {"enum": ["postpaid_48h", "prepaid_credit", None]},
                "credit_limit_yuan": {"type": ["string", "null"]},
                "hours": {"type": ["integer", "null"]},
                "days": {"type": ["integer", "null"]},
                "code": {"type": ["string", "null"]},
            },
        },
        "points": {
            "type": ["object", "null"],
            "description": "P3: loyalty points (null: no points ledger)",
            "required": ["balance", "redeemable", "expiring_next_month"],
            "properties": {
                "balance": {"type": "integer", "minimum": 0},
                "redeemable": {"type": "integer", "minimum": 0},
                "expiring_next_month": {"type": "integer", "minimum": 0},
            },
        },
        "status": {"enum": ["active", "suspended", "cancelled", "stopped"]},
        "degraded": {"type": "boolean"},
        "source": {"enum": ["cache", "database", "default"]},
        "reason": {"type": "string"},
    },
}


def order_json(order: WorkOrder, *, full_number: bool) -> dict[str, Any]:
    """The list/read shape of an order (`msisdn` only for those who follow the customer up)."""
    out: dict[str, Any] = {
        "id": order.id,
        "kind": order.kind,
        "status": order.status,
        "city_code": order.city_code,
        "county_code": order.county_code,
        "msisdn_masked": mask(order.msisdn),
        "reactivation_id": order.reactivation_id,
        "manager_id": order.manager_id,
        "tracker": order.tracker,
        "due_at": order.due_at.isoformat(),
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "subscriber_county_code": order.subscriber_county,
    }
    if full_number:
        out["msisdn"] = order.msisdn
    return out


def event_json(event: OrderEvent) -> dict[str, Any]:
    """One entry of an order's history (W5)."""
    return {
        "id": event.id,
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": event.actor,
        "note": event.note,
        "at": event.at.isoformat(),
    }
