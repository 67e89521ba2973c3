"""GET /v1/subscribers/{msisdn} — the agent's view of one customer — and
POST /v1/subscribers/{msisdn}/status — status events (admin)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web

from entitlements.benefits import benefits
from entitlements.money import format_fen
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.reactivation import decide_reactivation
from entitlements.routing import route
from entitlements.tiers import tier_in_force
from entitlements.verification import check_verification
from gateway.cli.commands import explain_lines
from gateway.http import inputs
from gateway.http.auth import require
from gateway.http.keys import METRICS, PG, POLICY, REDIS, SETTINGS
from gateway.http.openapi import json_response, problem, register
from gateway.http.problems import ApiError
from gateway.http.routes.workorders import order_json
from gateway.logs import mask
from gateway.services import consistency, credit
from gateway.stores.queries import audit, snapshot, subscribers, tiers, workorders
from gateway.stores.queries.payments import UNPAID_ORDER_STATUSES, owed_fen
from gateway.stores.queries.reactivations import (
    REFUSALS,
    account_state,
    serving_tier,
    verification_state,
)
from gateway.stores.queries.subscribers import STATUSES


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _profile(row: dict[str, Any], reveal: bool, today: date) -> dict[str, Any]:
    joined: date = row["joined_on"]
    out: dict[str, Any] = {
        "msisdn_masked": mask(row["msisdn"]),
        "service_type": row["service_type"],
        "network": row["network"],
        "payment_mode": row["payment_mode"],
        "plan_code": row["plan_code"],
        "brand": row["brand"],
        "status": row["status"],
        "joined_on": _iso(joined),
        "tenure_months": Month.of(today) - Month.of(joined) + 1,  # T1.3: the joining month is month 1
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


def _explanation(rows: list[tiers.StoredEvaluation], today: date, policy: Policy) -> dict[str, Any]:
    def one(found: tiers.StoredEvaluation | None) -> dict[str, Any] | None:
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

    return {
        "in_force": one(next((r for r in rows if r.effective_from <= today), None)),
        "pending": one(next((r for r in rows if r.effective_from > today), None)),
    }


async def get_subscriber(request: web.Request) -> web.Response:
    """Everything an agent needs about one customer, read from PostgreSQL."""
    principal = require(request, "agent")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    reveal = request.query.get("reveal", "") in ("1", "true", "yes")
    app = request.app
    policy = app[POLICY]
    now = app[SETTINGS].clock()
    today = shanghai_today(now)
    async with app[PG].acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snap = await snapshot.load_one(conn, msisdn, today)
            row = await subscribers.profile(conn, msisdn)
            if snap is None or row is None:
                raise ApiError(404, "unknown_subscriber", "the number is not one of our subscribers")
            rows = await tiers.explanations(conn, msisdn, policy.name)
            bills = await subscribers.recent_bills(conn, msisdn)
            history = await subscribers.reactivation_history(conn, msisdn)
            orders = await workorders.search(
                conn, city_code=None, county_code=None, statuses=UNPAID_ORDER_STATUSES, msisdn=msisdn
            )
            lock = await verification_state(conn, msisdn)
        if reveal:
            await audit.record(
                conn, at=now, actor=principal.actor, role=principal.role, action="reveal",
                outcome="shown", msisdn=msisdn, detail={"view": "subscriber"},
            )  # fmt: skip
    tier = serving_tier(snap, policy, today)
    legacy = policy.transition.legacy_scheme if policy.transition else None
    serving = tier_in_force(snap.serving(policy.name, legacy), today)
    account = account_state(snap, today)
    preview = decide_reactivation(policy, tier, account, verified=True)
    routed = route(policy, tier)
    check = check_verification(policy, lock, now)
    latest_credit = next((h for h in history if h["mode"] == "prepaid_credit"), None)
    body: dict[str, Any] = {
        "msisdn_masked": mask(msisdn),
        "known": True,
        "source": "database",
        "as_of": now.isoformat(),
        "profile": _profile(row, reveal, today),
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
            **_explanation(rows, today, policy),
            "text_zh": "\n".join(explain_lines(snap, rows, policy, today, "zh")),
            "text_en": "\n".join(explain_lines(snap, rows, policy, today, "en")),
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
            for b in benefits(policy, tier)
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
            "outstanding_yuan": format_fen(owed_fen(snap)),
            "bills": [
                {
                    "month": b["month"],
                    "billed_yuan": format_fen(b["billed_fen"]),
                    "paid_yuan": format_fen(b["paid_fen"]),
                }
                for b in bills
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
            "grants_this_month": account.grants_this_month,
            "requires_verification": True,
        },
        "credit": _credit(latest_credit, now),
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
            for h in history
        ],
        "work_orders": [order_json(o, full_number=reveal) for o in orders],
    }
    return inputs.json(body)


def _credit(latest: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """The latest prepaid credit as PostgreSQL records it (R4/R5)."""
    if latest is None:
        return None
    limit, used = latest["credit_limit_fen"], latest["credit_used_fen"]
    return {
        "reactivation_id": latest["id"],
        "limit_yuan": format_fen(limit),
        "used_yuan": format_fen(used),
        "remaining_yuan": format_fen(max(limit - used, 0)),
        "expires_at": _iso(latest["expires_at"]),
        "active": now < latest["expires_at"] and used < limit,
    }


async def post_status(request: web.Request) -> web.Response:
    """Record a status event; cancellation ends the level at once (T1.10, T2.7)."""
    principal = require(request, "admin")
    msisdn = inputs.msisdn(request.match_info["msisdn"])
    body = await inputs.json_object(request)
    status = inputs.choice(body, "status", STATUSES)
    note = inputs.text(body, "note", required=False)
    assert status is not None  # required
    app = request.app
    redis, metrics, policy = app[REDIS], app[METRICS], app[POLICY]
    now = app[SETTINGS].clock()

    async def evict() -> bool:
        return await consistency.evict(redis, metrics, [msisdn], credit.state_key(msisdn))

    async with app[PG].acquire() as conn:
        change = await subscribers.change_status(
            conn, msisdn, status, note, actor=principal.actor, role=principal.role, now=now,
            before_commit=evict,
        )  # fmt: skip
        if change is None:
            raise ApiError(404, "unknown_subscriber", "the number is not one of our subscribers")
        await consistency.refresh(conn, redis, metrics, policy, [msisdn], shanghai_today(now))
        await consistency.evict(redis, metrics, [], credit.state_key(msisdn))
    if change.before != change.status:
        metrics.status_changes.labels(change.status).inc()
    return inputs.json(
        {
            "msisdn": msisdn,
            "status": change.status,
            "previous": change.before,
            "changed": change.before != change.status,
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
