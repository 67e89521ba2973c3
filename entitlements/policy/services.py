"""The ``[quotas]`` (V1) and ``[clubs]`` (V2) sections: VIP services counted per calendar
year, and the clubs with their joining rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from entitlements.model import LEVELS
from entitlements.policy.reader import CODE, Node
from entitlements.policy.schema import (
    STANDARD_BENEFIT_VALUES,
    BenefitRow,
    Club,
    ClubRules,
    Place,
    QuotaRow,
)

UNLIMITED = "unlimited"
#: E values whose quota is fixed by the value itself (the quota table must agree).
_E_QUOTA: dict[str, int | None] = {"once_a_year": 1, "unlimited": None}


def _quota(node: Node, level: str) -> int | None:
    value = node.raw(level)
    if value == UNLIMITED:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        node.fail(level, f'a yearly quota is a whole number ≥ 1 or "unlimited", got {value!r}')
    return value


def read_quotas(
    node: Node, schemes: Iterable[str], benefits: Mapping[str, tuple[BenefitRow, ...]]
) -> tuple[QuotaRow, ...]:
    """``[quotas]`` (V1): per counted service, per scheme a table level → uses a calendar
    year (or ``"unlimited"``). A service named like an E row follows that row: exactly its
    levels beyond standard are listed, ``once_a_year`` with 1 and ``unlimited`` unlimited.
    Any other service carries ``zh``/``en`` names and may list ``[….places]``."""
    node.rule("V")
    served = tuple(schemes)
    rows: list[QuotaRow] = []
    for code in node.remaining():
        if not CODE.match(code):
            node.fail(code, "service codes are lower-case snake_case")
        entry = node.table(code)
        rule = entry.rule("V")
        assumed = bool(entry.raw("assumption", False))
        e_rows = {s: next((r for r in benefits[s] if r.code == code), None) for s in served}
        benefit_row = any(r is not None for r in e_rows.values())
        if benefit_row:
            first = next(r for r in e_rows.values() if r is not None)
            zh, en = first.zh, first.en
        else:
            zh, en = entry.text("zh"), entry.text("en")
        places: list[Place] = []
        if entry.has("places"):
            places_node = entry.table("places")
            for place in places_node.remaining():
                if not CODE.match(place):
                    places_node.fail(place, "place codes are lower-case snake_case")
                names = places_node.table(place)
                places.append(Place(place, names.text("zh"), names.text("en")))
                names.done()
            if not places:
                places_node.fail(None, "no place listed")
            places_node.done()
        else:
            entry.raw("places", None)
        quotas: dict[str, dict[str, int | None]] = {}
        for scheme in served:
            e_row = e_rows[scheme]
            if not entry.has(scheme):
                entry.raw(scheme, None)
                if e_row is not None and any(v not in STANDARD_BENEFIT_VALUES for v in e_row.values.values()):
                    entry.fail(scheme, f"E gives {code} to some {scheme} levels: list their quotas")
                continue
            table = entry.table(scheme)
            per_level: dict[str, int | None] = {}
            for level in table.remaining():
                if level not in LEVELS[scheme]:
                    table.fail(level, f"unknown {scheme} level {level!r}")
                per_level[level] = _quota(table, level)
            if e_row is not None:
                for level in LEVELS[scheme]:
                    value = e_row.values[level]
                    beyond = value not in STANDARD_BENEFIT_VALUES
                    if beyond and level not in per_level:
                        table.fail(level, f"E gives {level} {code} ({value}): its yearly quota is missing")
                    if not beyond and level in per_level:
                        table.fail(level, f"E gives {level} no {code} beyond standard ({value}): no quota")
                    if beyond and value in _E_QUOTA and per_level[level] != _E_QUOTA[value]:
                        want = _E_QUOTA[value]
                        table.fail(
                            level, f"E says {value}: the quota must be {UNLIMITED if want is None else want}"
                        )
            table.done()
            quotas[scheme] = per_level
        entry.done()
        rows.append(QuotaRow(code, zh, en, benefit_row, quotas, tuple(places), assumed, rule))
    node.done()
    return tuple(rows)


def read_clubs(node: Node, schemes: Iterable[str]) -> ClubRules:
    """``[clubs]`` (V2): ``min_tenure_months``; ``[clubs.vip_levels]`` per scheme the levels
    that join at once; ``[clubs.list]`` club code → names."""
    rule = node.rule("V2")
    months = node.integer("min_tenure_months", minimum=0)
    vip_node = node.table("vip_levels")
    vip: dict[str, frozenset[str]] = {}
    for scheme in schemes:
        vip[scheme] = vip_node.codes(scheme, LEVELS[scheme], default=[])
    vip_node.done()
    list_node = node.table("list")
    clubs: list[Club] = []
    for code in list_node.remaining():
        if not CODE.match(code):
            list_node.fail(code, "club codes are lower-case snake_case")
        names = list_node.table(code)
        clubs.append(Club(code, names.text("zh"), names.text("en")))
        names.done()
    if not clubs:
        list_node.fail(None, "no club listed")
    list_node.done()
    node.done()
    return ClubRules(tuple(clubs), vip, months, rule)
