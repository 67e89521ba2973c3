"""T5 — China Mobile credit stars (policy cmcc-credit)."""

from __future__ import annotations

import pytest

from entitlements.credit import completed_years
from tests.entitlements.helpers import PCREDIT, d, flat, run, sub

RUN = "2026-11-06"
M = "2026-11"


def score(ev: object) -> dict[str, object]:
    """The figures of an evaluation."""
    return dict(ev.explanation.figures)  # type: ignore[attr-defined]  # Evaluation


@pytest.mark.parametrize(
    ("brand", "points"),
    [
        pytest.param("gotone", 50, id="GoTone scores 50"),
        pytest.param("mzone", 30, id="M-Zone scores 30"),
        pytest.param("easyown", 20, id="Easyown scores 20"),
        pytest.param("GoTone", 50, id="brand codes are matched case-insensitively"),
        pytest.param("other", 0, id="another brand scores 0"),
    ],
)
def test_brand_points(brand: str, points: int) -> None:
    # rule T5.1
    ev = run(PCREDIT, RUN, sub(brand=brand), flat(M, 0))
    assert score(ev)["brand_points"] == points


@pytest.mark.parametrize(
    ("joined", "years", "points"),
    [
        pytest.param("2025-11-07", 0, 0, id="one day short of a year scores 0"),
        pytest.param("2025-11-06", 1, 50, id="a full year scores 50"),
        pytest.param("2024-11-07", 1, 50, id="one day short of two years scores 50"),
        pytest.param("2024-11-06", 2, 150, id="two years score 150"),
        pytest.param("2023-11-06", 3, 200, id="three years score 200"),
        pytest.param("2022-11-06", 4, 250, id="four years score 250"),
        pytest.param("2021-11-06", 5, 300, id="five years score 300"),
        pytest.param("2011-01-01", 15, 300, id="fifteen years score 300"),
    ],
)
def test_tenure_points(joined: str, years: int, points: int) -> None:
    # rule T5.2 [assumption: lower-inclusive bands]
    ev = run(PCREDIT, RUN, sub(joined), flat(M, 0))
    assert score(ev)["tenure_years"] == years
    assert score(ev)["tenure_points"] == points


def test_completed_years_on_a_leap_day() -> None:
    # rule T5.2
    assert completed_years(d("2024-02-29"), d("2025-02-28")) == 0
    assert completed_years(d("2024-02-29"), d("2025-03-01")) == 1


@pytest.mark.parametrize(
    ("avg_fen", "points"),
    [
        pytest.param(0, 0, id="no spend scores 0"),
        pytest.param(2000, 0, id="20.00 scores 0 (upper bound inclusive)"),
        pytest.param(2001, 20, id="20.01 scores 20"),
        pytest.param(5000, 20, id="50.00 scores 20"),
        pytest.param(5001, 50, id="50.01 scores 50"),
        pytest.param(8000, 50, id="80.00 scores 50"),
        pytest.param(8001, 100, id="80.01 scores 100"),
        pytest.param(12000, 100, id="120.00 scores 100"),
        pytest.param(12001, 150, id="120.01 scores 150"),
        pytest.param(20000, 150, id="200.00 scores 150"),
        pytest.param(20001, 200, id="200.01 scores 200"),
        pytest.param(40000, 200, id="400.00 scores 200"),
        pytest.param(40001, 250, id="400.01 scores 250"),
    ],
)
def test_spend_points_upper_bounds_inclusive(avg_fen: int, points: int) -> None:
    # rule T5.3
    ev = run(PCREDIT, RUN, sub(), flat(M, avg_fen))
    assert score(ev)["spend_points"] == points
    assert score(ev)["n_months"] == 12


def test_spend_average_is_exact_cents() -> None:
    # rule T5.3: 11 × 20.00 + 20.01 averages 20.0008… > 20: not rounded down to 20.
    from tests.entitlements.helpers import bills

    ev = run(PCREDIT, RUN, sub(), bills(M, [2000] * 11 + [2001]))
    assert score(ev)["spend_points"] == 20


def test_spend_average_from_joining_when_shorter() -> None:
    # rule T5.3 [assumption: fewer months when the tenure is shorter]
    from tests.entitlements.helpers import bills

    ev = run(PCREDIT, RUN, sub("2026-08-20"), bills(M, [30000, 30000, 30000]))
    assert score(ev)["n_months"] == 3
    assert score(ev)["spend_points"] == 200


@pytest.mark.parametrize(
    ("suspensions", "points"),
    [
        pytest.param(0, 0, id="no suspension costs nothing"),
        pytest.param(1, -100, id="one suspension costs 100"),
        pytest.param(3, -300, id="three suspensions cost 300"),
    ],
)
def test_suspensions(suspensions: int, points: int) -> None:
    # rule T5.4
    ev = run(PCREDIT, RUN, sub(suspensions=suspensions), flat(M, 0))
    assert score(ev)["suspension_points"] == points


@pytest.mark.parametrize(
    ("brand", "joined", "avg_fen", "suspensions", "total", "level"),
    [
        pytest.param("gotone", "2015-01-01", 15000, 0, 500, "five_star", id="500 is five-star"),
        pytest.param("easyown", "2015-01-01", 15000, 0, 470, "four_star", id="470 is four-star"),
        pytest.param("gotone", "2015-01-01", 15000, 1, 400, "four_star", id="400 is four-star"),
        pytest.param("easyown", "2015-01-01", 10000, 1, 320, "three_star", id="320 is three"),
        pytest.param("mzone", "2015-01-01", 12000, 1, 330, "three_star", id="330 is three-star"),
        pytest.param("gotone", "2015-01-01", 15000, 2, 300, "three_star", id="300 is three-star"),
        pytest.param("gotone", "2015-01-01", 15000, 3, 200, "two_star", id="200 is two-star"),
        pytest.param("gotone", "2015-01-01", 15000, 4, 100, "one_star", id="100 is one-star"),
        pytest.param("easyown", "2026-01-01", 5000, 0, 40, "no_star", id="below 100 is no star"),
        pytest.param("gotone", "2015-01-01", 0, 5, -150, "no_star", id="a negative score"),
    ],
)
def test_score_thresholds(
    brand: str, joined: str, avg_fen: int, suspensions: int, total: int, level: str
) -> None:
    # rule T5.5
    s = sub(joined, brand=brand, suspensions=suspensions)
    ev = run(PCREDIT, RUN, s, flat(M, avg_fen))
    assert score(ev)["score"] == total
    assert ev.computed_level == level
    assert "T5.5" in ev.explanation.rules
