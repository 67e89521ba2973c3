"""T1 — China Unicom value stars (policy unicom-2015)."""

from __future__ import annotations

import pytest

from entitlements.model import LEVELS, RANK, bottom_level
from entitlements.tiers import end_assignment, tier_in_force
from tests.entitlements.helpers import (
    P2015,
    PVIP,
    bills,
    card,
    d,
    flat,
    joined_for_tenure,
    run,
    star,
    sub,
)

RUN = "2026-11-06"
M = "2026-11"


def young(tenure: int = 8, **kwargs: object) -> object:
    """A subscriber in tenure band 7–12 (tenure score 1.0, so value = ARPU)."""
    return sub(joined_for_tenure(M, tenure), **kwargs)  # type: ignore[arg-type]  # kw test data


# ------------------------------------------------------------------------- T1.1 / T1.8


def test_levels_high_to_low_in_display_order() -> None:
    # rule T1.1: five levels plus VIP guest and loyal; rule T1.8 gives the display order.
    assert LEVELS["star"] == (
        "five_star",
        "vip_guest",
        "loyal",
        "four_star",
        "three_star",
        "two_star",
        "one_star",
        "unrated",
    )
    assert bottom_level("star") == "unrated"
    assert P2015.level_name("star", "five_star", "zh") == "五星客户"
    assert P2015.level_name("star", "vip_guest", "zh") == "贵宾客户"
    assert P2015.level_name("star", "loyal", "en") == "loyal"


# ------------------------------------------------------------------------- T1.2


@pytest.mark.parametrize(
    ("kwargs", "rated", "note"),
    [
        pytest.param({}, True, None, id="a 4G postpaid mobile user is rated"),
        pytest.param({"network": "2g"}, True, None, id="a 2G user is rated"),
        pytest.param({"network": "3g"}, True, None, id="a 3G user is rated"),
        pytest.param({"network": "5g"}, True, None, id="a 5G user counts as mobile"),
        pytest.param({"payment_mode": "prepaid"}, True, None, id="prepaid users are not excluded"),
        pytest.param({"flags": ["group"]}, True, None, id="an individual user of a group customer is rated"),
        pytest.param(
            {"flags": ["data_card"]}, False, "flag:data_card", id="a wireless data card is not rated"
        ),
        pytest.param(
            {"service_type": "fixed", "network": None},
            False,
            "service_type:fixed",
            id="a fixed line is not rated under T1",
        ),
        pytest.param(
            {"service_type": "broadband", "network": None},
            False,
            "service_type:broadband",
            id="broadband is not rated under T1",
        ),
    ],
)
def test_eligibility(kwargs: dict[str, object], rated: bool, note: str | None) -> None:
    # rule T1.2
    ev = run(P2015, RUN, sub(**kwargs), flat(M, 20000))  # type: ignore[arg-type]  # test data
    assert ev.rated is rated
    assert "T1.2" in ev.explanation.rules
    if not rated:
        assert ev.level == "unrated"
        assert ev.change == "not_rated"
        assert note in ev.explanation.notes


# ------------------------------------------------------------------------- T1.3


@pytest.mark.parametrize(
    ("joined", "tenure", "rated"),
    [
        pytest.param("2026-05-31", 7, True, id="joined 2026-05 is in month 7 and rated in 2026-11"),
        pytest.param("2026-05-01", 7, True, id="the day of the month does not matter"),
        pytest.param("2026-06-01", 6, False, id="joined 2026-06 is in month 6 and not rated in 2026-11"),
        pytest.param("2026-11-02", 1, False, id="the joining month is month 1"),
        pytest.param("2025-11-30", 13, True, id="joined a year before is in month 13"),
    ],
)
def test_tenure_counts_natural_months(joined: str, tenure: int, rated: bool) -> None:
    # rule T1.3
    ev = run(P2015, RUN, sub(joined), flat(M, 20000))
    assert ev.explanation.figures["tenure_months"] == tenure
    assert ev.rated is rated
    if not rated:
        assert (ev.level, ev.change) == ("unrated", "not_rated")
        assert "tenure" in ev.explanation.notes
        assert "T1.3" in ev.explanation.rules


