"""T1.7 — proposing star thresholds from the value distribution."""

from __future__ import annotations

from pathlib import Path

import pytest

from entitlements.months import Month
from entitlements.policy import load_policy
from entitlements.thresholds import propose_thresholds, threshold_override
from tests.entitlements.helpers import P2015, PVIP, flat, run, sub

SHARES = {"five_star": "0.05", "four_star": "0.10", "three_star": "0.25", "two_star": "0.30"}


def test_thresholds_cut_the_ranking_by_share() -> None:
    # rule T1.7: values 1..1000 points; 5 % five-star, 10 % four, 25 % three, 30 % two.
    values = [v * 1000 for v in range(1, 1001)]
    got = propose_thresholds(values, SHARES)
    assert got == {
        "five_star": 951_000,
        "four_star": 851_000,
        "three_star": 601_000,
        "two_star": 301_000,
    }


def test_ties_at_a_cut_go_to_the_higher_level() -> None:
    # rule T1.7: inclusive lower bounds, so a tied value is all in or all out.
    values = [500_000] * 10 + [100_000] * 90
    got = propose_thresholds(values, SHARES)
    assert got["five_star"] == 500_000
    assert got["four_star"] < got["five_star"]


@pytest.mark.parametrize(
    "shares",
    [
        pytest.param({"five_star": 0.5}, id="every level needs a share"),
        pytest.param(
            {"five_star": 0.5, "four_star": 0.4, "three_star": 0.3, "two_star": 0.2},
            id="shares adding to more than 1 are refused",
        ),
        pytest.param(
            {"five_star": 0, "four_star": 0.1, "three_star": 0.1, "two_star": 0.1},
            id="a zero share is refused",
        ),
    ],
)
def test_bad_shares(shares: dict[str, float]) -> None:
    # rule T1.7
    with pytest.raises(ValueError):
        propose_thresholds([1000, 2000], shares)


def test_the_proposal_becomes_an_override_file(tmp_path: Path) -> None:
    # rule T1.7: a command proposes thresholds; the policy file (override) replaces them.
    proposal = {"five_star": 300_500, "four_star": 150_000, "three_star": 95_000, "two_star": 30_000}
    text = threshold_override(P2015, proposal, Month.parse("2027-01"))
    path = tmp_path / "thresholds-2027.toml"
    path.write_text(text, "utf-8")
    policy = load_policy("unicom-2015", path)
    assert policy.version == "2015.1+thresholds-2027-01"
    s = sub("2026-06-10")
    assert run(policy, "2026-12-06", s, flat("2026-12", 30000)).computed_level == "five_star"
    assert run(policy, "2027-01-06", s, flat("2027-01", 30000)).computed_level == "four_star"
    assert run(policy, "2027-01-06", s, flat("2027-01", 30050)).computed_level == "five_star"


def test_only_star_policies_have_thresholds() -> None:
    # rule T1.7
    with pytest.raises(ValueError):
        threshold_override(PVIP, {}, Month.parse("2027-01"))
