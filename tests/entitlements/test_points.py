"""Loyalty points (P1–P5) as pure rules: the ledger spent by expiry, expiry at midnight,
the one-time threshold, the summary the IVR speaks, redemption decisions, the SMS texts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitlements.months import Month
from entitlements.points import (
    Grant,
    Holding,
    InsufficientPoints,
    alive,
    allocate,
    balance,
    balance_sms,
    decide_redemption,
    help_sms,
    is_balance_query,
    spending_order,
    summary,
    threshold_explanation,
    threshold_reached_on,
)
from entitlements.policy import load_policy

POLICY = load_policy("unicom-2015")
TODAY = date(2026, 11, 26)
PROPERTY = settings(deadline=None, max_examples=200)


def grant(
    gid: int, points: int, granted: str, expires: str | None = None, remaining: int | None = None
) -> Grant:
    return Grant(
        gid,
        date.fromisoformat(granted),
        points,
        points if remaining is None else remaining,
        date.fromisoformat(expires) if expires else None,
    )


# --- P1: the ledger -------------------------------------------------------------------


def test_points_count_through_their_expiry_day_and_are_gone_the_day_after() -> None:
    # rule P1: expires_on is the last day (Asia/Shanghai); at midnight after it the points are gone.
    ledger = [grant(1, 500, "2026-01-05", "2026-12-31"), grant(2, 300, "2026-02-05")]
    assert alive(date(2026, 12, 31), date(2026, 12, 31))
    assert not alive(date(2026, 12, 31), date(2027, 1, 1))
    assert balance(ledger, date(2026, 12, 31)) == 800
    assert balance(ledger, date(2027, 1, 1)) == 300


@pytest.mark.parametrize(
    ("spend", "taken"),
    [
        pytest.param(100, ((3, 100),), id="a small spend takes from the grant that expires first"),
        pytest.param(
            250, ((3, 200), (4, 50)),
            id="then the next expiry; of two grants expiring the same day, the older one",
        ),
        pytest.param(700, ((3, 200), (4, 100), (1, 400)), id="then the newer grant of that expiry"),
        pytest.param(
            1000, ((3, 200), (4, 100), (1, 400), (2, 300)), id="never-expiring grants last of all"
        ),
    ],
)  # fmt: skip
def test_spending_takes_what_expires_first_then_the_oldest(
    spend: int, taken: tuple[tuple[int, int], ...]
) -> None:
    # rule P1: spending uses the grants that expire first (then the oldest).
    ledger = [
        grant(1, 400, "2026-06-01", "2027-12-31"),
        grant(2, 300, "2025-01-01"),  # never expires
        grant(3, 200, "2026-09-01", "2026-12-31"),
        grant(4, 100, "2026-03-01", "2027-12-31"),
        grant(5, 900, "2025-01-01", "2025-12-31"),  # expired: never spent
    ]
    assert [g.id for g in spending_order(ledger, TODAY)] == [3, 4, 1, 2]
    assert allocate(ledger, spend, TODAY) == taken


def test_a_spend_larger_than_the_balance_is_refused() -> None:
    # rule P1: expired points are gone, so they cannot pay.
    ledger = [grant(1, 400, "2026-06-01", "2026-12-31"), grant(2, 900, "2025-01-01", "2025-12-31")]
    with pytest.raises(InsufficientPoints):
        allocate(ledger, 401, TODAY)
    assert allocate(ledger, 400, TODAY) == ((1, 400),)


days = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))


@st.composite
def ledgers(draw: st.DrawFn) -> list[Grant]:
    out = []
    for gid in range(1, draw(st.integers(0, 8)) + 1):
        granted = draw(days)
        points = draw(st.integers(1, 5000))
        lasts = draw(st.none() | st.integers(0, 900))
        expires = None if lasts is None else granted + timedelta(days=lasts)
        out.append(Grant(gid, granted, points, draw(st.integers(0, points)), expires))
    return out


@PROPERTY
@given(ledgers(), days, st.integers(1, 20_000))
def test_spending_never_overspends_and_follows_expiry_order(
    ledger: list[Grant], day: date, spend: int
) -> None:
    # rule P1: the points taken are exactly the spend, each within what its grant has left,
    # in expiry order; a spend beyond the balance takes nothing.
    have = sum(g.remaining for g in spending_order(ledger, day))
    if spend > have:
        with pytest.raises(InsufficientPoints):
            allocate(ledger, spend, day)
        return
    taken = allocate(ledger, spend, day)
    by_id = {g.id: g for g in ledger}
    assert sum(t for _, t in taken) == spend
    assert all(0 < t <= by_id[gid].remaining for gid, t in taken)
    keys = [(by_id[gid].expires_on or date.max, by_id[gid].granted_on, gid) for gid, _ in taken]
    assert keys == sorted(keys)
    assert all(t == by_id[gid].remaining for gid, t in taken[:-1])  # only the last grant is split


@PROPERTY
@given(ledgers(), days, st.lists(st.integers(1, 3000), max_size=10))
def test_the_balance_never_goes_below_zero(ledger: list[Grant], day: date, spends: list[int]) -> None:
    # rule P1 and rule P5: any sequence of spends, each allowed only when covered, leaves a balance ≥ 0.
    held = {g.id: g for g in ledger}
    for spend in spends:
        before = balance(held.values(), day)
        try:
            taken = allocate(held.values(), spend, day)
        except InsufficientPoints:
            assert spend > before
            continue
        for gid, t in taken:
            g = held[gid]
            held[gid] = Grant(g.id, g.granted_on, g.points, g.remaining - t, g.expires_on)
        assert balance(held.values(), day) == before - spend >= 0


# --- P2: the one-time threshold -------------------------------------------------------


def test_the_threshold_across_its_edge_then_redeemable_whatever_the_balance() -> None:
    # rule P2: 1,999 points → nothing redeemable; 2,000 once → reached that day; 500 left later → all redeemable.
    grants = [(date(2026, 3, 1), 1999, None)]
    assert threshold_reached_on(grants, 2000, TODAY) is None
    below = summary(Holding(None, ((None, 1999),)), 2000, TODAY)
    assert (below.balance, below.redeemable) == (1999, 0)

    grants.append((date(2026, 4, 1), 1, None))
    reached = threshold_reached_on(grants, 2000, TODAY)
    assert reached == date(2026, 4, 1)
    assert summary(Holding(reached, ((None, 2000),)), 2000, TODAY).redeemable == 2000
    after_spending = summary(Holding(reached, ((None, 500),)), 2000, TODAY)
    assert (after_spending.balance, after_spending.redeemable) == (500, 500)


@pytest.mark.parametrize(
    ("grants", "reached"),
    [
        pytest.param(
            [("2026-01-01", 1500, "2026-03-31"), ("2026-04-01", 600, None)], None,
            id="points that expired before the next grant do not add up to the threshold",
        ),
        pytest.param(
            [("2026-01-01", 1500, "2026-03-31"), ("2026-03-31", 600, None)], "2026-03-31",
            id="on the expiry day the expiring points still count",
        ),
        pytest.param(
            [("2026-01-01", 2500, "2026-03-31"), ("2026-05-01", 100, None)], "2026-01-01",
            id="reached long ago stays reached, though those points expired",
        ),
        pytest.param(
            [("2026-12-01", 5000, None)], None, id="a grant after today does not count yet"
        ),
    ],
)  # fmt: skip
def test_the_day_the_threshold_is_reached(
    grants: list[tuple[str, int, str | None]], reached: str | None
) -> None:
    # rule P2: the first day the balance reaches 2,000 (P1: expired points are gone).
    rows = [(date.fromisoformat(g), p, date.fromisoformat(e) if e else None) for g, p, e in grants]
    assert threshold_reached_on(rows, 2000, TODAY) == (date.fromisoformat(reached) if reached else None)


@PROPERTY
@given(ledgers(), days)
def test_the_threshold_day_is_the_first_day_the_balance_reached_it(ledger: list[Grant], today: date) -> None:
    # rule P2: checked day by day against the balance of unspent grants.
    rows = [(g.granted_on, g.points, g.expires_on) for g in ledger]
    found = threshold_reached_on(rows, 2000, today)

    def live_sum(day: date) -> int:
        return sum(p for g, p, e in rows if g <= day and alive(e, day))

    start = min((g for g, _, _ in rows), default=today)
    day = start
    first = None
    while day <= today:
        if live_sum(day) >= 2000:
            first = day
            break
        day += timedelta(days=1)
    assert found == first


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_threshold_is_explained(lang: str) -> None:
    # rule P2: the agent reads when it was reached, or how far off it is.
    reached = summary(Holding(date(2026, 4, 1), ((None, 500),)), 2000, TODAY)
    waiting = summary(Holding(None, ((None, 1999),)), 2000, TODAY)
    assert ("2026年4月1日" if lang == "zh" else "2026-04-01") in threshold_explanation(reached, lang)
    assert ("还差1分" if lang == "zh" else "1 to go") in threshold_explanation(waiting, lang)


# --- P3: what the IVR speaks ------------------------------------------------------------


def test_the_summary_of_a_holding() -> None:
    # rule P3: balance, redeemable, and the points expiring next month (their last day in it).
    held = Holding.of(
        [
            grant(1, 800, "2026-01-10", "2026-12-31", remaining=700),
            grant(2, 400, "2026-02-10", "2026-12-15"),
            grant(3, 900, "2026-03-10", "2027-06-30"),
            grant(4, 100, "2026-03-10", "2026-11-25"),  # expired yesterday
            grant(5, 50, "2025-03-10"),
        ],
        date(2026, 5, 1),
        TODAY,
    )
    s = summary(held, 2000, TODAY)
    assert s.lookup_json() == {"balance": 2050, "redeemable": 2050, "expiring_next_month": 1100}
    assert (s.next_expiry, s.next_expiry_points) == (date(2026, 12, 15), 400)
    assert summary(held, 2000, date(2026, 12, 16)).lookup_json() == {
        "balance": 1650, "redeemable": 1650, "expiring_next_month": 0,
    }  # fmt: skip


@PROPERTY
@given(ledgers(), days)
def test_a_holding_is_unchanged_through_the_day_it_says(ledger: list[Grant], day: date) -> None:
    # rule P3: the cache keeps one balance and one "expiring next month" figure, right until
    # `unchanged_through`: the balance holds, and next month's expiries are zero except in
    # that day's own month. (This is what lets a record answer on any day without a write.)
    held = Holding.of(ledger, None, day)
    through = held.unchanged_through(day)
    last_month = Month.of(through) if through != date.max else None
    expected_then = held.expiring_in(last_month + 1) if last_month is not None else 0
    start = summary(held, 2000, day)
    probe = day
    while probe <= min(through, day + timedelta(days=800)):
        s = summary(held, 2000, probe)
        assert s.balance == start.balance
        assert s.expiring_next_month == (expected_then if Month.of(probe) == last_month else 0)
        probe += timedelta(days=1)
    if through != date.max:
        assert through >= day


# --- P5: redemption -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "balance_now", "reached", "code"),
    [
        pytest.param("topup_30", 3000, date(2026, 1, 1), None, id="a catalogue item covered by the balance"),
        pytest.param("topup_1000", 99_999, date(2026, 1, 1), "unknown_item", id="an item not in the catalogue"),
        pytest.param("topup_30", 1999, None, "below_threshold", id="threshold never reached"),
        pytest.param(
            "topup_50", 4999, date(2026, 1, 1), "insufficient_points", id="reached, but the balance is short"
        ),
        pytest.param(
            "topup_30", 3000, date(2026, 12, 1), "below_threshold", id="reached only after the day asked about"
        ),
    ],
)  # fmt: skip
def test_redemption_decisions(item: str, balance_now: int, reached: date | None, code: str | None) -> None:
    # rule P5: items from the catalogue; refusals below_threshold (rule P2), insufficient_points, unknown_item.
    decision = decide_redemption(POLICY, item, balance_now, reached, TODAY)
    assert decision.allowed == (code is None)
    assert decision.code == code
    if code is None:
        assert decision.points == POLICY.points.catalogue[item].points


# --- P4: the SMS query --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("JFCX", True), ("jfcx", True), (" J f C x ", True), ("ＪＦＣＸ", True), ("JF CX\n", True),
        ("JFCX1", False), ("", False), ("积分查询", False), ("JFC", False),
    ],
)  # fmt: skip
def test_the_balance_query_keyword(text: str, query: bool) -> None:
    # rule P4: JFCX in any case, spaces ignored; anything else gets the help reply.
    assert is_balance_query(POLICY, text) is query


def test_the_balance_sms_in_chinese() -> None:
    # rule P4: balance, redeemable points and the next expiry, signed and naming 10010.
    held = Holding(None, ((date(2026, 12, 31), 300), (None, 1000)))
    text = balance_sms(POLICY, summary(held, 2000, TODAY), TODAY)
    assert text == (
        "【中国联通】尊敬的客户：截至2026年11月26日，您的积分余额为1300分，可兑换积分0分"
        "（积分首次累计达到2000分后方可兑换）；其中300分将于2026年12月31日到期。详询10010。"
    )
    reached = balance_sms(POLICY, summary(Holding(date(2026, 1, 1), ((None, 2500),)), 2000, TODAY), TODAY)
    assert "可兑换积分2500分；暂无将到期的积分" in reached
    assert help_sms(POLICY) == "【中国联通】积分查询请发送JFCX到10011。详询10010。"