def test_a_user_is_rated_in_the_month_it_reaches_month_seven() -> None:
    # rule T1.9: evaluated monthly while tenure ≤ 6, so rated in the month of month 7.
    s = sub("2026-05-20")
    before = run(P2015, "2026-10-06", s, flat("2026-10", 20000))
    after = run(P2015, RUN, s, flat(M, 20000))
    assert (before.level, before.change) == ("unrated", "not_rated")
    assert (after.change, after.effective_from) == ("new", d("2026-12-01"))


# ------------------------------------------------------------------------- T1.4


@pytest.mark.parametrize(
    ("billed", "tenure", "arpu", "months"),
    [
        pytest.param([31250] * 13, 30, 313, 12, id="ARPU 312.5 rounds half-up to 313 (not to even)"),
        pytest.param([31249] * 13, 30, 312, 12, id="ARPU 312.49 rounds down to 312"),
        pytest.param([250] * 13, 30, 3, 12, id="ARPU 2.5 rounds half-up to 3"),
        pytest.param([31350] * 13, 30, 314, 12, id="ARPU 313.5 rounds half-up to 314"),
        pytest.param(
            [10**9] + [10000] * 12,
            30,
            100,
            12,
            id="only the 12 months before the evaluation month count",
        ),
        pytest.param(
            [None] + [12000] * 11 + [None],
            30,
            110,
            12,
            id="a month without a bill row counts as 0 in a 12-month average",
        ),
        pytest.param(
            [None] * 7 + [60000] * 6,
            7,
            600,
            6,
            id="tenure 7 averages the 6 months from the joining month",
        ),
        pytest.param(
            [None] * 2 + [20000] * 11,
            12,
            200,
            11,
            id="tenure 12 averages the 11 months from the joining month",
        ),
        pytest.param(
            [None] * 5 + [10000] * 7 + [18000],
            9,
            110,
            8,
            id="tenure 9 averages the 8 months from the joining month",
        ),
    ],
)
def test_arpu(billed: list[int | None], tenure: int, arpu: int, months: int) -> None:
    # rule T1.4
    ev = run(P2015, RUN, sub(joined_for_tenure(M, tenure)), bills(M, billed))
    figures = ev.explanation.figures
    assert figures["arpu_yuan"] == arpu
    assert figures["n_months"] == months
    assert "T1.4" in ev.explanation.rules


def test_arpu_months_are_named() -> None:
    # rule T1.4: the explanation names the months averaged.
    ev = run(P2015, RUN, sub(), flat(M, 10000))
    assert ev.explanation.figures["months"] == "2025-11..2026-10"


# ------------------------------------------------------------------------- T1.5


@pytest.mark.parametrize(
    ("tenure", "score"),
    [
        pytest.param(7, "1", id="tenure 7 scores 1.0"),
        pytest.param(12, "1", id="tenure 12 scores 1.0"),
        pytest.param(13, "1.1", id="tenure 13 scores 1.1"),
        pytest.param(24, "1.1", id="tenure 24 scores 1.1"),
        pytest.param(25, "1.2", id="tenure 25 scores 1.2"),
        pytest.param(36, "1.2", id="tenure 36 scores 1.2"),
        pytest.param(37, "1.3", id="tenure 37 scores 1.3"),
        pytest.param(60, "1.3", id="tenure 60 scores 1.3"),
        pytest.param(61, "1.4", id="tenure 61 scores 1.4"),
        pytest.param(96, "1.4", id="tenure 96 scores 1.4"),
        pytest.param(97, "1.5", id="tenure 97 scores 1.5"),
        pytest.param(240, "1.5", id="twenty years score 1.5"),
    ],
)
def test_tenure_score(tenure: int, score: str) -> None:
    # rule T1.5
    ev = run(P2015, RUN, sub(joined_for_tenure(M, tenure)), flat(M, 10000))
    assert ev.explanation.figures["tenure_score"] == score
    assert "T1.5" in ev.explanation.rules


# ------------------------------------------------------------------------- T1.6


