"""The agent widget's points, VIP services and clubs in a real browser (Chromium): what the
customer holds, redeeming, recording a use, enrolling — each refusal in plain words."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import asyncpg
from playwright.async_api import expect

from gateway.settings import Settings
from tests.agent import support
from tests.agent.conftest import Desk, Site, assert_clean, look_up, screenshot, sign_in
from tests.gateway import province
from tests.gateway.points_support import import_points

TODAY = support.TODAY
NEWCOMER = "18612347009"  # no level, joined last month: too new for a club (V2)


async def points_for_the_province(conn: asyncpg.Connection, settings: Settings, tmp_path: Path) -> None:
    """2,500 points expiring at the year's end and 1,000 that never expire for the active
    four-star customer; 1,999 for the one-star customer (below the threshold)."""
    assert settings.redis_url is not None
    await import_points(
        conn, settings.redis_url, tmp_path,
        [
            f"{support.ACTIVE_FOUR},2026-01-05,2500,bill,2026-12-31",
            f"{support.ACTIVE_FOUR},2026-02-05,1000,promo,",
            f"{support.ONE_STAR},2026-03-05,1999,bill,",
        ],
        TODAY,
    )  # fmt: skip


async def test_points_are_shown_and_redeemed_with_refusals_in_plain_words(
    desk: Desk, site: Site, conn: asyncpg.Connection, settings: Settings, tmp_path: Path
) -> None:
    # rule P2, rule P3 and rule P5 in the widget: balance, redeemable, next expiry, threshold state
    await points_for_the_province(conn, settings, tmp_path)
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent)
    await look_up(watched, support.ACTIVE_FOUR)
    await expect(page.get_by_test_id("points-balance")).to_have_text("3500 分")
    await expect(page.get_by_test_id("points-redeemable")).to_have_text("3500 分")
    await expect(page.get_by_test_id("points-expiring")).to_have_text("2500 分")
    await expect(page.get_by_test_id("points-next-expiry")).to_have_text("2026-12-31 到期 2500 分")
    await expect(page.get_by_test_id("points-threshold")).to_contain_text("已于2026年1月5日达到")

    # too dear: refused in plain words, nothing spent
    await page.get_by_test_id("redeem-item").select_option("topup_50")
    await page.get_by_test_id("redeem-password").fill(support.PASSWORD)
    await page.get_by_test_id("redeem-button").click()
    refused = page.get_by_test_id("redeem-result")
    await expect(refused).to_have_attribute("data-code", "insufficient_points")
    await expect(refused).to_contain_text("积分余额不够兑换这个商品：需要 5000 分，现有 3500 分。")
    await page.get_by_test_id("lang-switch").click()
    await expect(refused).to_contain_text("Not enough points for this item: 5000 needed, 3500 held.")
    await page.get_by_test_id("lang-switch").click()

    # a 30-yuan top-up: the points that expire first go first, 500 stay, all redeemable
    await page.get_by_test_id("redeem-item").select_option("topup_30")
    await page.get_by_test_id("redeem-password").fill(support.PASSWORD)
    await page.get_by_test_id("redeem-button").click()
    await expect(page.get_by_test_id("redeem-result")).to_have_text(
        "已兑换30元话费充值，扣除 3000 分，剩余 500 分。"
    )
    await expect(page.get_by_test_id("points-balance")).to_have_text("500 分")
    await expect(page.get_by_test_id("points-redeemable")).to_have_text("500 分")
    await expect(page.get_by_test_id("points-next-expiry")).to_have_text("暂无将到期的积分")
    await expect(page.get_by_test_id("redemptions")).to_contain_text("30元话费充值 · 3000 分")
    await screenshot(watched, "points-redeemed")
    assert await conn.fetchval("SELECT count(*) FROM points_redemptions") == 1

    # below the one-time threshold: the agent reads why
    await look_up(watched, support.ONE_STAR)
    await expect(page.get_by_test_id("points-redeemable")).to_have_text("0 分")
    await expect(page.get_by_test_id("points-threshold")).to_contain_text("还差1分")
    await page.get_by_test_id("redeem-password").fill(support.PASSWORD)
    await page.get_by_test_id("redeem-button").click()
    await expect(page.get_by_test_id("redeem-result")).to_contain_text(
        "客户的积分从未累计达到 2000 分的兑换门槛，暂时不能兑换（P2）。"
    )
    # a customer without a ledger says so
    await look_up(watched, support.LOCKABLE)
    await expect(page.get_by_test_id("points-none")).to_have_text("该客户暂无积分记录。")
    assert_clean(watched)


async def test_services_count_down_their_quota_and_clubs_enrol_by_tenure(
    desk: Desk, site: Site, conn: asyncpg.Connection
) -> None:
    # rule V1 and rule V2 in the widget: every benefit with its remaining quota; uses and
    # enrolments with their refusals (quota_used, not_entitled shown as "not included",
    # tenure_too_short)
    await province.subscriber(conn, NEWCOMER, joined=date(2026, 10, 1))
    watched = await desk.open()
    page = watched.page
    await sign_in(watched, site.tokens.agent)
    await look_up(watched, support.ACTIVE_FOUR)  # four-star: two lounge visits a year
    lounge = page.get_by_test_id("service-airport_lounge")
    await expect(lounge).to_contain_text("剩余 2 次")
    await expect(page.get_by_test_id("service-free_sim_replacement")).to_contain_text("不限次数")
    await expect(page.get_by_test_id("service-customer_manager")).to_contain_text("不享受")
    await page.get_by_test_id("use-place-airport_lounge").select_option("kashgar")
    await page.get_by_test_id("use-airport_lounge").click()
    await expect(page.get_by_test_id("use-result")).to_have_text("已登记机场VIP贵宾厅，本年度剩余 1 次。")
    await expect(lounge).to_contain_text("本年已用 1 次")
    await page.get_by_test_id("use-airport_lounge").click()
    await expect(lounge).to_contain_text("剩余 0 次")
    await page.get_by_test_id("use-airport_lounge").click()
    used_up = page.get_by_test_id("use-result")
    await expect(used_up).to_have_attribute("data-code", "quota_used")
    await expect(used_up).to_contain_text("这项服务本年度的 2 次已经用完。")
    assert await conn.fetchval("SELECT count(*) FROM benefit_uses") == 2

    await page.get_by_test_id("join-car").click()
    await expect(page.get_by_test_id("club-result")).to_have_text("已加入车友俱乐部。")
    await expect(page.get_by_test_id("club-car")).to_contain_text("2026-11-26 入会")
    await screenshot(watched, "services-and-clubs")

    await look_up(watched, support.ONE_STAR)  # no lounge for a one-star customer
    await expect(page.get_by_test_id("service-airport_lounge")).to_contain_text("不享受")
    await expect(page.get_by_test_id("use-airport_lounge")).to_have_count(0)

    await look_up(watched, NEWCOMER)
    await expect(page.get_by_test_id("club-photography")).to_contain_text("2027-01-01 起可加入")
    await page.get_by_test_id("join-photography").click()
    refused = page.get_by_test_id("club-result")
    await expect(refused).to_have_attribute("data-code", "tenure_too_short")
    await expect(refused).to_contain_text("非VIP客户在网满3个月后才能加入俱乐部：2027-01-01 起可加入。")
    await page.get_by_test_id("lang-switch").click()
    await expect(refused).to_contain_text("after 3 months in the network: from 2027-01-01")
    assert await conn.fetchval("SELECT count(*) FROM club_members") == 1
    assert_clean(watched)
