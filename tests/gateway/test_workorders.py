"""Work orders over HTTP: the W2–W6 lifecycle through the engine's state machine, illegal
transitions, an append-only history, and branch scoping (W5)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from gateway.http.app import create_app
from gateway.settings import Settings
from tests.gateway import grants
from tests.gateway.grants import GOLD, OTHER, ClientFactory, Tokens

LY = "18612346003"  # a customer of the other city (洛阳)


async def new_order(client: Any, tokens: Tokens, msisdn: str = GOLD) -> int:
    status, body = await grants.reactivate(
        client, tokens.agent, f"k-{msisdn}", grants.reactivation_body(msisdn)
    )
    assert status == 201, body
    return int(body["work_order_id"])


async def event(client: Any, token: str, order_id: int, **body: Any) -> tuple[int, dict[str, Any]]:
    return await grants.call(client, "POST", f"/v1/work-orders/{order_id}/events", token, body)


async def test_the_lifecycle_of_an_order(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule W1, rule W2, rule W3, rule W4, rule W5, rule W6
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await new_order(client, tokens)
    status, body = await event(client, tokens.zz_city, order_id, kind="dispatch", county_code="HA-ZZ-ZM",
                               tracker="王伟", note="请跟进缴费")  # fmt: skip
    assert status == 201, body
    assert (body["status"], body["county_code"], body["tracker"]) == ("dispatched", "HA-ZZ-ZM", "王伟")
    status, body = await event(client, tokens.zz_county, order_id, kind="remind", note="已电话提醒")
    assert status == 201 and body["status"] == "dispatched"  # rule W3: a reminder keeps the status
    status, body = await event(client, tokens.zz_county, order_id, kind="paid", note="客户已缴费")
    assert status == 201 and body["status"] == "paid"
    status, body = await event(client, tokens.admin, order_id, kind="close", note="归档")
    assert status == 201 and body["status"] == "closed"
    history = [(e["kind"], e["from_status"], e["to_status"], e["note"]) for e in body["events"]]
    assert history == [
        ("created", None, "new", f"emergency reactivation #{body['reactivation_id']} (R10, W1)"),
        ("dispatch", "new", "dispatched", "请跟进缴费"),
        ("remind", "dispatched", "dispatched", "已电话提醒"),
        ("paid", "dispatched", "paid", "客户已缴费"),
        ("close", "paid", "closed", "归档"),
    ]
    actors = [e["actor"].split(":")[0] for e in body["events"]]
    assert actors == ["agent", "branch", "branch", "branch", "admin"]
    assert all(e["at"] for e in body["events"])
    # rule W5: the history is never rewritten
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("UPDATE work_order_events SET note = 'x'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM work_order_events")


ILLEGAL = [
    # rule W6
    pytest.param(
        "new", "remind", {}, 409, "invalid_transition", id="a new order cannot be reminded before dispatch"
    ),
    pytest.param(
        "new",
        "extend",
        {"hours": 73},
        400,
        "invalid_request",
        id="rule H9: an extension beyond 72 hours is refused",
    ),
    pytest.param(
        "paid",
        "dispatch",
        {"county_code": "HA-ZZ-ZM", "tracker": "x"},
        409,
        "invalid_transition",
        id="a paid order cannot be dispatched",
    ),
    pytest.param("closed", "remind", {}, 409, "invalid_transition", id="a closed order takes no more events"),
    pytest.param(
        "closed",
        "close",
        {"note": "again"},
        409,
        "invalid_transition",
        id="a closed order cannot be closed again",
    ),
    pytest.param(
        "dispatched",
        "dispatch",
        {"county_code": "HA-ZZ-ZM", "tracker": "x"},
        409,
        "invalid_transition",
        id="a dispatched order cannot be dispatched again",
    ),
    # rule W4
    pytest.param(
        "new", "overdue", {}, 409, "invalid_transition", id="an order is not overdue before its deadline"
    ),
    # rule W2
    pytest.param(
        "new",
        "dispatch",
        {"county_code": "HA-ZZ-ZM"},
        400,
        "invalid_request",
        id="dispatch needs the tracker",
    ),
    pytest.param(
        "new",
        "dispatch",
        {"county_code": "HA-LY-YS", "tracker": "x"},
        400,
        "invalid_request",
        id="dispatch only to a county of the order's city",
    ),
    # rule W6
    pytest.param("new", "close", {}, 400, "invalid_request", id="closing needs a note"),
    pytest.param("new", "fix", {}, 400, "invalid_request", id="an unknown event"),
]


@pytest.mark.parametrize(("status_before", "kind", "extra", "status", "code"), ILLEGAL)
async def test_illegal_events_are_refused(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens,
    status_before: str, kind: str, extra: dict[str, Any], status: int, code: str,
) -> None:  # fmt: skip
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await new_order(client, tokens)
    if status_before != "new":
        tracker = "x" if status_before == "dispatched" else None
        await conn.execute(
            "UPDATE work_orders SET status = $1, county_code = 'HA-ZZ-ZM', tracker = $2",
            status_before,
            tracker or "t",
        )
    got, body = await event(client, tokens.admin, order_id, kind=kind, **extra)
    assert (got, body["code"]) == (status, code), body
    assert body["status"] == status
    assert await conn.fetchval("SELECT status FROM work_orders") == status_before
    assert await conn.fetchval("SELECT count(*) FROM work_order_events") == 1  # only `created`


async def test_only_an_admin_closes_and_agents_only_read(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule W6
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await new_order(client, tokens)
    status, body = await event(client, tokens.zz_city, order_id, kind="close", note="done")
    assert status == 403 and body["code"] == "forbidden"
    status, body = await event(client, tokens.agent, order_id, kind="remind")
    assert status == 403 and body["code"] == "forbidden"
    status, body = await grants.call(client, "GET", f"/v1/work-orders/{order_id}", tokens.agent)
    assert status == 200 and "msisdn" not in body and body["msisdn_masked"] == "186****6001"


async def test_branch_scoping(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule W5: branch staff see only their own branch's orders; a city also its counties'
    await grants.customer(conn)
    await grants.customer(conn, OTHER)
    await grants.customer(conn, LY, city="HA-LY", county="HA-LY-YS")
    client = await aiohttp_client(create_app(settings))
    zz_dispatched, zz_new, ly_order = [await new_order(client, tokens, m) for m in (GOLD, OTHER, LY)]
    assert (
        await event(
            client, tokens.zz_city, zz_dispatched, kind="dispatch", county_code="HA-ZZ-ZM", tracker="t"
        )
    )[0] == 201

    async def ids(token: str, query: str = "") -> list[int] | int:
        status, body = await grants.call(client, "GET", f"/v1/work-orders{query}", token)
        return sorted(i["id"] for i in body["items"]) if status == 200 else status

    assert await ids(tokens.zz_city) == sorted([zz_dispatched, zz_new])
    assert await ids(tokens.zz_city, "?branch=HA-ZZ-ZM") == [zz_dispatched]  # its county
    assert await ids(tokens.zz_county) == [
        zz_dispatched
    ]  # dispatched to it; the new one is still at the city
    assert await ids(tokens.ly_city) == [ly_order]
    assert await ids(tokens.ly_county) == []
    assert await ids(tokens.admin) == sorted([zz_dispatched, zz_new, ly_order])
    assert await ids(tokens.agent, "?branch=HA-LY") == [ly_order]
    assert await ids(tokens.admin, "?status=new") == sorted([zz_new, ly_order])
    assert await ids(tokens.admin, "?status=dispatched,paid") == [zz_dispatched]
    assert await ids(tokens.zz_county, "?branch=HA-LY-YS") == 403
    assert await ids(tokens.zz_city, "?branch=HA-LY") == 403
    assert await ids(tokens.ivr) == 403
    assert await ids(tokens.admin, "?status=lost") == 400

    # a county token can neither read nor act on another county's order, nor the city's own
    for token, order_id in (
        (tokens.ly_county, zz_dispatched),
        (tokens.zz_county, zz_new),
        (tokens.zz_county, ly_order),
    ):
        status, body = await grants.call(client, "GET", f"/v1/work-orders/{order_id}", token)
        assert status == 404 and body["code"] == "not_found"
        assert (await event(client, token, order_id, kind="remind"))[0] == 404
    status, body = await grants.call(client, "GET", f"/v1/work-orders/{zz_dispatched}", tokens.zz_county)
    assert (
        status == 200
        and body["msisdn"] == GOLD
        and [e["kind"] for e in body["events"]] == ["created", "dispatch"]
    )
    assert (await grants.call(client, "GET", f"/v1/work-orders/{ly_order}", tokens.zz_city))[0] == 404
    # a county branch reminds, but dispatch and re-suspension are the city's (W2, W4)
    status, body = await event(client, tokens.zz_county, zz_dispatched, kind="overdue")
    assert status == 403
    assert (await grants.call(client, "GET", "/v1/work-orders/999999", tokens.admin))[0] == 404


async def test_an_order_past_its_deadline_can_be_marked_by_hand(
    aiohttp_client: ClientFactory, settings: Settings, conn: asyncpg.Connection, tokens: Tokens
) -> None:
    # rule W4: overdue, then the city suspends the number again
    await grants.customer(conn)
    client = await aiohttp_client(create_app(settings))
    order_id = await new_order(client, tokens)
    await conn.execute("UPDATE work_orders SET due_at = due_at - interval '3 days'")
    assert (await event(client, tokens.zz_city, order_id, kind="overdue", note="48小时未缴费"))[1][
        "status"
    ] == "overdue"
    status, body = await event(client, tokens.zz_city, order_id, kind="resuspend", note="已再次停机")
    assert status == 201 and body["status"] == "resuspended"
    assert await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", GOLD) == "suspended"
