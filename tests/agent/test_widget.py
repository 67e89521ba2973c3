"""The agents' desktop widget in a real browser (Debian's chromium via Playwright)."""

from __future__ import annotations

import re

import asyncpg
import pytest

try:
    from playwright.async_api import expect
except ImportError:  # pragma: no cover - the message is the point
    pytest.fail("the Python package playwright is missing: run scripts/bootstrap dev", pytrace=False)

from gateway.services import servicing
from gateway.services.reactivations import REFUSALS
from tests.agent import support
from tests.agent.conftest import (
    SIDE_PANEL,
    TIMEOUT_MS,
    Desk,
    Site,
    Watched,
    assert_clean,
    look_up,
    screenshot,
    sign_in,
)

AGENT = "A1001"
#: SPEC §6 "refusal codes".
SPEC_REFUSAL_CODES = {
    "not_entitled", "not_suspended", "monthly_limit", "arrears_too_long", "previous_unpaid",
    "identity_not_verified", "cancelled", "unknown_subscriber",
    # SPEC §8: rule H3, rule H5, rule H6
    "not_in_arrears", "initial_password", "already_stopped", "not_stopped", "not_stoppable",
}  # fmt: skip


async def test_screen_pop_shows_the_caller_and_keeps_the_previous_calls(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent, AGENT)
    await expect(page.get_by_test_id("calls-empty")).to_be_visible()

    await site.connect_call(support.SUSPENDED_FIVE, "call-1", AGENT)
    # The pop arrives by itself (no reload, no click); how fast is benchmark material, not a test's.
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7001", timeout=TIMEOUT_MS)
    await expect(page.get_by_test_id("tier-badge")).to_have_text("五星客户")
    await expect(page.get_by_test_id("status")).to_have_text("欠费停机")
    await expect(page.get_by_test_id("explanation")).to_contain_text(
        "综合价值 = ARPU得分 200 × 网龄得分 1.4 = 280"
    )
    await expect(page.get_by_test_id("benefits")).to_contain_text("移动业务紧急开机")
    await expect(page.get_by_test_id("manager")).to_contain_text("王丽")
    await expect(page.get_by_test_id("arrears")).to_contain_text("欠费 1 个月，共 200.00 元")
    await screenshot(watched, "screen-pop")

    # A new call replaces the caller on screen; the previous one stays in the history.
    await site.connect_call(support.ACTIVE_FOUR, "call-2", AGENT)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7002", timeout=TIMEOUT_MS)
    calls = page.locator("[data-testid='calls'] button.call")
    await expect(calls).to_have_count(2)
    await expect(calls.nth(0)).to_have_attribute("data-call-id", "call-2")
    await expect(calls.nth(0)).to_have_attribute("aria-current", "true")
    await calls.nth(1).click()
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7001")

    # A caller who is not a subscriber pops too, said plainly.
    await site.connect_call("18699999999", "call-3", AGENT)
    await expect(page.get_by_test_id("tier-badge")).to_have_text("非本网/未知来电", timeout=TIMEOUT_MS)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****9999")
    await expect(calls).to_have_count(3)
    await calls.nth(2).click()

    # The full number on demand, audited by the backend.
    await page.get_by_test_id("reveal").click()
    await expect(page.get_by_test_id("customer-number")).to_have_text(support.SUSPENDED_FIVE)
    reveals = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'reveal'")
    assert reveals == 1
    assert_clean(watched)