@pytest.mark.parametrize(
    ("arpu_fen", "tenure", "value", "level"),
    [
        pytest.param(20000, 30, "240", "four_star", id="ARPU 200 at tenure score 1.2 is 240"),
        pytest.param(21700, 30, "260.4", "five_star", id="ARPU 217 × 1.2 = 260.4 is five-star"),
        pytest.param(21600, 30, "259.2", "four_star", id="ARPU 216 × 1.2 = 259.2 is four-star"),
        pytest.param(23700, 20, "260.7", "five_star", id="ARPU 237 × 1.1 = 260.7 is five-star"),
        pytest.param(23600, 20, "259.6", "four_star", id="ARPU 236 × 1.1 = 259.6 is four-star"),
    ],
)
def test_value_is_arpu_score_times_tenure_score(arpu_fen: int, tenure: int, value: str, level: str) -> None:
    # rule T1.6
    ev = run(P2015, RUN, sub(joined_for_tenure(M, tenure)), flat(M, arpu_fen))
    assert ev.explanation.figures["value"] == value
    assert ev.computed_level == level
    assert "T1.6" in ev.explanation.rules


# ------------------------------------------------------------------------- T1.7


@pytest.mark.parametrize(
    ("arpu_yuan", "level", "threshold"),
    [
        pytest.param(260, "five_star", "260", id="value 260 is five-star (bound inclusive)"),
        pytest.param(259, "four_star", "140", id="value 259 is four-star"),
        pytest.param(140, "four_star", "140", id="value 140 is four-star"),
        pytest.param(139, "three_star", "90", id="value 139 is three-star"),
        pytest.param(90, "three_star", "90", id="value 90 is three-star"),
        pytest.param(89, "two_star", "30", id="value 89 is two-star"),
        pytest.param(30, "two_star", "30", id="value 30 is two-star"),
        pytest.param(29, "one_star", None, id="value 29 is one-star"),
        pytest.param(0, "one_star", None, id="no spend at all is one-star"),
    ],
)
def test_2015_national_thresholds(arpu_yuan: int, level: str, threshold: str | None) -> None:
    # rule T1.7 (tenure 7–12 scores 1.0, so the value is the ARPU)
    ev = run(P2015, RUN, sub(joined_for_tenure(M, 10)), flat(M, arpu_yuan * 100))
    assert ev.computed_level == level
    assert ev.explanation.figures["threshold"] == threshold
    assert ev.explanation.figures["thresholds_from"] == "2015-01"
    assert "T1.7" in ev.explanation.rules


def test_exclusive_lower_bounds_are_configurable(tmp_path: object) -> None:
    # rule T1.7: lower-bound inclusivity is policy data.
    from pathlib import Path

    from entitlements.policy import load_policy

    override = Path(str(tmp_path)) / "exclusive.toml"
    override.write_text("[star.thresholds]\nlower_bound_inclusive = false\n", "utf-8")
    policy = load_policy("unicom-2015", override)
    at_bound = run(policy, RUN, sub(joined_for_tenure(M, 10)), flat(M, 26000))
    above = run(policy, RUN, sub(joined_for_tenure(M, 10)), flat(M, 26100))
    assert at_bound.computed_level == "four_star"
    assert above.computed_level == "five_star"


def test_a_later_threshold_set_replaces_the_earlier_from_its_month(tmp_path: object) -> None:
    # rule T1.7: thresholds per year, each applying until a policy file replaces them.
    from pathlib import Path

    from entitlements.policy import load_policy

    override = Path(str(tmp_path)) / "2027.toml"
    override.write_text(
        '[[star.thresholds.sets]]\nvalid_from = "2015-01"\n'
        "five_star = 260\nfour_star = 140\nthree_star = 90\ntwo_star = 30\n"
        '[[star.thresholds.sets]]\nvalid_from = "2027-01"\n'
        "five_star = 300\nfour_star = 150\nthree_star = 90\ntwo_star = 30\n",
        "utf-8",
    )
    policy = load_policy("unicom-2015", override)
    s = sub(joined_for_tenure("2027-01", 10))
    in_2026 = run(policy, "2026-12-06", s, flat("2026-12", 28000))
    in_2027 = run(policy, "2027-01-06", s, flat("2027-01", 28000))
    assert in_2026.computed_level == "five_star"
    assert in_2027.computed_level == "four_star"
    assert in_2027.explanation.figures["thresholds_from"] == "2027-01"


# ------------------------------------------------------------------------- T1.8


