"""GET /v1/subscribers/{msisdn} — the agent's view of one customer — and
POST /v1/subscribers/{msisdn}/status — status events (admin)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any

import asyncpg
from aiohttp import web

from entitlements.money import format_fen
from entitlements.policy import Policy
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, READS, REDIS, SETTINGS
from gateway.http.loyalty import view_json as loyalty_json
from gateway.http.openapi import json_response, problem, register
from gateway.http.views import order_json
from gateway.logs import mask
from gateway.services import loyalty, subscribers
from gateway.services.reactivations import REFUSALS
from gateway.services.subscribers import STATUSES, CreditState, SubscriberView
from gateway.stores.queries.tiers import StoredEvaluation


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _profile(view: SubscriberView, reveal: bool) -> dict[str, Any]:
    row = view.profile
    out: dict[str, Any] = {
        "msisdn_masked": mask(row["msisdn"]),
        "service_type": row["service_type"],
        "network": row["network"],
        "payment_mode": row["payment_mode"],
        "plan_code": row["plan_code"],
        "brand": row["brand"],
        "status": row["status"],
        "joined_on": _iso(row["joined_on"]),
        "tenure_months": view.tenure_months,
        "city": {"code": row["city_code"], "name": row["city_name"]},
        "county": {"code": row["county_code"], "name": row["county_name"]} if row["county_code"] else None,
        "flags": sorted(row["flags"]),
        "lucky_class": row["lucky_class"],
        "contract_plan": row["contract_plan"],
        "suspensions": row["suspensions"],
        "birthday": _iso(row["birthday"]),
        "do_not_disturb": row["dnd"],
    }
    if reveal:
        out["msisdn"] = row["msisdn"]
    return out


def _evaluation(found: StoredEvaluation | None, policy: Policy) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "evaluated_month": found.evaluated_month.strftime("%Y-%m"),
        "level": found.level,
        "change": found.change,
        "effective_from": _iso(found.effective_from),
        "valid_until": _iso(found.valid_until),
        "data": found.explanation.to_dict(),
        "text_zh": found.explanation.render("zh", policy),
        "text_en": found.explanation.render("en", policy),
    }


def _credit(credit: CreditState | None) -> dict[str, Any] | None:
    """The latest prepaid credit as PostgreSQL records it (R4/R5)."""
    if credit is None:
        return None
    return {
        "reactivation_id": credit.reactivation_id,
        "limit_yuan": format_fen(credit.limit_fen),
        "used_yuan": format_fen(credit.used_fen),
        "remaining_yuan": format_fen(credit.remaining_fen),
        "expires_at": _iso(credit.expires_at),
        "active": credit.active,
    }


def _render(view: SubscriberView, policy: Policy, reveal: bool) -> dict[str, Any]:
    """The JSON of the agent's view."""
    row, tier, serving, routed = view.profile, view.tier, view.serving, view.routed
    preview, check, snap = view.preview, view.verification, view.snap
    return {
        "msisdn_masked": mask(view.msisdn),
        "known": True,
        "source": "database",
        "as_of": view.now.isoformat(),
        "profile": _profile(view, reveal),
        "tier": {
            "scheme": tier.scheme,
            "level": tier.level,
            "valid_until": _iso(tier.valid_until),
            "name_zh": policy.level_name(tier.scheme, tier.level, "zh"),
            "name_en": policy.level_name(tier.scheme, tier.level, "en"),
            "policy": serving.policy if serving else policy.name,
            "source": serving.source if serving else None,
            "effective_from": _iso(serving.effective_from) if serving else None,
            "since": _iso(serving.since) if serving else None,
        },
        "explanation": {
            "in_force": _evaluation(view.in_force, policy),
            "pending": _evaluation(view.pending, policy),
            "text_zh": "\n".join(view.explain_zh),
            "text_en": "\n".join(view.explain_en),
        },
        "queue": {"name": routed.queue, "priority": routed.priority, "rules": list(routed.rules)},
        "entitlements": [
            {
                "code": b.code,
                "value": b.value,
                "name_zh": b.name_zh,
                "name_en": b.name_en,
                "assumed": b.assumed,
                "beyond_standard": b.beyond_standard,
            }
            for b in view.benefits
        ],
        "manager": {
            "id": row["manager_id"],
            "name": row["manager_name"],
            "phone": row["manager_phone"],
            "city_code": row["manager_city"],
            "entitled": routed.has_manager,
        }
        if row["manager_id"] is not None
        else None,
        "account": {
            "status": snap.subscriber.status,
            "payment_mode": snap.subscriber.payment_mode,
            "arrears_months": snap.arrears_months,
            "outstanding_yuan": format_fen(view.outstanding_fen),
            "bills": [
                {
                    "month": b["month"],
                    "billed_yuan": format_fen(b["billed_fen"]),
                    "paid_yuan": format_fen(b["paid_fen"]),
                }
                for b in view.bills
            ],
        },
        "verification": {
            "password_set": row["password_set"],
            "remaining_attempts": check.remaining_attempts,
            "locked_until": _iso(check.locked_until),
        },
        "reactivation": {
            "eligible": preview.eligible,
            "code": preview.code,
            "mode": preview.mode,
            "credit_limit_yuan": format_fen(preview.credit_limit_fen) if preview.credit_limit_fen else None,
            "hours": preview.hours,
            "days": preview.days,
            "rules": list(preview.rules),
            "reason_zh": REFUSALS[preview.code][0] if preview.code else None,
            "reason_en": REFUSALS[preview.code][1] if preview.code else None,
            "grants_this_month": view.account.grants_this_month,
            "requires_verification": True,
        },
        "credit": _credit(view.credit),
        "reactivations": [
            {
                "id": h["id"],
                "mode": h["mode"],
                "tier": {"scheme": h["scheme"], "level": h["level"]},
                "channel": h["channel"],
                "actor": h["actor"],
                "granted_at": _iso(h["granted_at"]),
                "expires_at": _iso(h["expires_at"]),
                "credit_limit_yuan": format_fen(h["credit_limit_fen"]) if h["credit_limit_fen"] else None,
                "credit_used_yuan": format_fen(h["credit_used_fen"]) if h["credit_limit_fen"] else None,
                "work_order_id": h["work_order_id"],
                "work_order_status": h["work_order_status"],
            }
            for h in view.reactivations
        ],
        "work_orders": [order_json(o, full_number=reveal) for o in view.orders],
    }