async def test_grant_flow_reactivates_a_suspended_customer_once_and_shows_the_work_order(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule R1, rule R2, rule R6, rule R9, rule R10, rule W1
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent)  # no agent id: look-up only
    await look_up(watched, "186 1234 7001")
    grant = page.get_by_test_id("grant")
    await expect(grant).to_contain_text("符合条件：可开机 48 小时")
    # Looked up by number, not called from it: only the service password can verify.
    await expect(page.locator("#method-own")).to_be_disabled()
    await expect(page.locator("#method-password")).to_be_checked()
    await expect(page.get_by_test_id("grant-button")).to_be_disabled()  # no password yet
    await page.get_by_test_id("password").fill(support.PASSWORD)
    # A double click sends one attempt with one Idempotency-Key: exactly one grant.
    await page.get_by_test_id("grant-button").dblclick()
    result = page.get_by_test_id("grant-result")
    await expect(result).to_contain_text("已办理紧急开机，有效至 2026-11-28 10:00")
    order_id = await conn.fetchval("SELECT id FROM work_orders WHERE msisdn = $1", support.SUSPENDED_FIVE)
    await expect(result).to_contain_text(f"已生成工单 #{order_id}")
    await expect(page.get_by_test_id("status")).to_have_text("正常")
    await expect(page.get_by_test_id("open-orders")).to_contain_text(f"工单 #{order_id}")
    await expect(page.get_by_test_id("open-orders")).to_contain_text("新建（市分）")
    await expect(page.get_by_test_id("reactivations")).to_contain_text("后付费开机48小时")
    assert (
        await conn.fetchval("SELECT count(*) FROM reactivations WHERE msisdn = $1", support.SUSPENDED_FIVE)
        == 1
    )
    assert (
        await conn.fetchval("SELECT count(*) FROM work_orders WHERE msisdn = $1", support.SUSPENDED_FIVE) == 1
    )
    keys = await conn.fetch("SELECT key FROM idempotency_keys WHERE scope LIKE 'reactivations:%'")
    assert len(keys) == 1 and keys[0]["key"].startswith("agent-")
    await screenshot(watched, "grant-granted")

    # A prepaid customer called from their own number: reactivation with temporary credit (R4).
    await sign_in_as_agent_with_pop(watched, site)
    await site.connect_call(support.PREPAID_FOUR, "call-prepaid", AGENT)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7004")
    await expect(page.locator("#method-own")).to_be_checked()
    await expect(page.get_by_test_id("grant-button")).to_have_text("办理紧急开机和临时授信")
    await page.get_by_test_id("grant-button").click()
    await expect(page.get_by_test_id("grant-result")).to_contain_text(
        "已办理紧急开机并授信 100.00 元，期限 3 天"
    )
    await expect(page.get_by_test_id("credit")).to_contain_text("额度 100.00 元，剩余 100.00 元")
    assert_clean(watched)


async def sign_in_as_agent_with_pop(watched: Watched, site: Site) -> None:
    """Sign out and in again with the agent id, so screen pops arrive."""
    await watched.page.get_by_test_id("signout").click()
    await sign_in(watched, site.tokens.agent, AGENT)


async def test_a_refusal_is_shown_in_plain_words(desk: Desk, site: Site) -> None:
    # rule R2, rule R1, rule R11
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent)
    await look_up(watched, support.ACTIVE_FOUR)
    await expect(page.get_by_test_id("preview")).to_contain_text(
        "该号码目前没有欠费停机，不需要紧急开机（R2）。"
    )
    await page.get_by_test_id("password").fill(support.PASSWORD)
    await page.get_by_test_id("password").press("Enter")  # Enter submits the grant form
    result = page.get_by_test_id("grant-result")
    await expect(result).to_have_attribute("data-code", "not_suspended")
    await expect(result).to_contain_text("该号码目前没有欠费停机，不需要紧急开机（R2）。")
    await expect(result).to_have_attribute("role", "alert")

    await look_up(watched, support.ONE_STAR)
    await page.get_by_test_id("password").fill(support.PASSWORD)
    await page.get_by_test_id("grant-button").click()
    await expect(page.get_by_test_id("grant-result")).to_contain_text(
        "客户当前的级别不享受紧急开机服务（R1）。"
    )
    await expect(page.get_by_test_id("raise")).to_contain_text("升至二星客户：ARPU每月需再增加12元")
    await screenshot(watched, "grant-refused")

    # Input errors are plain too: a malformed number, an unknown one.
    await page.get_by_test_id("lookup-number").fill("12345")
    await page.get_by_test_id("lookup-number").press("Enter")
    await expect(page.get_by_test_id("customer-error")).to_contain_text("号码格式不正确")
    await page.get_by_test_id("lookup-number").fill("18699999999")
    await page.get_by_test_id("lookup-number").press("Enter")
    await expect(page.get_by_test_id("customer-error")).to_contain_text("该号码不是本网用户。")
    assert_clean(watched)


