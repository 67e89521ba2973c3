"""E — the star service table as policy data."""

from __future__ import annotations

import pytest

from entitlements.benefits import benefits, entitlement_codes
from entitlements.model import LEVELS, Tier
from tests.entitlements.helpers import P2015, PVIP

CODES = (
    "priority_access",
    "priority_hall",
    "customer_manager",
    "emergency_reactivation",
    "free_sim_replacement",
    "roaming_without_deposit",
    "appointment",
    "do_not_disturb",
    "birthday_greeting",
    "broadband_repair",
    "broadband_relocation",
)

# The SPEC §3 table, column by column ("*" = the source lost the cell: [assumption]).
SPEC_TABLE = {
    "diamond": "yes yes yes yes once_a_year* yes* yes yes* yes* standard* standard*",
    "gold": "yes yes yes yes once_a_year* yes* yes yes* yes* standard* standard*",
    "silver": "yes yes no yes once_a_year yes no yes yes standard standard",
    "ordinary": "standard standard no no standard* standard* no* no* no* standard* standard*",
    "five_star": "yes yes yes yes unlimited yes yes yes yes priority priority",
    "vip_guest": "yes yes yes yes unlimited yes yes yes yes priority priority",
    "loyal_four": "yes yes no yes unlimited yes yes yes yes priority priority",
    "three_star": "yes yes no yes standard standard no yes no* standard* standard*",
    "two_one": "standard standard no no standard* standard* no* no* no* standard* standard*",
}
COLUMN = {
    ("vip_card", "diamond"): "diamond",
    ("vip_card", "gold"): "gold",
    ("vip_card", "silver"): "silver",
    ("vip_card", "none"): "ordinary",
    ("star", "five_star"): "five_star",
    ("star", "vip_guest"): "vip_guest",
    ("star", "loyal"): "loyal_four",
    ("star", "four_star"): "loyal_four",
    ("star", "three_star"): "three_star",
    ("star", "two_star"): "two_one",
    ("star", "one_star"): "two_one",
}


@pytest.mark.parametrize(
    ("scheme", "level"),
    [pytest.param(s, lvl, id=f"{s} {lvl} has its E column") for s, lvl in COLUMN],
)
def test_matrix_matches_the_spec(scheme: str, level: str) -> None:
    # rule E
    cells = SPEC_TABLE[COLUMN[(scheme, level)]].split()
    got = {b.code: b for b in benefits(P2015, Tier(scheme, level))}
    assert tuple(got) == CODES
    for code, cell in zip(CODES, cells, strict=True):
        assert got[code].value == cell.rstrip("*"), code
        assert got[code].assumed is cell.endswith("*"), code
        assert got[code].rule == "E"


@pytest.mark.parametrize(
    ("tier", "codes"),
    [
        pytest.param(
            Tier("star", "five_star"),
            (
                "priority_access", "priority_hall", "customer_manager", "emergency_reactivation",
                "free_sim_replacement", "roaming_without_deposit", "appointment",
                "do_not_disturb", "birthday_greeting", "broadband_repair", "broadband_relocation",
            ),
            id="five-star has every benefit beyond standard",
        ),
        pytest.param(
            Tier("star", "three_star"),
            ("priority_access", "priority_hall", "emergency_reactivation", "do_not_disturb"),
            id="three-star has priority access, halls, reactivation and do-not-disturb",
        ),
        pytest.param(Tier("star", "two_star"), (), id="two-star has nothing beyond standard"),
        pytest.param(Tier("star", "unrated"), (), id="unrated has nothing beyond standard"),
        pytest.param(None, (), id="an unknown caller has nothing beyond standard"),
        pytest.param(
            Tier("vip_card", "silver"),
            (
                "priority_access", "priority_hall", "emergency_reactivation",
                "free_sim_replacement", "roaming_without_deposit", "do_not_disturb",
                "birthday_greeting",
            ),
            id="a silver card's benefits",
        ),
    ],
)  # fmt: skip
def test_entitlement_codes(tier: Tier | None, codes: tuple[str, ...]) -> None:
    # rule E
    assert entitlement_codes(P2015, tier) == codes


def test_every_level_of_every_scheme_has_a_full_row() -> None:
    # rule E: the matrix is complete for every level the policy serves.
    for scheme in P2015.schemes:
        for level in LEVELS[scheme]:
            assert len(benefits(P2015, Tier(scheme, level))) == len(CODES)


def test_supreme_has_the_diamond_column() -> None:
    # rule E with rule T2.8 [assumption]
    sup = {b.code: b.value for b in benefits(PVIP, Tier("vip_card", "supreme"))}
    dia = {b.code: b.value for b in benefits(PVIP, Tier("vip_card", "diamond"))}
    assert sup == dia


def test_unknown_scheme_has_no_benefits() -> None:
    # rule E
    assert benefits(PVIP, Tier("star", "five_star")) == ()