@pytest.mark.parametrize(
    ("flags", "arpu_fen", "tenure", "level"),
    [
        pytest.param(["vip_guest"], 1000, 30, "vip_guest", id="the vip_guest flag gives VIP guest"),
        pytest.param(["loyal"], 1000, 30, "loyal", id="the loyal flag gives loyal"),
        pytest.param(["vip_guest"], 30000, 30, "five_star", id="five-star value ranks above VIP guest"),
        pytest.param(["loyal"], 20000, 30, "loyal", id="loyal ranks above a four-star value"),
        pytest.param(["loyal"], 30000, 30, "five_star", id="a five-star value ranks above loyal"),
        pytest.param(["loyal"], 15000, 12, "loyal", id="loyal beats a four-star value at 1.0"),
        pytest.param(["vip_guest"], 0, 3, "unrated", id="the special rule waits for month 7 too (C3)"),
        pytest.param(
            ["vip_guest", "data_card"], 0, 30, "unrated", id="a flagged data card is still excluded"
        ),
    ],
)
def test_special_levels(flags: list[str], arpu_fen: int, tenure: int, level: str) -> None:
    # rule T1.8
    ev = run(P2015, RUN, sub(joined_for_tenure(M, tenure), flags=flags), flat(M, arpu_fen))
    assert ev.computed_level == level
    if level in ("vip_guest", "loyal"):
        assert "T1.8" in ev.explanation.rules
        assert ev.explanation.figures["special"] == level


@pytest.mark.parametrize(
    ("flags", "joined", "run_date", "level"),
    [
        pytest.param(["vip_guest"], "2026-05-31", "2026-11-06", "vip_guest", id="a VIP-guest flag joined 2026-05 is VIP guest in 2026-11 (month 7)"),
        pytest.param(["vip_guest"], "2026-06-01", "2026-11-06", "unrated", id="a VIP-guest flag joined 2026-06 is unrated in 2026-11 (month 6)"),
        pytest.param(["vip_guest"], "2026-06-01", "2026-12-07", "vip_guest", id="the same VIP guest is rated in 2026-12, its month 7"),
        pytest.param(["loyal"], "2026-05-01", "2026-11-06", "loyal", id="a loyal flag joined 2026-05 is loyal in 2026-11"),
        pytest.param(["loyal"], "2026-06-15", "2026-11-06", "unrated", id="a loyal flag joined 2026-06 is unrated in 2026-11"),
        pytest.param(["vip_guest", "loyal"], "2026-11-02", "2026-11-06", "unrated", id="a flagged subscriber in its joining month is unrated"),
    ],
)  # fmt: skip
def test_c3_special_levels_start_at_tenure_month_7(
    flags: list[str], joined: str, run_date: str, level: str
) -> None:
    # rule C3 (rule T1.8, rule T1.9, rule T1.3): S207 "第7个自然月开始计算评级" holds for every star.
    ev = run(P2015, run_date, sub(joined, flags=flags), flat(run_date[:7], 10000))  # value 100: three-star
    assert ev.level == level
    rules = ev.explanation.rules
    if level == "unrated":
        assert (ev.rated, ev.change) == (False, "not_rated")
        assert "C3" in rules and "T1.3" in rules
        assert "tenure" in ev.explanation.notes
        assert "special" not in ev.explanation.figures
    else:
        assert (ev.rated, ev.change) == (True, "new")
        assert "T1.8" in rules and "C3" not in rules
        assert ev.explanation.figures["special"] == level
        assert ev.effective_from.day == 1  # effective the 1st of the next month (T1.9)


def test_display_order_ranks_special_levels() -> None:
    # rule T1.8: five-star > VIP guest > loyal > four-star.
    r = RANK["star"]
    assert r["five_star"] > r["vip_guest"] > r["loyal"] > r["four_star"] > r["three_star"]


def test_vip_guest_is_not_re_evaluated_within_validity() -> None:
    # rule T1.9: evaluated monthly only for users not already VIP guest or loyal.
    current = star("vip_guest", "2026-06-01", "2027-05-31")
    ev = run(P2015, RUN, sub(), flat(M, 40000), current)
    assert (ev.level, ev.change) == ("vip_guest", "held")
    assert ev.computed_level == "five_star"
    assert "not_reevaluated" in ev.explanation.notes