async def test_wrong_passwords_count_down_then_lock_verification(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule R9
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent)
    await look_up(watched, support.LOCKABLE)
    attempts = page.get_by_test_id("attempts")
    await expect(attempts).to_have_text("服务密码还可尝试 5 次，输错过多将锁定。")
    for left in (4, 3, 2, 1):
        await page.get_by_test_id("password").fill("000000")
        await page.get_by_test_id("grant-button").click()
        await expect(page.get_by_test_id("remaining")).to_have_text(f"服务密码错误，还可尝试 {left} 次。")
        await expect(attempts).to_have_text(f"服务密码还可尝试 {left} 次，输错过多将锁定。")
    await page.get_by_test_id("password").fill("000000")
    await page.get_by_test_id("grant-button").click()
    await expect(page.get_by_test_id("lock")).to_have_text("服务密码验证已锁定，至 2026-11-26 10:30 解锁。")
    await expect(attempts).to_have_text("服务密码验证已锁定，至 2026-11-26 10:30 解锁。")
    await expect(page.get_by_test_id("password")).to_be_disabled()
    await expect(page.get_by_test_id("grant-button")).to_be_disabled()
    await screenshot(watched, "password-locked")
    locked = await conn.fetchval(
        "SELECT locked_until FROM password_failures WHERE msisdn = $1", support.LOCKABLE
    )
    assert locked is not None
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 0
    assert_clean(watched)


