"""The demo province is realistic and deterministic."""

from __future__ import annotations

from datetime import date

import asyncpg

from gateway.batch import demo
from gateway.services.identity import password_matches

TODAY = date(2026, 11, 26)


async def test_demo_province_has_every_kind_of_customer(conn: asyncpg.Connection) -> None:
    summary = await demo.load(conn, 3000, seed=7, today=TODAY, show_progress=False)
    assert summary.subscribers == 3000
    q = conn.fetchval
    assert await q("SELECT count(*) FROM branches WHERE level = 'city'") >= 3
    assert await q("SELECT count(*) FROM branches WHERE level = 'county'") >= 6
    assert set(await q("SELECT array_agg(DISTINCT service_type) FROM subscribers")) == {
        "mobile",
        "fixed",
        "broadband",
    }
    assert set(await q("SELECT array_agg(DISTINCT network) FROM subscribers WHERE network IS NOT NULL")) == {
        "2g",
        "3g",
        "4g",
        "5g",
    }
    assert set(await q("SELECT array_agg(DISTINCT payment_mode) FROM subscribers")) == {
        "prepaid",
        "postpaid",
    }
    flags = set(await q("SELECT array_agg(DISTINCT f) FROM subscribers, unnest(flags) f"))
    assert flags == {
        "data_card", "test", "public_free", "employee", "wo_family", "group", "public_phone",
        "vip_guest", "loyal", "sms_card_2g", "high_data_2g", "employee_2g",
    }  # fmt: skip
    assert await q("SELECT count(DISTINCT lucky_class) FROM subscribers") == 3
    assert await q("SELECT count(*) FROM subscribers WHERE contract_plan IS NOT NULL") > 0
    # arrears: suspended customers with one and with two or more unpaid months
    arrears = await conn.fetch(
        """SELECT s.msisdn, count(*) FILTER (WHERE b.paid_fen < b.billed_fen) AS unpaid
           FROM subscribers s JOIN bills b USING (msisdn) WHERE s.status = 'suspended'
           GROUP BY s.msisdn"""
    )
    unpaid = {r["unpaid"] for r in arrears}
    assert 1 in unpaid and any(u >= 2 for u in unpaid)
    # ≥ 13 months of bills for long-tenured customers, new customers with few
    months = await q("SELECT max(c) FROM (SELECT count(*) c FROM bills GROUP BY msisdn) x")
    assert months >= 13
    assert await q("SELECT count(*) FROM subscribers WHERE joined_on > $1::date - 200", TODAY) > 0
    # ARPU spread: most under 100 yuan, a tail above 450
    avg = await conn.fetch("SELECT avg(billed_fen) a FROM bills GROUP BY msisdn")
    under_100 = sum(1 for r in avg if r["a"] < 10000) / len(avg)
    assert under_100 > 0.6
    assert any(r["a"] > 45000 for r in avg)
    assert await q("SELECT count(*) FROM tier_assignments WHERE source = 'import'") > 0
    assert await q("SELECT count(*) FROM api_tokens WHERE demo") == len(demo.DEMO_TOKENS) + len(
        demo.DEMO_AGENT_TOKENS
    )
    assert await q("SELECT count(*) FROM agents") == len(demo.DEMO_AGENTS)  # rule A1
    # rule H2, rule H3, rule H7: passwords (a tenth initial), managers, two callers of their own
    initial = await q("SELECT count(*) FILTER (WHERE password_initial) FROM subscribers")
    assert 150 < initial < 450
    assert await q("SELECT count(*) FROM customer_managers") > 0
    assert await q("SELECT count(*) FROM subscribers WHERE manager_id IS NOT NULL") > 0
    callers = await demo.demo_passwords(conn)
    assert sorted((p, i) for _, p, i in callers) == [("135790", False), ("802468", True)]
    for msisdn, password, _ in callers:
        stored = await q("SELECT password_hash FROM subscribers WHERE msisdn = $1", msisdn)
        assert await password_matches(stored, password)


async def test_same_seed_same_province(conn: asyncpg.Connection) -> None:
    first, _ = demo.generate(500, seed=3, today=TODAY)
    second, _ = demo.generate(500, seed=3, today=TODAY)
    other, _ = demo.generate(500, seed=4, today=TODAY)
    assert first == second
    assert first != other