def test_loyal_is_re_evaluated_in_the_last_month_of_validity() -> None:
    # rule T1.9 with rule T1.8: at re-evaluation the special level may change.
    current = star("loyal", "2025-12-01", "2026-11-30")
    ev = run(P2015, RUN, sub(), flat(M, 40000), current)
    assert (ev.level, ev.change) == ("five_star", "raised")


# ------------------------------------------------------------------------- T1.9


def test_effective_next_month_valid_twelve_months() -> None:
    # rule T1.9: evaluated in 2026-11 → effective 2026-12-01, valid through 2027-11-30.
    ev = run(P2015, RUN, sub(), flat(M, 13000))
    assert (ev.level, ev.change) == ("four_star", "new")
    assert ev.effective_from == d("2026-12-01")
    assert ev.valid_until == d("2027-11-30")
    assert ev.since == d("2026-12-01")


@pytest.mark.parametrize(
    ("current", "arpu_fen", "level", "change", "effective", "until"),
    [
        pytest.param(
            ("five_star", "2026-06-01", "2027-05-31"),
            8000,
            "five_star",
            "held",
            "2026-06-01",
            "2027-05-31",
            id="within validity a lower figure keeps the level",
        ),
        pytest.param(
            ("three_star", "2026-06-01", "2027-05-31"),
            40000,
            "five_star",
            "raised",
            "2026-12-01",
            "2027-11-30",
            id="within validity a rise restarts the year",
        ),
        pytest.param(
            ("four_star", "2026-06-01", "2027-05-31"),
            13000,
            "four_star",
            "held",
            "2026-06-01",
            "2027-05-31",
            id="within validity the same level is held, not renewed",
        ),
        pytest.param(
            ("five_star", "2025-12-01", "2026-11-30"),
            8000,
            "three_star",
            "lowered",
            "2026-12-01",
            "2027-11-30",
            id="re-evaluation in the last month of validity may lower",
        ),
        pytest.param(
            ("four_star", "2025-12-01", "2026-11-30"),
            13000,
            "four_star",
            "renewed",
            "2026-12-01",
            "2027-11-30",
            id="re-evaluation at the same level renews for a year",
        ),
        pytest.param(
            ("five_star", "2026-01-01", "2026-12-31"),
            8000,
            "five_star",
            "held",
            "2026-01-01",
            "2026-12-31",
            id="the month before the last month is still within validity",
        ),
        pytest.param(
            ("four_star", "2025-09-01", "2026-08-31"),
            13000,
            "four_star",
            "new",
            "2026-12-01",
            "2027-11-30",
            id="a level that lapsed earlier is rated anew",
        ),
    ],
)
def test_validity_only_rises_and_is_re_evaluated_in_its_last_month(
    current: tuple[str, str, str],
    arpu_fen: int,
    level: str,
    change: str,
    effective: str,
    until: str,
) -> None:
    # rule T1.9 (tenure 92: score 1.4; 80 yuan → 112 three-star, 130 → 182 four, 400 → 560 five)
    s = sub("2019-04-10")
    held = star(*current, since=current[1])
    ev = run(P2015, RUN, s, flat(M, arpu_fen), held)
    assert (ev.level, ev.change) == (level, change)
    assert ev.effective_from == d(effective)
    assert ev.valid_until == d(until)
    assert ev.previous_level == current[0]


