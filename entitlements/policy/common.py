"""Readers of the shapes several rating sections share: eligibility, ladders, bands, validity."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from entitlements.model import FLAGS, LEVELS, NETWORKS, PAYMENT_MODES, SERVICE_TYPES
from entitlements.policy.reader import RULE_ID, Node
from entitlements.policy.schema import Band, Bands, Eligibility, Ladder, Validity, ValidityMode


def read_eligibility(node: Node, rule_prefix: str) -> Eligibility:
    """``eligibility``: who a scheme rates (service types, networks) and whom it excludes."""
    rule = node.rule(rule_prefix)
    networks = node.codes("networks", NETWORKS) if node.has("networks") else None
    excluded = node.codes("excluded_flags", FLAGS, default=[])
    modes = node.codes("excluded_payment_modes", PAYMENT_MODES, default=[])
    exclusion_rule = node.text("exclusion_rule", default=rule)
    if not RULE_ID.match(exclusion_rule):
        node.fail("exclusion_rule", f"{exclusion_rule!r} is not a SPEC rule ID")
    elig = Eligibility(
        service_types=node.codes("service_types", SERVICE_TYPES),
        networks=networks,
        excluded_flags=excluded,
        excluded_payment_modes=modes,
        rule=rule,
        exclusion_rule=exclusion_rule,
    )
    if not elig.service_types:
        node.fail("service_types", "at least one service type is required")
    node.done()
    return elig


def read_ladder(
    node: Node,
    scheme: str,
    rated: Iterable[str],
    read: Callable[[Node, str], int],
    *,
    required: Iterable[str] | None = None,
    inclusive: bool | None = None,
) -> Ladder:
    """Thresholds per level, high → low; each strictly above the next one down."""
    rule = node.rule()
    inclusive = node.boolean("lower_bound_inclusive") if inclusive is None else inclusive
    must = tuple(rated if required is None else required)
    levels: list[str] = []
    bounds: list[int] = []
    for level in rated:
        if not node.has(level):
            if level in must:
                node.fail(level, f"missing level {level!r}")
            continue
        bound = read(node, level)
        if bounds and bound >= bounds[-1]:
            node.fail(
                level,
                f"thresholds must fall from level to level: {level} ({bound}) is not below "
                f"{levels[-1]} ({bounds[-1]})",
            )
        levels.append(level)
        bounds.append(bound)
    if not levels:
        node.fail(None, "no thresholds")
    return Ladder(tuple(levels), tuple(bounds), inclusive, LEVELS[scheme][-1], rule)


def read_bands(
    node: Node,
    key: str,
    value_key: str,
    read_bound: Callable[[Node, str], int],
    read_value: Callable[[Node, str], int],
    *,
    floor: int | None,
) -> Bands:
    """A banded table that covers ``floor``…∞ (``None`` = −∞…∞) without gaps or overlaps."""
    rule = node.rule()
    bounds_kind = node.text("bounds", choices=("lower", "upper", "both"))
    items = node.tables(key)
    bands: list[Band] = []
    for index, item in enumerate(items):
        lo = read_bound(item, "from") if item.has("from") else None
        hi = read_bound(item, "to") if item.has("to") else None
        value = read_value(item, value_key)
        item.done()
        if lo is not None and hi is not None and (hi < lo or (hi == lo and bounds_kind != "both")):
            item.fail("to", f"band ends ({hi}) before it starts ({lo})")
        if index == 0:
            if floor is None and lo is not None:
                item.fail("from", "the first band must be open below (no 'from')")
            if floor is not None and (lo is None or lo > floor):
                item.fail("from", f"the first band must start at {floor} or below")
        else:
            prev = bands[-1]
            if lo is None:
                item.fail("from", f"overlaps {node.where(key)}[{index - 1}] (no 'from')")
            if prev.hi is None:
                item.fail("from", f"overlaps {node.where(key)}[{index - 1}], which is open above")
            expected = prev.hi + 1 if bounds_kind == "both" else prev.hi
            if lo < expected:
                item.fail("from", f"overlaps {node.where(key)}[{index - 1}] (ends at {prev.hi})")
            if lo > expected:
                item.fail("from", f"gap after {node.where(key)}[{index - 1}] (ends at {prev.hi})")
        bands.append(Band(lo, hi, value))
    if bands[-1].hi is not None:
        items[-1].fail("to", "the last band must be open above (no 'to')")
    return Bands(tuple(bands), bounds_kind, rule)  # type: ignore[arg-type]  # checked by choices


def read_validity(node: Node, expected: ValidityMode | None = None) -> Validity:
    """``validity`` (T1.9, T2.5/T2.6 or monthly): how long a level holds, when it is re-evaluated."""
    rule = node.rule()
    modes = ("star", "card", "monthly")
    mode = node.text("mode", choices=modes if expected is None else (expected,))
    months = node.integer("months", default=12, minimum=1)
    expiry_day = node.integer("expiry_day", default=8, minimum=1)
    if expiry_day > 28:
        node.fail("expiry_day", "must be 1..28 so every month has it")
    effective = node.text("effective", default="next_month", choices=("next_month", "run_day"))
    rise_rule = node.text("rise_rule", default=rule)
    if not RULE_ID.match(rise_rule):
        node.fail("rise_rule", f"{rise_rule!r} is not a SPEC rule ID")
    if mode == "card" and effective != "next_month":
        node.fail("effective", "card validity is day-based (T2.5); 'effective' is not used")
    downgrade = node.boolean("downgrade", default=True)
    if not downgrade and mode != "monthly":
        node.fail("downgrade", "star and card levels fall only at re-evaluation; this is for monthly levels")
    node.done()
    return Validity(
        mode=mode,  # type: ignore[arg-type]  # one of modes
        months=months,
        expiry_day=expiry_day,
        next_month=effective == "next_month",
        rule=rule,
        rise_rule=rise_rule,
        downgrade=downgrade,
    )


def whole_points(node: Node, key: str) -> int:
    """A bound or value in whole points (credit scores, tenure months)."""
    return node.integer(key)
