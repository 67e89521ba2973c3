"""Response views shared by several routes: the JSON shape of a work order and its
events, the schema of the per-call lookup answer (lookup, call memory, screen pop), and
`WholeResponse`, the lookup lane's way of sending it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.web_request import BaseRequest

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


class WholeResponse(web.Response):
    """A small answer written to the connection in one call, head and body together, when
    the connection allows it (HTTP/1.1 keep-alive, nothing of an earlier answer still
    waiting to be sent) — the bytes aiohttp would send (the status line, the response's
    headers, then Content-Length, Date and Server as aiohttp adds them) without its
    per-response machinery, ~15 µs of a lookup's ~140 (issue 22). Anything else (HTTP/1.0,
    Connection: close, a slow reader, a header with a line break) is written by aiohttp."""

    _whole = False

    async def prepare(self, request: BaseRequest) -> Any:
        """Write the whole answer now, or prepare it as aiohttp does."""
        transport = request.transport
        body = self.body
        if (
            self._whole
            or transport is None
            or request.version != HttpVersion11
            or not request.keep_alive
            or request.method == "HEAD"
            or transport.get_write_buffer_size()
            or not isinstance(body, bytes)
        ):
            return await super().prepare(request)
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        for name, value in self.headers.items():
            if "\r" in value or "\n" in value:
                return await super().prepare(request)  # aiohttp refuses it, as it should
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Date: {rfc822_formatted_time()}")
        lines.append(f"Server: {SERVER_SOFTWARE}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self._whole = True
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        """Nothing more once the whole answer is written."""
        if not self._whole:
            await super().write_eof(data)

    @property
    def keep_alive(self) -> bool | None:
        """The connection stays open after a whole answer (HTTP/1.1 keep-alive, checked)."""
        return True if self._whole else super().keep_alive