async def test_a_city_branch_dispatches_its_work_order_to_one_of_its_counties(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule W2, rule W3, rule W5
    for msisdn, key in ((support.ORDER_SUBJECT, "k-order-1"), (support.SUSPENDED_FIVE, "k-order-2")):
        status, granted = await site.call(
            "POST", "/v1/reactivations", site.tokens.agent,
            {"msisdn": msisdn, "channel": "agent", "verification": {"method": "service_password", "password": support.PASSWORD}},
            **{"Idempotency-Key": key},
        )  # fmt: skip
        assert status == 201, granted
    first, second = await conn.fetch("SELECT id FROM work_orders ORDER BY id")
    order_id, raced_id = first["id"], second["id"]

    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.zz_city)
    await expect(page.get_by_test_id("who")).to_contain_text("分公司 · 郑州")
    await expect(page.locator("#agent-view")).to_be_hidden()
    table = page.get_by_test_id("orders-table")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await page.get_by_test_id(f"open-order-{order_id}").click()
    detail = page.get_by_test_id("order-detail")
    await expect(page.get_by_test_id("order-status")).to_have_text("新建（市分）")
    # Branch staff phone the customer: they see the full number.
    await expect(page.get_by_test_id("order-number")).to_have_text(support.ORDER_SUBJECT)
    # A city branch may dispatch, note payment, mark overdue; a county's actions are not offered here.
    await expect(page.get_by_test_id("event-dispatch")).to_be_visible()
    await expect(page.get_by_test_id("event-resuspend")).to_be_visible()  # rule H9: the city, at any time
    await expect(page.get_by_test_id("event-extend")).to_be_visible()  # rule H9

    await page.get_by_test_id("event-dispatch").click()
    dialog = page.get_by_test_id("event-dialog")
    await expect(dialog).to_be_visible()
    county = page.get_by_test_id("event-county")
    await expect(county).to_be_focused()
    options = await county.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert options == ["HA-ZZ-GY", "HA-ZZ-XZ", "HA-ZZ-ZM"]  # the city's counties, not Luoyang's
    await expect(county).to_have_value("HA-ZZ-ZM")  # the subscriber's own county first
    await page.get_by_test_id("event-submit").click()  # no tracker named
    await expect(page.get_by_test_id("dialog-error")).to_contain_text("请选择县分公司并填写跟进人。")
    await county.select_option("HA-ZZ-XZ")
    await page.get_by_test_id("event-tracker").fill("张伟")
    await page.get_by_test_id("event-note").fill("请今天联系客户")
    await page.get_by_test_id("event-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("order-message")).to_have_text(
        "已派发至 新郑（HA-ZZ-XZ），跟进人：张伟。"
    )
    await expect(page.get_by_test_id("order-status")).to_have_text("已派发（县分）")
    await expect(page.get_by_test_id("order-tracker")).to_have_text("张伟")
    await expect(page.get_by_test_id("order-events")).to_contain_text("派发")
    await expect(detail).to_contain_text("请今天联系客户")
    row = await conn.fetchrow("SELECT status, county_code, tracker FROM work_orders WHERE id = $1", order_id)
    assert row is not None and dict(row) == {
        "status": "dispatched",
        "county_code": "HA-ZZ-XZ",
        "tracker": "张伟",
    }

    # A reminder (W3): Escape closes the dialog without recording anything; then recorded.
    await page.get_by_test_id("event-remind").click()
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await page.get_by_test_id("event-remind").click()
    await page.get_by_test_id("event-note").fill("已电话提醒")
    await page.get_by_test_id("event-submit").click()
    await expect(page.get_by_test_id("order-message")).to_have_text(f"已记录催缴提醒（工单 #{order_id}）。")
    kinds = [
        r["kind"]
        for r in await conn.fetch(
            "SELECT kind FROM work_order_events WHERE order_id = $1 ORDER BY id", order_id
        )
    ]
    assert kinds == ["created", "dispatch", "remind"]
    await screenshot(watched, "branch-dispatched")

    # Someone else acts on the other order meanwhile: the page says so plainly.
    await page.get_by_test_id(f"open-order-{raced_id}").click()
    await expect(page.get_by_test_id("order-status")).to_have_text("新建（市分）")
    status, _ = await site.call(
        "POST", f"/v1/work-orders/{raced_id}/events", site.tokens.zz_city,
        {"kind": "dispatch", "county_code": "HA-ZZ-ZM", "tracker": "李娜"},
    )  # fmt: skip
    assert status == 201
    await page.get_by_test_id("event-dispatch").click()
    await page.get_by_test_id("event-tracker").fill("张伟")
    await page.get_by_test_id("event-submit").click()
    await expect(page.get_by_test_id("dialog-error")).to_contain_text(
        "工单当前的状态不允许这个操作，请刷新后再试。"
    )
    await page.get_by_test_id("event-cancel").click()
    assert_clean(watched)


async def test_a_county_branch_sees_only_its_dispatched_orders_and_its_own_actions(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule W3, rule W5
    status, _ = await site.call(
        "POST", "/v1/reactivations", site.tokens.agent,
        {"msisdn": support.ORDER_SUBJECT, "channel": "agent",
         "verification": {"method": "service_password", "password": support.PASSWORD}},
        **{"Idempotency-Key": "k-county"},
    )  # fmt: skip
    assert status == 201
    order_id = await conn.fetchval("SELECT id FROM work_orders")
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.zz_county)
    await expect(page.get_by_test_id("orders-empty")).to_be_visible()  # not dispatched to it yet
    status, _ = await site.call(
        "POST", f"/v1/work-orders/{order_id}/events", site.tokens.zz_city,
        {"kind": "dispatch", "county_code": "HA-ZZ-ZM", "tracker": "李娜"},
    )  # fmt: skip
    assert status == 201
    await page.get_by_test_id("orders-refresh").click()
    await page.get_by_test_id(f"open-order-{order_id}").click()
    await expect(page.get_by_test_id("order-status")).to_have_text("已派发（县分）")
    actions = page.locator(".actions button")
    await expect(actions).to_have_count(2)
    assert await actions.evaluate_all("buttons => buttons.map(b => b.dataset.testid)") == [
        "event-remind",
        "event-paid",
    ]
    assert_clean(watched)


