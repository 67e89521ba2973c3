"""The agent page and the hotline services (SPEC §8) in a real browser: "own number" only on
the customer's own call, and the call's id travels with the request (H1); emergency stop
and restart (H5); the branch view with the work-order kind (H8) and extend (H9)."""

from __future__ import annotations

import asyncpg
from playwright.async_api import expect

from tests.agent import support
from tests.agent.conftest import Desk, Site, assert_clean, look_up, sign_in
from tests.agent.test_widget import AGENT


async def test_own_number_is_offered_only_on_the_customers_own_call(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule H1
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent, AGENT)
    # A call from the customer's own number: own number is offered, and it verifies.
    await site.connect_call(support.ACTIVE_FOUR, "call-own", AGENT)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7002")
    await expect(page.locator("#method-own")).to_be_enabled()
    await expect(page.locator("#method-own")).to_be_checked()
    # During that call the customer asks about another number: only the password verifies.
    await look_up(watched, support.SUSPENDED_FIVE)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7001")
    await expect(page.locator("#method-own")).to_be_disabled()
    await expect(page.locator("#method-password")).to_be_checked()
    # A call from another number about this customer: still no own number.
    await site.connect_call(support.ONE_STAR, "call-other", AGENT)
    await look_up(watched, support.SUSPENDED_FIVE)
    await expect(page.locator("#method-own")).to_be_disabled()
    assert_clean(watched)


async def test_emergency_stop_on_the_own_call_and_restart_with_the_password(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule H5, rule H1: the stop goes with the call's id; the restart needs the password
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent, AGENT)
    await site.connect_call(support.ACTIVE_FOUR, "call-lost-phone", AGENT)
    await expect(page.get_by_test_id("status")).to_have_text("正常")
    await page.get_by_test_id("emergency-stop").click()
    await expect(page.get_by_test_id("emergency-result")).to_contain_text("已紧急停机")
    await expect(page.get_by_test_id("status")).to_have_text("紧急停机")
    assert (
        await conn.fetchval("SELECT status FROM subscribers WHERE msisdn = $1", support.ACTIVE_FOUR)
        == "stopped"
    )
    detail = await conn.fetchval("SELECT detail FROM audit_log WHERE action = 'emergency_stop'")
    assert detail["verification"] == "own_number" and detail["call"] == "matched"

    await page.locator("#method-password").check()
    await page.get_by_test_id("password").fill(support.PASSWORD)
    await page.get_by_test_id("emergency-restart").click()
    await expect(page.get_by_test_id("emergency-result")).to_contain_text("已复机")
    await expect(page.get_by_test_id("status")).to_have_text("正常")
    assert_clean(watched)


async def test_the_branch_view_shows_the_kind_and_extends_the_window(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule H8, rule H9
    status, granted = await site.call(
        "POST",
        "/v1/reactivations",
        site.tokens.agent,
        {
            "msisdn": support.ORDER_SUBJECT,
            "channel": "agent",
            "verification": {"method": "service_password", "password": support.PASSWORD},
        },
        **{"Idempotency-Key": "branch-view"},
    )
    assert status == 201, granted
    order_id = granted["work_order_id"]
    due = await conn.fetchval("SELECT due_at FROM work_orders WHERE id = $1", order_id)
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.zz_city)
    await page.get_by_test_id("order-kind").select_option("reactivation_followup")
    await page.get_by_test_id(f"open-order-{order_id}").click()
    await expect(page.get_by_test_id("order-kind-detail")).to_contain_text("紧急开机跟进")
    await page.get_by_test_id("event-extend").click()
    await page.get_by_test_id("event-hours").fill("24")
    await page.get_by_test_id("event-submit").click()
    await expect(page.get_by_test_id("order-message")).to_contain_text("已延长开机期限")
    later = await conn.fetchval("SELECT due_at FROM work_orders WHERE id = $1", order_id)
    assert (later - due).total_seconds() == 24 * 3600
    assert_clean(watched)