@pytest.mark.parametrize(
    ("run_date", "arpu_fen", "flags", "level", "change", "effective", "until"),
    [
        pytest.param("2027-10-06", 8000, (), "four_star", "held", "2026-12-01", "2027-11-30", id="valid through 2027-11-30, the 2027-10 run holds the level"),
        pytest.param("2027-10-06", 25000, (), "five_star", "raised", "2027-11-01", "2028-10-31", id="a rise in 2027-10 is within validity and restarts the year"),
        pytest.param("2027-11-06", 13000, (), "four_star", "renewed", "2027-12-01", "2028-11-30", id="valid through 2027-11-30, re-evaluated in 2027-11, renewed from 2027-12-01"),
        pytest.param("2027-11-06", 8000, (), "three_star", "lowered", "2027-12-01", "2028-11-30", id="re-evaluated in 2027-11 and lowered from 2027-12-01"),
        pytest.param("2027-11-06", 25000, (), "five_star", "raised", "2027-12-01", "2028-11-30", id="re-evaluated in 2027-11 and raised from 2027-12-01"),
        pytest.param("2027-11-06", 13000, ("data_card",), "unrated", "expired", "2027-12-01", None, id="no longer rated in 2027-11: the level ends after 2027-11-30"),
    ],
)  # fmt: skip
def test_c6_re_evaluation_in_the_last_month_of_validity(
    run_date: str,
    arpu_fen: int,
    flags: tuple[str, ...],
    level: str,
    change: str,
    effective: str,
    until: str | None,
) -> None:
    # rule C6 (rule T1.9): S210 "在有效期截止前一个月，重新对客户级别进行评定", S257 "次月评级生效".
    # Joined 2024-01: tenure 46–47, score 1.3 (80 yuan → 104 three-star, 130 → 169 four, 250 → 325 five).
    current = star("four_star", "2026-12-01", "2027-11-30", since="2026-12-01")
    ev = run(P2015, run_date, sub("2024-01-10", flags=flags), flat(run_date[:7], arpu_fen), current)
    assert (ev.level, ev.change, ev.previous_level) == (level, change, "four_star")
    assert ev.effective_from == d(effective)
    assert ev.valid_until == (None if until is None else d(until))
    served = ev.assignment()
    if run_date.startswith("2027-11"):
        # re-evaluated: the old level serves to its last day, the result from the next one
        assert tier_in_force([current, served], d("2027-11-30")) == current
        assert tier_in_force([current, served], d("2027-12-01")) == served


def test_renewal_keeps_since() -> None:
    # rule T1.9: `since` records when the level was reached; a renewal keeps it.
    current = star("four_star", "2025-12-01", "2026-11-30", since="2024-12-01")
    ev = run(P2015, RUN, sub("2019-04-10"), flat(M, 13000), current)
    assert ev.change == "renewed"
    assert ev.since == d("2024-12-01")


def test_a_run_on_the_6th_changes_nothing_before_the_1st() -> None:
    # rule T1.9: assignments are effective-dated; callers see the new level from the 1st.
    old = star("four_star", "2025-12-01", "2026-11-30")
    ev = run(P2015, RUN, sub(), flat(M, 40000), old)
    assert ev.change == "raised"
    new = ev.assignment()
    assert tier_in_force([old, new], d("2026-11-06")) == old
    assert tier_in_force([old, new], d("2026-11-30")) == old
    assert tier_in_force([old, new], d("2026-12-01")) == new
    assert tier_in_force([old, new], d("2027-12-01")) is None


def test_a_rise_mid_validity_serves_from_the_1st() -> None:
    # rule T1.9: the raised level supersedes the held one from its effective date.
    old = star("three_star", "2026-06-01", "2027-05-31")
    ev = run(P2015, RUN, sub(), flat(M, 40000), old)
    new = ev.assignment()
    assert tier_in_force([old, new], d("2026-11-30")) == old
    assert tier_in_force([old, new], d("2026-12-01")) == new
    assert tier_in_force([old, new], d("2027-06-15")) == new


# ------------------------------------------------------------------------- T1.10


def test_cancellation_ends_the_level_at_once() -> None:
    # rule T1.10
    current = star("four_star", "2026-06-01", "2027-05-31")
    ev = run(P2015, RUN, sub(status="cancelled"), flat(M, 40000), current)
    assert (ev.level, ev.change) == ("unrated", "ended")
    assert ev.effective_from == d(RUN)
    assert ev.valid_until is None
    assert "T1.10" in ev.explanation.rules
    ended = ev.assignment()
    assert tier_in_force([current, ended], d("2026-11-05")) == current
    assert tier_in_force([current, ended], d(RUN)) == ended


def test_cancelled_without_a_level_is_not_rated() -> None:
    # rule T1.10
    ev = run(P2015, RUN, sub(status="cancelled"), flat(M, 40000))
    assert (ev.level, ev.change) == ("unrated", "not_rated")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"plan_code": "P2"}, id="a plan change keeps the level"),
        pytest.param({"msisdn": "18603710001", "brand": "new owner"}, id="a transfer keeps it"),
    ],
)
def test_transfer_and_plan_change_keep_the_level(changes: dict[str, str]) -> None:
    # rule T1.10: 过户 and plan change keep the level.
    current = star("five_star", "2026-06-01", "2027-05-31")
    ev = run(P2015, RUN, sub(**changes), flat(M, 5000), current)  # type: ignore[arg-type]
    assert (ev.level, ev.change) == ("five_star", "held")