async def test_chinese_by_default_and_the_english_switch_relabels_the_page_in_place(
    desk: Desk, site: Site
) -> None:
    watched = await desk.open()
    page = watched.page
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("h1")).to_have_text("callgate 坐席助手")
    await sign_in(watched, site.tokens.agent)
    await look_up(watched, support.SUSPENDED_FIVE)
    await page.get_by_test_id("lookup-number").fill("1861234")  # typed text survives the switch

    await page.get_by_test_id("lang-switch").click()
    await expect(html).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("callgate agent desktop")
    await expect(page.get_by_test_id("lang-switch")).to_have_text("中文")
    await expect(page.get_by_test_id("tier-badge")).to_have_text("five-star")
    await expect(page.get_by_test_id("status")).to_have_text("Suspended for arrears")
    await expect(page.get_by_test_id("explanation")).to_contain_text(
        "Value = ARPU score 200 × tenure score 1.4 = 280"
    )
    await expect(page.get_by_test_id("grant")).to_contain_text("Eligible: reactivation for 48 hours")
    await expect(page.get_by_test_id("attempts")).to_have_text(
        "5 password attempt(s) left before verification locks."
    )
    await expect(page.get_by_test_id("lookup-number")).to_have_value("1861234")

    await look_up(watched, support.ACTIVE_FOUR)
    await page.get_by_test_id("password").fill(support.PASSWORD)
    await page.get_by_test_id("grant-button").click()
    await expect(page.get_by_test_id("grant-result")).to_contain_text(
        "The number is not suspended for arrears, so there is nothing to reactivate (R2)."
    )
    await screenshot(watched, "english")
    # Messages already on screen follow the switch too.
    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("grant-result")).to_contain_text(
        "该号码目前没有欠费停机，不需要紧急开机（R2）。"
    )
    await page.get_by_test_id("lang-switch").click()
    await expect(page.get_by_test_id("grant-result")).to_contain_text(
        "The number is not suspended for arrears"
    )

    # The choice and the session survive a reload (language: localStorage; token: sessionStorage).
    await page.reload()
    await page.wait_for_selector("body[data-ready='true']")
    await expect(html).to_have_attribute("lang", "en")
    await expect(page.locator("#app")).to_be_visible()
    await page.get_by_test_id("lang-switch").click()
    await expect(page.locator("h1")).to_have_text("callgate 坐席助手")
    await expect(page.get_by_test_id("calls-list")).to_contain_text("未填写坐席工号")
    assert_clean(watched)


async def test_every_refusal_code_has_a_plain_sentence_in_both_languages(desk: Desk, site: Site) -> None:
    # rule R11
    watched = await desk.open()
    texts = await watched.page.evaluate(
        "import('/agent/i18n.js').then(m => ({refusals: m.REFUSALS, zh: m.keys('zh'), en: m.keys('en')}))"
    )
    assert set(texts["refusals"]) == SPEC_REFUSAL_CODES == set(REFUSALS) | set(servicing.REFUSALS)
    for code, sentence in texts["refusals"].items():
        assert re.search(r"[\u4e00-\u9fff]", sentence["zh"]), code
        assert re.fullmatch(r"[\x20-\x7e]+", sentence["en"]) and sentence["en"].endswith("."), code
    assert sorted(texts["zh"]) == sorted(texts["en"])  # no text missing in either language
    assert_clean(watched)