async def get_subscriber(request: web.Request) -> web.Response:
    """Everything an agent needs about one customer, read from PostgreSQL."""
    principal = require(request, "agent")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    reveal = request.query.get("reveal", "") in ("1", "true", "yes")
    app = request.app
    policy = app[POLICY].current
    reads = app[READS]  # X2: a read-only view reads the replica; a reveal is audited on the primary

    def read(pool: asyncpg.Pool) -> Awaitable[SubscriberView]:
        return subscribers.view(
            pool, policy, msisdn, app[SETTINGS].clock(), principal=principal, reveal=reveal
        )

    view = await (read(app[PG]) if reveal else reads.run(read))
    extra = await reads.run(
        lambda pool: loyalty.view(pool, policy, view.snap, view.tier, view.today)
    )  # P2, P3, V1, V2
    return inputs.json({**_render(view, policy, reveal), **loyalty_json(extra, policy)})


async def post_status(request: web.Request) -> web.Response:
    """Record a status event; cancellation ends the level at once (T1.10, T2.7)."""
    principal = require(request, "admin")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    body = await inputs.json_object(request)
    status = inputs.choice(body, "status", STATUSES)
    note = inputs.text(body, "note", required=False)
    assert status is not None  # required
    app = request.app
    change = await subscribers.change_status(
        app[PG], app[REDIS], app[METRICS], app[POLICY].current, msisdn, status, note,
        actor=principal.actor, role=principal.role, now=app[SETTINGS].clock(),
    )  # fmt: skip
    return inputs.json(
        {
            "msisdn": msisdn,
            "status": change.status,
            "previous": change.before,
            "changed": change.changed,
            "levels_ended": change.levels_ended,
            "work_orders": change.orders_closed,
        }
    )