def test_suspended_for_arrears_keeps_being_rated() -> None:
    # rule T1.10: only leaving the network ends the level; a suspension does not.
    current = star("four_star", "2026-06-01", "2027-05-31")
    ev = run(P2015, RUN, sub(status="suspended"), flat(M, 13000), current)
    assert (ev.level, ev.change) == ("four_star", "held")


# ------------------------------------------------------------------------- T1.11


def test_a_legacy_card_in_force_defers_the_star() -> None:
    # rule T1.11: the legacy card keeps serving; the star is computed but not assigned.
    legacy = card("gold", "2026-03-05", "2027-03-08", source="import")
    ev = run(P2015, RUN, sub(), flat(M, 40000), None, legacy)
    assert ev.computed_level == "five_star"
    assert (ev.level, ev.change) == ("unrated", "unchanged")
    assert "T1.11" in ev.explanation.rules
    assert "legacy_card" in ev.explanation.notes
    assert tier_in_force([legacy], d("2026-12-15")) == legacy


def test_the_star_takes_over_the_day_after_the_card_expires() -> None:
    # rule T1.11: rated in the month before the card's expiry month, effective after it.
    legacy = card("gold", "2026-03-05", "2027-03-08", source="import")
    ev = run(P2015, "2027-02-06", sub(), flat("2027-02", 40000), None, legacy)
    assert (ev.level, ev.change) == ("five_star", "new")
    assert ev.effective_from == d("2027-03-09")
    assert ev.valid_until == d("2028-02-29")
    new = ev.assignment()
    assert tier_in_force([legacy, new], d("2027-03-08")) == legacy
    assert tier_in_force([legacy, new], d("2027-03-09")) == new


def test_a_card_expiring_next_month_hands_over_in_that_month() -> None:
    # rule T1.11
    legacy = card("silver", "2025-12-05", "2026-12-08", source="import")
    ev = run(P2015, RUN, sub(), flat(M, 20000), None, legacy)
    assert ev.change == "new"
    assert ev.effective_from == d("2026-12-09")


def test_an_expired_card_changes_nothing() -> None:
    # rule T1.11: a card no longer in force gives way to the ordinary T1.9 dates.
    legacy = card("diamond", "2025-10-05", "2026-10-08", source="import")
    ev = run(P2015, RUN, sub(), flat(M, 20000), None, legacy)
    assert (ev.change, ev.effective_from) == ("new", d("2026-12-01"))


def test_a_legacy_card_beats_a_star_while_in_force() -> None:
    # rule T1.11
    legacy = card("silver", "2026-01-05", "2027-01-08", source="import")
    a_star = star("five_star", "2026-06-01", "2027-05-31")
    assert tier_in_force([a_star, legacy], d("2026-11-10")) == legacy
    assert tier_in_force([a_star, legacy], d("2027-01-09")) == a_star


def test_cancellation_also_ends_the_legacy_card() -> None:
    # rule T1.11 with rule T2.7: the card ends at once too.
    legacy = card("gold", "2026-03-05", "2027-03-08", source="import")
    ev = run(P2015, RUN, sub(status="cancelled"), flat(M, 40000), None, legacy)
    assert ev.legacy_card_ended
    assert ev.change == "ended"
    ended = end_assignment(legacy, d(RUN))
    assert ended.valid_until == d("2026-11-05")
    assert tier_in_force([ended, ev.assignment()], d(RUN)) == ev.assignment()


def test_unicom_2015_grants_no_new_cards() -> None:
    # rule T1.11: the evaluation is always a star; cards come only from an import.
    ev = run(P2015, RUN, sub(), flat(M, 60000))
    assert ev.scheme == "star"
    assert P2015.transition is not None
    assert P2015.transition.legacy_scheme == "vip_card"


def test_only_a_transition_policy_takes_a_legacy_card() -> None:
    # rule T1.11
    from entitlements.errors import EvaluationError

    legacy = card("gold", "2026-03-05", "2027-03-08", source="import")
    with pytest.raises(EvaluationError):
        run(PVIP, RUN, sub(), flat(M, 20000), None, legacy)