async def test_a_400_pixel_side_panel_works_with_the_keyboard_alone(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule R9, rule R10
    watched = await desk.open(SIDE_PANEL)
    page = watched.page
    await sign_in(watched, site.tokens.agent, AGENT)
    await site.connect_call(support.SUSPENDED_FIVE, "call-side", AGENT)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7001")
    assert await page.evaluate("document.documentElement.scrollWidth") <= SIDE_PANEL["width"]
    grant_box = await page.get_by_test_id("grant").bounding_box()
    explanation_box = await page.get_by_test_id("explanation").bounding_box()
    assert grant_box and explanation_box
    assert grant_box["y"] < explanation_box["y"]  # the action comes before the reading
    assert grant_box["x"] + grant_box["width"] <= SIDE_PANEL["width"]
    await screenshot(watched, "side-panel")

    # Keyboard only: from the look-up field, Tab reaches the identity choice (the call came
    # from the number, so "own number" is preselected); the arrow picks the password.
    await page.get_by_test_id("lookup-number").focus()
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.name") == "method":
            break
    else:
        raise AssertionError("Tab never reached the identity check")
    assert await page.evaluate("document.activeElement.id") == "method-own"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # visible focus
    await page.keyboard.press("ArrowDown")
    assert await page.evaluate("document.activeElement.id") == "method-password"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "password"
    await page.keyboard.type(support.PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("grant-result")).to_contain_text("已办理紧急开机")
    assert await page.evaluate("document.documentElement.scrollWidth") <= SIDE_PANEL["width"]
    # Escape clears the look-up field.
    await page.get_by_test_id("lookup-number").fill("186")
    await page.get_by_test_id("lookup-number").press("Escape")
    await expect(page.get_by_test_id("lookup-number")).to_have_value("")
    assert await conn.fetchval("SELECT count(*) FROM reactivations") == 1
    assert_clean(watched)


async def test_an_administrator_switches_between_the_agent_and_the_branch_views(
    desk: Desk, site: Site
) -> None:
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.admin)
    await expect(page.locator("#agent-view")).to_be_visible()
    await expect(page.locator("#branch-view")).to_be_hidden()
    await page.get_by_test_id("tab-branch").click()
    await expect(page.locator("#branch-view")).to_be_visible()
    await expect(page.locator("#agent-view")).to_be_hidden()
    await expect(page.get_by_test_id("orders-empty")).to_be_visible()
    await page.get_by_test_id("tab-agent").click()
    await expect(page.get_by_test_id("tab-agent")).to_have_attribute("aria-pressed", "true")
    await look_up(watched, support.SUSPENDED_FIVE)
    assert_clean(watched)


async def test_a_pop_missed_while_the_stream_was_down_is_in_the_history_after_the_reconnect(
    desk: Desk, site: Site
) -> None:
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent, AGENT)
    connection = page.get_by_test_id("connection")
    await page.context.set_offline(True)  # reconnecting fails until the network is back
    assert site.drop_connections() >= 1
    await expect(connection).to_have_attribute("data-state", "retrying")
    await site.connect_call(support.ACTIVE_FOUR, "call-offline", AGENT)
    await page.context.set_offline(False)
    await expect(connection).to_have_attribute("data-state", "live", timeout=20_000)
    await expect(page.locator("[data-testid='calls'] button.call")).to_have_attribute(
        "data-call-id", "call-offline"
    )
    # and the stream works again
    await site.connect_call(support.SUSPENDED_FIVE, "call-online", AGENT)
    await expect(page.get_by_test_id("customer-number")).to_have_text("186****7001", timeout=TIMEOUT_MS)


async def test_the_stream_parser_handles_keepalives_line_endings_and_partial_frames(desk: Desk) -> None:
    watched = await desk.open()
    parsed = await watched.page.evaluate(
        """import('/agent/stream.js').then(m => m.parseSse(
            'retry: 2000\\n\\n: keepalive\\n\\nevent: call\\nid: 1\\ndata: {"a":1}\\n\\n'
            + 'event: call\\r\\ndata: {"b":\\r\\ndata: 2}\\r\\n\\r\\nevent: call\\ndata: {"c"'))"""
    )
    assert parsed == {
        "events": [
            {"event": "call", "data": '{"a":1}', "id": "1"},
            {"event": "call", "data": '{"b":\n2}', "id": None},
        ],
        "rest": 'event: call\ndata: {"c"',
        "retry": 2000,
    }
    assert_clean(watched)