def setup(app: web.Application) -> None:
    """Register the routes."""
    app.router.add_get("/v1/subscribers/{msisdn}", get_subscriber)
    app.router.add_post("/v1/subscribers/{msisdn}/status", post_status)


_MSISDN_PARAM = {"name": "msisdn", "in": "path", "required": True, "schema": {"type": "string"}}
VIEW = {
    "type": "object",
    "required": [
        "msisdn_masked", "known", "profile", "tier", "explanation", "queue", "entitlements",
        "manager", "account", "verification", "reactivation", "credit", "reactivations", "work_orders",
    ],
    "properties": {
        "msisdn_masked": {"type": "string"},
        "known": {"type": "boolean"},
        "source": {"const": "database"},
        "as_of": {"type": "string", "format": "date-time"},
        "profile": {
            "type": "object",
            "description": "facts; `msisdn` (the full number) only with ?reveal=1, which is audited",
        },
        "tier": {
            "type": "object",
            "required": ["scheme", "level", "valid_until"],
            "properties": {
                "scheme": {"type": "string"},
                "level": {"type": "string"},
                "valid_until": {"type": ["string", "null"], "format": "date"},
                "name_zh": {"type": "string"},
                "name_en": {"type": "string"},
            },
        },
        "explanation": {
            "type": "object",
            "properties": {
                "in_force": {"type": ["object", "null"]},
                "pending": {"type": ["object", "null"]},
                "text_zh": {"type": "string"},
                "text_en": {"type": "string"},
            },
        },
        "queue": {"type": "object"},
        "entitlements": {"type": "array", "items": {"type": "object"}},
        "manager": {"type": ["object", "null"]},
        "account": {"type": "object"},
        "verification": {"type": "object"},
        "reactivation": {
            "type": "object",
            "required": ["eligible", "code", "mode", "credit_limit_yuan", "hours", "days"],
            "description": "the decision a verified request would get now (R1–R8)",
        },
        "credit": {"type": ["object", "null"]},
        "reactivations": {"type": "array", "items": {"type": "object"}},
        "work_orders": {"type": "array", "items": {"type": "object"}},
        "points": {
            "type": ["object", "null"],
            "description": "P2/P3: balance, redeemable, expiring_next_month, next_expiry, "
            "threshold_reached_on with its explanation, the catalogue and the latest redemptions "
            "(null: no points ledger)",
        },
        "services": {"type": "object", "description": "V1: every benefit, its yearly quota, what is left"},
        "clubs": {"type": "array", "items": {"type": "object"}, "description": "V2: every club, membership"},
    },
}  # fmt: skip
register(
    "/v1/subscribers/{msisdn}",
    "get",
    {
        "summary": "The agent's view: profile, tier with explanation, entitlements, manager, account, "
        "reactivation preview and history, open work orders",
        "parameters": [
            _MSISDN_PARAM,
            {
                "name": "reveal",
                "in": "query",
                "schema": {"enum": ["1"]},
                "description": "show the full number (audited)",
            },
        ],
        "responses": {
            "200": json_response("the view", VIEW),
            "400": problem("invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (role other than agent)"),
            "404": problem("unknown_subscriber"),
        },
    },
)
register(
    "/v1/subscribers/{msisdn}/status",
    "post",
    {
        "summary": "A status event (admin): active, suspended, cancelled (ends the level at once)",
        "parameters": [_MSISDN_PARAM],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"enum": list(STATUSES)}, "note": {"type": "string"}},
                    }
                }
            },
        },
        "responses": {
            "200": json_response(
                "recorded",
                {
                    "type": "object",
                    "required": ["msisdn", "status", "previous", "changed"],
                    "properties": {
                        "msisdn": {"type": "string"},
                        "status": {"enum": list(STATUSES)},
                        "previous": {"enum": list(STATUSES)},
                        "changed": {"type": "boolean"},
                        "levels_ended": {"type": "integer"},
                        "work_orders": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            ),
            "400": problem("invalid_request or invalid_number"),
            "401": problem("unauthorized"),
            "403": problem("forbidden (admin only)"),
            "404": problem("unknown_subscriber"),
            "409": problem("cancelled: a cancelled number's status is final"),
        },
    },
)
