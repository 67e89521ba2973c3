"""The wallboard (A5) and the agent widget's own card (A2, A4) in a real browser (Debian's
chromium via Playwright): the figures appear and change when the ACD posts an event."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

try:
    from playwright.async_api import expect
except ImportError:  # pragma: no cover - the message is the point
    pytest.fail("the Python package playwright is missing: run scripts/bootstrap dev", pytrace=False)

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import agent_rating
from gateway.services.tokens import create_token
from tests.agent import support
from tests.agent.conftest import DESKTOP, TIMEOUT_MS, Desk, Site, Watched, assert_clean, screenshot

WALL: dict[str, int] = {"width": 1920, "height": 1080}


async def open_wallboard(desk: Desk, viewport: dict[str, int] = DESKTOP) -> Watched:  # type: ignore[assignment]
    """/wallboard/ in a fresh context, watched like the agent page."""
    watched = await desk.open(viewport)  # type: ignore[arg-type]  # a ViewportSize
    await watched.page.goto(desk.site.base + "/wallboard/")
    await watched.page.wait_for_selector("body[data-ready='true']")
    return watched


async def test_the_wallboard_page_needs_no_token(site: Site) -> None:
    # rule A5: no token for the page; the same strict security policy as the agent page
    async with site.http.get(site.base + "/wallboard/") as response:
        assert response.status == 200
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert '<script type="module" src="wallboard.js">' in await response.text()
    async with site.http.get(site.base + "/wallboard", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/wallboard/"
    async with site.http.get(site.base + "/v1/queue/stats") as response:
        assert response.status == 401  # the data needs one


async def test_the_wallboard_shows_each_desk_and_follows_the_events(desk: Desk, site: Site) -> None:
    # rule A5: live over SSE, the service level against 85 %, zh by default with an English switch;
    # large type on a wall screen
    watched = await open_wallboard(desk, WALL)
    page = watched.page
    await expect(page.locator("h1")).to_have_text("服务水平看板")
    await page.get_by_test_id("token").fill(site.tokens.agent)
    await page.get_by_test_id("signin").click()
    await expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    await expect(page.get_by_test_id("desk-vip")).to_contain_text("VIP专席")
    await expect(page.get_by_test_id("sl-vip")).to_have_text("—")  # nothing offered yet
    await expect(page.get_by_test_id("waiting-vip")).to_have_text("0")

    status, _ = await site.call(
        "POST", "/v1/queue/calls", site.tokens.ivr, {"call_id": "w1", "ani": support.SUSPENDED_FIVE}
    )
    assert status == 201
    await expect(page.get_by_test_id("waiting-vip")).to_have_text("1", timeout=TIMEOUT_MS)
    status, _ = await site.call("POST", "/v1/queue/calls/w1/events", site.tokens.ivr, {"kind": "answered"})
    assert status == 200
    await expect(page.get_by_test_id("sl-vip")).to_have_text("100.0%", timeout=TIMEOUT_MS)
    await expect(page.get_by_test_id("waiting-vip")).to_have_text("0")
    await expect(page.get_by_test_id("offered-vip")).to_have_text("1")
    await expect(page.get_by_test_id("desk-vip")).to_have_attribute("data-meets", "true")
    await expect(page.get_by_test_id("interval-vip")).to_contain_text("服务水平 100.0%")
    # A second call abandoned after 30 s: one of two within 20 s, below the 85 % line.
    await site.call("POST", "/v1/queue/calls", site.tokens.ivr,
                    {"call_id": "w2", "ani": support.ACTIVE_FOUR, "enqueued_at": "2026-11-26T09:59:30+08:00"})  # fmt: skip
    await site.call("POST", "/v1/queue/calls/w2/events", site.tokens.ivr, {"kind": "abandoned"})
    await expect(page.get_by_test_id("sl-vip")).to_have_text("50.0%", timeout=TIMEOUT_MS)
    await expect(page.get_by_test_id("desk-vip")).to_have_attribute("data-meets", "false")
    await expect(page.get_by_test_id("abandon-vip")).to_have_text("50.0%")
    big = await page.get_by_test_id("sl-vip").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= 80  # readable across a room on a 1920-pixel screen
    await screenshot(watched, "wallboard")

    await page.get_by_test_id("lang-switch").click()
    await expect(page.locator("h1")).to_have_text("Service-level wallboard")
    await expect(page.get_by_test_id("desk-vip")).to_contain_text("VIP desk")
    await expect(page.get_by_test_id("interval-vip")).to_contain_text("service level 50.0%")
    assert_clean(watched)


async def test_the_wallboard_works_on_a_laptop_and_refuses_a_bad_token(desk: Desk, site: Site) -> None:
    # rule A5: a laptop screen stacks what it cannot fit; a refused token says so
    watched = await open_wallboard(desk)
    page = watched.page
    await page.get_by_test_id("token").fill("cg_agent_not_a_real_token_000000000000000")
    await page.get_by_test_id("signin").click()
    await expect(page.get_by_test_id("signin-error")).to_have_text("令牌无效、已吊销或无权查看看板。")
    await page.get_by_test_id("token").fill(site.tokens.ivr)
    await page.get_by_test_id("signin").click()
    await expect(page.get_by_test_id("desk-general")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= DESKTOP["width"]  # nothing runs off the side
    assert watched.foreign == []


async def test_the_agent_card_shows_the_star_switches_state_and_takes_the_next_call(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule A1 (a bound token is its agent), rule A2 (the star with its explanation) and rule A4
    # (state switch, next call: the chosen caller pops on the screen)
    await conn.execute(
        "INSERT INTO agents (id, name, branch_code, desks, star) VALUES ('A2001', '陈静', 'HA-ZZ', '{vip,general}', 3)"
    )
    await conn.execute(
        """INSERT INTO qa_evaluations (agent_id, evaluated_on, attitude, accuracy, speed, skill, teamwork)
           VALUES ('A2001', '2026-10-15', 90, 85, 88, 86, 88), ('A2001', '2026-10-28', 92, 80, 85.5, 90, 85)"""
    )
    await agent_rating.rate_month(conn, load_policy("unicom-2015"), Month.parse("2026-10"))
    _, token = await create_token(conn, "agent", name="A2001", agent_id="A2001")
    assert date(2026, 11, 1) <= support.TODAY

    watched = await desk.open()
    page = watched.page
    await page.get_by_test_id("token").fill(token)
    await page.get_by_test_id("signin").click()  # no agent id typed: the token says whose it is
    await expect(page.get_by_test_id("who")).to_contain_text("A2001")
    card = page.get_by_test_id("agent-desk")
    await expect(card).to_be_visible()
    await expect(page.get_by_test_id("agent-star")).to_contain_text("四星坐席")
    await expect(page.get_by_test_id("agent-star-explanation")).to_contain_text("加权平均分 86.95 分")
    await expect(page.get_by_test_id("agent-star-explanation")).to_contain_text("自2026年11月1日起生效（A2）")
    await expect(page.get_by_test_id("agent-state")).to_have_text("离线")
    await expect(page.get_by_test_id("next-call")).to_be_disabled()

    await page.get_by_test_id("state-available").click()
    await expect(page.get_by_test_id("agent-state")).to_have_text("空闲")
    await expect(page.get_by_test_id("state-available")).to_have_attribute("aria-pressed", "true")
    await page.get_by_test_id("next-call").click()
    await expect(page.get_by_test_id("next-result")).to_have_text("目前没有您可以接的来电。")

    status, _ = await site.call(
        "POST", "/v1/queue/calls", site.tokens.ivr, {"call_id": "n1", "ani": support.SUSPENDED_FIVE}
    )
    assert status == 201
    await page.get_by_test_id("next-call").click()
    await expect(page.get_by_test_id("next-result")).to_contain_text("已分配来电 n1")
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7001", timeout=TIMEOUT_MS)
    await expect(page.get_by_test_id("agent-state")).to_have_text("通话中")
    await expect(page.get_by_test_id("next-call")).to_be_disabled()
    await site.call("POST", "/v1/queue/calls/n1/events", site.tokens.ivr, {"kind": "answered"})
    await site.call("POST", "/v1/queue/calls/n1/events", site.tokens.ivr, {"kind": "completed"})
    await page.get_by_test_id("state-wrap_up").click()
    await expect(page.get_by_test_id("agent-state")).to_have_text("话后处理")
    await screenshot(watched, "agent-desk")

    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("agent-star")).to_contain_text("four-star agent")
    await expect(page.get_by_test_id("agent-star-explanation")).to_contain_text("weighted mean 86.95")
    await expect(page.get_by_test_id("agent-state")).to_have_text("Wrap-up")
    assert_clean(watched)


async def test_an_unbound_token_with_a_free_form_id_keeps_the_old_widget(desk: Desk, site: Site) -> None:
    # rule A1: an agent id that is no agent of the directory shows no agent card (screen pop only)
    from tests.agent.conftest import sign_in

    watched = await desk.open()
    await sign_in(watched, site.tokens.agent, "DESK-9")
    await expect(watched.page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    await expect(watched.page.get_by_test_id("agent-desk")).to_be_hidden()
    assert_clean(watched)
