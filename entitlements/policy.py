"""Policies: named, versioned rule sets as TOML data, validated on load.

One file per policy in ``entitlements/policies/`` (read with ``importlib.resources`` and
``tomllib``). Every table carries ``rule = "<SPEC rule ID>"``; values the SPEC marks
[assumption] carry ``assumption = true`` (or a string saying what was assumed). A
provincial override file changes a subset of values (deep merge: tables merge, arrays
and values replace) and is validated the same way.

Validation is strict: an unknown key, a missing level, overlapping or gapped bands and
non-monotonic thresholds are ``PolicyError``s naming the file and the key.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Final, Literal, NoReturn

from entitlements.errors import InvalidAmount, PolicyError
from entitlements.model import FLAGS, LEVELS, NETWORKS, PAYMENT_MODES, SCHEMES, SERVICE_TYPES
from entitlements.money import yuan_to_fen
from entitlements.months import Month

#: Policy names shipped with the package (SPEC §6).
POLICY_NAMES: Final[tuple[str, ...]] = (
    "unicom-2015",
    "unicom-vip",
    "unicom-henan-2011",
    "unicom-cumulative",
    "cmcc-credit",
)

#: The rating section each scheme's policy carries.
RATING_SECTION: Final[dict[str, str]] = {
    "star": "star",
    "vip_card": "card",
    "membership": "membership",
    "credit_star": "credit_star",
}

#: Benefit cell values (E table). ``no`` and ``standard`` are "nothing beyond standard".
BENEFIT_VALUES: Final[frozenset[str]] = frozenset(
    {"yes", "no", "standard", "priority", "once_a_year", "unlimited"}
)
STANDARD_BENEFIT_VALUES: Final[frozenset[str]] = frozenset({"no", "standard"})

#: The E-table row that decides R1 (emergency reactivation) and the one that decides Q3.
REACTIVATION_BENEFIT: Final = "emergency_reactivation"
MANAGER_BENEFIT: Final = "customer_manager"

_RULE_ID = re.compile(r"^(T[1-5](\.\d{1,2})?|Q[1-6]|E|R([1-9]|1[0-2])|W[1-6])$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_META_KEYS: Final[frozenset[str]] = frozenset({"assumption", "note", "source"})

BandBounds = Literal["lower", "upper", "both"]
ValidityMode = Literal["star", "card", "monthly"]
BeforeJoining = Literal["zero", "skip"]


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True, eq=False)
class LevelName:
    """Display names of a level."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True, eq=False)
class Ladder:
    """Thresholds, highest level first: a figure at or above a bound reaches that level.

    Bounds are in the rating's unit (milli-points for star values, fen for averages,
    points for credit scores). ``inclusive`` is whether the bound itself reaches the level.
    """

    levels: tuple[str, ...]
    bounds: tuple[int, ...]
    inclusive: bool
    bottom: str
    rule: str

    def level_of(self, numerator: int, denominator: int = 1) -> tuple[str, int | None]:
        """The level of the figure ``numerator / denominator`` and the bound it crossed."""
        if self.inclusive:
            for level, bound in zip(self.levels, self.bounds, strict=True):
                if numerator >= bound * denominator:
                    return level, bound
        else:
            for level, bound in zip(self.levels, self.bounds, strict=True):
                if numerator > bound * denominator:
                    return level, bound
        return self.bottom, None

    def bound_of(self, level: str) -> int | None:
        """The lower bound of ``level`` (``None`` for the bottom or an unknown level)."""
        for name, bound in zip(self.levels, self.bounds, strict=True):
            if name == level:
                return bound
        return None

    def next_above(self, level: str) -> tuple[str, int] | None:
        """The next level up from ``level`` and its bound; ``None`` at the top."""
        if level == self.bottom:
            index = len(self.levels)
        elif level in self.levels:
            index = self.levels.index(level)
        else:
            return None
        if index == 0:
            return None
        return self.levels[index - 1], self.bounds[index - 1]


@dataclass(frozen=True, slots=True, eq=False)
class Band:
    """One band of a table: ``lo``/``hi`` ``None`` means open."""

    lo: int | None
    hi: int | None
    value: int


@dataclass(frozen=True, slots=True, eq=False)
class Bands:
    """A banded table. ``bounds``: ``lower`` = [lo, hi), ``upper`` = (lo, hi], ``both`` = [lo, hi]."""

    bands: tuple[Band, ...]
    bounds: BandBounds
    rule: str

    def lookup(self, numerator: int, denominator: int = 1) -> Band | None:
        """The band holding ``numerator / denominator`` (exact, no rounding)."""
        for band in self.bands:
            lo = None if band.lo is None else band.lo * denominator
            hi = None if band.hi is None else band.hi * denominator
            if self.bounds == "upper":
                if (lo is None or numerator > lo) and (hi is None or numerator <= hi):
                    return band
            elif self.bounds == "lower":
                if (lo is None or numerator >= lo) and (hi is None or numerator < hi):
                    return band
            elif (lo is None or numerator >= lo) and (hi is None or numerator <= hi):
                return band
        return None


@dataclass(frozen=True, slots=True, eq=False)
class Eligibility:
    """Who a scheme rates: service types, networks, and exclusions by flag / payment mode."""

    service_types: frozenset[str]
    networks: frozenset[str] | None
    excluded_flags: frozenset[str]
    excluded_payment_modes: frozenset[str]
    rule: str
    exclusion_rule: str


@dataclass(frozen=True, slots=True, eq=False)
class Validity:
    """How long a level holds and how re-evaluation works (T1.9, T2.5/T2.6, or monthly)."""

    mode: ValidityMode
    months: int
    expiry_day: int
    next_month: bool
    rule: str
    rise_rule: str


@dataclass(frozen=True, slots=True, eq=False)
class ThresholdSet:
    """Star thresholds from ``valid_from`` until a later set replaces them (T1.7)."""

    valid_from: Month
    ladder: Ladder


@dataclass(frozen=True, slots=True, eq=False)
class StarRules:
    """T1: value = ARPU score × tenure score, cut by yearly thresholds; special levels."""

    eligibility: Eligibility
    min_tenure_months: int
    tenure_rule: str
    arpu_months: int
    points_per_yuan: int
    arpu_rule: str
    tenure_score: Bands
    #: tenure score in milli by tenure month, index clamped to the last entry.
    tenure_score_by_month: tuple[int, ...]
    threshold_sets: tuple[ThresholdSet, ...]
    special_levels: tuple[tuple[str, frozenset[str]], ...]
    special_rule: str
    validity: Validity

    def thresholds_for(self, month: Month) -> ThresholdSet | None:
        """The threshold set in force for an evaluation in ``month``."""
        chosen = None
        for candidate in self.threshold_sets:
            if candidate.valid_from <= month:
                chosen = candidate
        return chosen


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    """A card band set for some service types / networks (first matching segment wins)."""

    name: str
    service_types: frozenset[str]
    networks: frozenset[str] | None
    ladder: Ladder


@dataclass(frozen=True, slots=True, eq=False)
class Supreme:
    """T2.8: the supreme card, for group customers only."""

    required_flags: frozenset[str]
    min_average_fen: int
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class CardRules:
    """T2/T3: VIP cards by average billed amount, with the Henan special rules."""

    eligibility: Eligibility
    min_tenure_months: int
    tenure_rule: str
    average_months: int
    before_joining: BeforeJoining
    average_rule: str
    segments: tuple[Segment, ...]
    supreme: Supreme | None
    lucky_classes: Mapping[int, str]
    lucky_rule: str
    contract_exact: Mapping[int, str]
    contract_at_least: tuple[tuple[int, str], ...]
    contract_rule: str
    migration_min_plan: int | None
    migration_rule: str
    reporting_rule: str | None
    billing_closes_day: int
    schedule_rule: str
    validity: Validity


@dataclass(frozen=True, slots=True, eq=False)
class MembershipRules:
    """T4: the highest level whose cumulative and this-month payment conditions both hold."""

    eligibility: Eligibility
    ladder: tuple[tuple[str, int, int], ...]
    rule: str
    validity: Validity


@dataclass(frozen=True, slots=True, eq=False)
class CreditRules:
    """T5: brand + tenure + spend − suspensions points, cut into credit stars."""

    eligibility: Eligibility
    brand_points: Mapping[str, int]
    other_brand_points: int
    brand_rule: str
    tenure_points: Bands
    spend_points: Bands
    spend_months: int
    before_joining: BeforeJoining
    suspension_points: int
    suspension_rule: str
    ladder: Ladder
    validity: Validity


Rating = StarRules | CardRules | MembershipRules | CreditRules


@dataclass(frozen=True, slots=True, eq=False)
class Transition:
    """T1.11: legacy cards of ``legacy_scheme`` are honoured until they expire."""

    legacy_scheme: str
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class RouteRule:
    """Q1/Q2: the queue and priority of one level."""

    queue: Literal["vip", "general"]
    priority: int


@dataclass(frozen=True, slots=True, eq=False)
class Routing:
    """Q1–Q3 as data: per scheme and level, the queue and priority."""

    general_priority: int
    levels: Mapping[str, Mapping[str, RouteRule]]
    rule: str
    priority_rule: str


@dataclass(frozen=True, slots=True, eq=False)
class BenefitRow:
    """One row of the E table: a benefit and its value per level."""

    code: str
    zh: str
    en: str
    values: Mapping[str, str]
    assumed: frozenset[str]


@dataclass(frozen=True, slots=True, eq=False)
class ReactivationTerms:
    """R3/R4/R6/R12 terms of one tier class (e.g. ``diamond``)."""

    name: str
    per_month: int
    credit_fen: int
    days: int
    hours: int
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class ReactivationRules:
    """R1–R8, R12 as data."""

    service_types: frozenset[str]
    refuse_at_arrears_months: int
    terms: Mapping[str, ReactivationTerms]
    levels: Mapping[str, Mapping[str, str]]
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class VerificationRules:
    """R9: how many wrong passwords lock verification, and for how long."""

    max_failures: int
    lock_minutes: int
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class WorkOrderRules:
    """W4: when an unpaid postpaid reactivation's work order becomes overdue."""

    overdue_after_hours: int
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """A validated policy: rating rules for its scheme plus routing, benefits, reactivation."""

    name: str
    version: str
    title: LevelName
    scheme: str
    effective_from: date
    effective_until: date | None
    source: str
    files: tuple[str, ...]
    level_names: Mapping[str, Mapping[str, LevelName]]
    rating: Rating
    transition: Transition | None
    routing: Routing
    benefits: Mapping[str, tuple[BenefitRow, ...]]
    reactivation: ReactivationRules
    verification: VerificationRules
    work_orders: WorkOrderRules
    document: Mapping[str, object] = field(repr=False)

    @property
    def schemes(self) -> tuple[str, ...]:
        """Every scheme this policy serves (its own, plus legacy cards under T1.11)."""
        return tuple(self.level_names)

    def level_name(self, scheme: str, level: str, lang: str = "zh") -> str:
        """The display name of a level in ``zh`` or ``en`` (the code if unknown)."""
        names = self.level_names.get(scheme, {}).get(level)
        if names is None:
            return level
        return names.zh if lang == "zh" else names.en

    def in_effect(self, day: date) -> bool:
        """Whether the policy applies on ``day``."""
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)


# --------------------------------------------------------------------------- reading


class _Source:
    """Where the keys of a (possibly merged) document came from, for error messages."""

    def __init__(self, base: str, override: str | None, override_doc: Mapping[str, object]):
        self.base = base
        self.override = override
        self.override_doc = override_doc

    def file_for(self, path: tuple[str | int, ...]) -> str:
        """The override file if it set (a prefix of) ``path``, else the base file."""
        if self.override is None:
            return self.base
        node: object = self.override_doc
        for part in path:
            if isinstance(part, int):
                # Arrays are replaced whole: if the override reached this array it owns it.
                return self.override
            if not isinstance(node, Mapping) or part not in node:
                return self.base
            node = node[part]
        return self.override


_MISSING: Final = object()


class _Node:
    """A table being read: every key read is marked, the rest are unknown keys."""

    def __init__(self, data: Mapping[str, object], path: tuple[str | int, ...], src: _Source) -> None:
        self.data = data
        self.path = path
        self.src = src
        self.used: set[str] = set(_META_KEYS)

    # -- errors

    def where(self, key: str | int | None = None) -> str:
        """The dotted key path for messages (``star.tenure_score.bands[2]``)."""
        parts = self.path if key is None else (*self.path, key)
        text = ""
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text or "(top level)"

    def fail(self, key: str | int | None, problem: str) -> NoReturn:
        """Raise a ``PolicyError`` for ``key`` of this table."""
        parts = self.path if key is None else (*self.path, key)
        raise PolicyError(self.src.file_for(parts), self.where(key), problem)

    def child(self, key: str | int, data: Mapping[str, object]) -> _Node:
        """A node for the sub-table ``key``."""
        return _Node(data, (*self.path, key), self.src)

    # -- access

    def has(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return key in self.data

    def raw(self, key: str, default: object = _MISSING) -> object:
        """The value of ``key`` (marked as read); missing and no default → error."""
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.fail(key, "missing key")
        return default

    def text(self, key: str, default: str | None = None, choices: Iterable[str] = ()) -> str:
        """A non-empty string, optionally one of ``choices``."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {value!r}")
        allowed = tuple(choices)
        if allowed and value not in allowed:
            self.fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, key: str, default: int | None = None, minimum: int | None = None) -> int:
        """An integer (not a bool), at least ``minimum``."""
        value = self.raw(key, _MISSING if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        """``true`` or ``false``."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")
        return value

    def day(self, key: str, optional: bool = False) -> date | None:
        """A TOML local date (``2015-01-20``)."""
        value = self.raw(key, None if optional else _MISSING)
        if value is None:
            return None
        if not isinstance(value, date) or hasattr(value, "hour"):
            self.fail(key, f"expected a date like 2015-01-20, got {value!r}")
        return value

    def month(self, key: str) -> Month:
        """A month as ``"YYYY-MM"``."""
        value = self.text(key)
        try:
            return Month.parse(value)
        except ValueError:
            self.fail(key, f'expected a month like "2015-01", got {value!r}')

    def fen(self, key: str, value: object = _MISSING) -> int:
        """An amount in yuan (integer, decimal number or string, ≤ 2 decimals) as fen."""
        if value is _MISSING:
            value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
            self.fail(key, f"expected an amount in yuan, got {value!r}")
        try:
            return yuan_to_fen(value)
        except InvalidAmount as exc:
            self.fail(key, exc.message)

    def milli(self, key: str, value: object = _MISSING) -> int:
        """A decimal number with at most 3 decimals, scaled by 1000 (exact)."""
        if value is _MISSING:
            value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            self.fail(key, f"expected a number, got {value!r}")
        try:
            number = Decimal(value) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            self.fail(key, f"expected a number, got {value!r}")
        scaled = number * 1000
        if not scaled.is_finite() or scaled != scaled.to_integral_value():
            self.fail(key, f"at most 3 decimals allowed, got {value!r}")
        return int(scaled)

    def codes(
        self, key: str, choices: Iterable[str] | None = None, default: list[str] | None = None
    ) -> frozenset[str]:
        """A list of codes, each one of ``choices`` when given."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"expected a list of strings, got {value!r}")
        allowed = None if choices is None else frozenset(choices)
        for item in value:
            if allowed is not None and item not in allowed:
                self.fail(key, f"{item!r} is not one of {', '.join(sorted(allowed))}")
        if len(set(value)) != len(value):
            self.fail(key, "duplicate entries")
        return frozenset(value)

    def table(self, key: str) -> _Node:
        """The sub-table ``key`` (required)."""
        value = self.raw(key)
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a table, got {type(value).__name__}")
        return self.child(key, value)

    def optional_table(self, key: str) -> _Node | None:
        """The sub-table ``key`` or ``None``."""
        if not self.has(key):
            self.used.add(key)
            return None
        return self.table(key)

    def tables(self, key: str) -> list[_Node]:
        """An array of tables (``[[key]]`` or ``key = [{…}, …]``), non-empty."""
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            self.fail(key, "expected a non-empty array of tables")
        nodes = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                self.fail(key, f"item {index} is not a table")
            nodes.append(_Node(item, (*self.path, key, index), self.src))
        return nodes

    def rule(self, expected_prefix: str | None = None) -> str:
        """The table's ``rule`` (a SPEC rule ID), required; checks its family if given."""
        value = self.text("rule")
        if not _RULE_ID.match(value):
            self.fail("rule", f"{value!r} is not a SPEC rule ID (like T1.5, Q2, E, R4)")
        if expected_prefix is not None and not value.startswith(expected_prefix):
            self.fail("rule", f"expected a {expected_prefix}… rule ID here, got {value!r}")
        return value

    def remaining(self) -> list[str]:
        """Keys not read yet (for level-keyed tables)."""
        return [key for key in self.data if key not in self.used]

    def done(self) -> None:
        """Fail on any key that was never read (an unknown key)."""
        for key, value in self.data.items():
            if key == "assumption" and not isinstance(value, (bool, str)):
                self.fail(key, "expected true/false or a sentence saying what is assumed")
            if key in ("note", "source") and not isinstance(value, str):
                self.fail(key, "expected a string")
        unknown = self.remaining()
        if unknown:
            self.fail(unknown[0], "unknown key")


# --------------------------------------------------------------------------- sections


def _level_names(node: _Node, scheme: str) -> dict[str, LevelName]:
    sub = node.table(scheme)
    sub.rule()
    names: dict[str, LevelName] = {}
    for level in LEVELS[scheme]:
        if not sub.has(level):
            sub.fail(level, f"missing level {level!r} of scheme {scheme!r}")
        entry = sub.table(level)
        names[level] = LevelName(zh=entry.text("zh"), en=entry.text("en"))
        entry.done()
    sub.done()
    return names


def _eligibility(node: _Node, rule_prefix: str) -> Eligibility:
    rule = node.rule(rule_prefix)
    networks = node.codes("networks", NETWORKS) if node.has("networks") else None
    excluded = node.codes("excluded_flags", FLAGS, default=[])
    modes = node.codes("excluded_payment_modes", PAYMENT_MODES, default=[])
    exclusion_rule = node.text("exclusion_rule", default=rule)
    if not _RULE_ID.match(exclusion_rule):
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


def _ladder(
    node: _Node,
    scheme: str,
    rated: Iterable[str],
    read: Callable[[_Node, str], int],
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


def _bands(
    node: _Node,
    key: str,
    value_key: str,
    read_bound: Callable[[_Node, str], int],
    read_value: Callable[[_Node, str], int],
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


def _validity(node: _Node, expected: ValidityMode | None = None) -> Validity:
    rule = node.rule()
    modes = ("star", "card", "monthly")
    mode = node.text("mode", choices=modes if expected is None else (expected,))
    months = node.integer("months", default=12, minimum=1)
    expiry_day = node.integer("expiry_day", default=8, minimum=1)
    if expiry_day > 28:
        node.fail("expiry_day", "must be 1..28 so every month has it")
    effective = node.text("effective", default="next_month", choices=("next_month", "run_day"))
    rise_rule = node.text("rise_rule", default=rule)
    if not _RULE_ID.match(rise_rule):
        node.fail("rise_rule", f"{rise_rule!r} is not a SPEC rule ID")
    if mode == "card" and effective != "next_month":
        node.fail("effective", "card validity is day-based (T2.5); 'effective' is not used")
    node.done()
    return Validity(
        mode=mode,  # type: ignore[arg-type]  # one of modes
        months=months,
        expiry_day=expiry_day,
        next_month=effective == "next_month",
        rule=rule,
        rise_rule=rise_rule,
    )


def _whole_points(node: _Node, key: str) -> int:
    return node.integer(key)


def _star(node: _Node) -> StarRules:
    eligibility = _eligibility(node.table("eligibility"), "T1")
    tenure = node.table("tenure")
    tenure_rule = tenure.rule("T1")
    min_tenure = tenure.integer("min_months", minimum=1)
    tenure.done()
    arpu = node.table("arpu")
    arpu_rule = arpu.rule("T1")
    arpu_months = arpu.integer("months", minimum=1)
    points_per_yuan = arpu.integer("points_per_yuan", minimum=1)
    arpu.done()
    score_node = node.table("tenure_score")
    score = _bands(
        score_node,
        "bands",
        "score",
        _whole_points,
        lambda n, k: n.milli(k),
        floor=min_tenure,
    )
    score_node.done()
    top = max(b.lo for b in score.bands if b.lo is not None)
    by_month = []
    for months in range(top + 1):
        band = score.lookup(max(months, min_tenure))
        by_month.append(0 if band is None else band.value)
    th_node = node.table("thresholds")
    th_rule = th_node.rule("T1")
    inclusive = th_node.boolean("lower_bound_inclusive")
    sets: list[ThresholdSet] = []
    value_levels = ("five_star", "four_star", "three_star", "two_star", "one_star")
    for set_node in th_node.tables("sets"):
        valid_from = set_node.month("valid_from")
        if set_node.has("rule"):
            set_node.rule("T1")
        ladder = _ladder_plain(
            set_node, "star", value_levels[:-1], lambda n, k: n.milli(k), inclusive, th_rule
        )
        if sets and valid_from <= sets[-1].valid_from:
            set_node.fail("valid_from", "threshold sets must be in increasing valid_from order")
        sets.append(ThresholdSet(valid_from, _with_bottom(ladder, "one_star")))
        set_node.done()
    th_node.done()
    special = node.table("special_levels")
    special_rule = special.rule("T1")
    specials = []
    for level in ("vip_guest", "loyal"):
        if special.has(level):
            criteria = special.table(level)
            specials.append((level, criteria.codes("flags_any", FLAGS)))
            criteria.done()
    special.done()
    validity = _validity(node.table("validity"), "star")
    node.done()
    return StarRules(
        eligibility=eligibility,
        min_tenure_months=min_tenure,
        tenure_rule=tenure_rule,
        arpu_months=arpu_months,
        points_per_yuan=points_per_yuan,
        arpu_rule=arpu_rule,
        tenure_score=score,
        tenure_score_by_month=tuple(by_month),
        threshold_sets=tuple(sets),
        special_levels=tuple(specials),
        special_rule=special_rule,
        validity=validity,
    )


def _ladder_plain(
    node: _Node,
    scheme: str,
    levels: Iterable[str],
    read: Callable[[_Node, str], int],
    inclusive: bool,
    rule: str,
) -> Ladder:
    """Like ``_ladder`` for a table whose rule and inclusivity live on its parent."""
    names: list[str] = []
    bounds: list[int] = []
    for level in levels:
        if not node.has(level):
            node.fail(level, f"missing level {level!r}")
        bound = read(node, level)
        if bounds and bound >= bounds[-1]:
            node.fail(
                level,
                f"thresholds must fall from level to level: {level} ({bound}) is not below "
                f"{names[-1]} ({bounds[-1]})",
            )
        names.append(level)
        bounds.append(bound)
    return Ladder(tuple(names), tuple(bounds), inclusive, LEVELS[scheme][-1], rule)


def _with_bottom(ladder: Ladder, bottom: str) -> Ladder:
    return Ladder(ladder.levels, ladder.bounds, ladder.inclusive, bottom, ladder.rule)


def _level_map(node: _Node, key: str, scheme: str) -> dict[int, str]:
    table = node.table(key)
    result: dict[int, str] = {}
    for raw_key in table.remaining():
        value = table.raw(raw_key)
        if not raw_key.isdigit():
            table.fail(raw_key, "keys must be whole numbers")
        if not isinstance(value, str) or value not in LEVELS[scheme][:-1]:
            table.fail(raw_key, f"{value!r} is not a {scheme} level")
        result[int(raw_key)] = value
    table.done()
    return result


def _card(node: _Node) -> CardRules:
    eligibility = _eligibility(node.table("eligibility"), "T")
    tenure_rule = eligibility.rule
    min_tenure = 0
    tenure = node.optional_table("tenure")
    if tenure is not None:
        tenure_rule = tenure.rule("T")
        min_tenure = tenure.integer("min_months", minimum=1)
        tenure.done()
    average = node.table("average")
    average_rule = average.rule("T")
    average_months = average.integer("months", minimum=1)
    before_joining = average.text("before_joining", choices=("zero", "skip"))
    average.done()
    segments = []
    rated = ("diamond", "gold", "silver")
    for seg in node.tables("segments"):
        name = seg.text("name")
        types = seg.codes("service_types", SERVICE_TYPES)
        networks = seg.codes("networks", NETWORKS) if seg.has("networks") else None
        ladder = _ladder(seg, "vip_card", rated, lambda n, k: n.fen(k), required=("diamond",))
        seg.done()
        segments.append(Segment(name, types, networks, ladder))
    supreme = None
    sup = node.optional_table("supreme")
    if sup is not None:
        supreme = Supreme(
            required_flags=sup.codes("required_flags", FLAGS),
            min_average_fen=sup.fen("min_average_yuan"),
            rule=sup.rule("T2"),
        )
        sup.done()
    lucky: dict[int, str] = {}
    lucky_rule = "T3.2"
    lucky_node = node.optional_table("lucky_numbers")
    if lucky_node is not None:
        lucky_rule = lucky_node.rule("T3")
        lucky = _level_map(lucky_node, "classes", "vip_card")
        lucky_node.done()
    exact: dict[int, str] = {}
    at_least: list[tuple[int, str]] = []
    contract_rule = "T3.3"
    contract = node.optional_table("contract_plans")
    if contract is not None:
        contract_rule = contract.rule("T3")
        exact = _level_map(contract, "exact", "vip_card") if contract.has("exact") else {}
        if contract.has("at_least"):
            at_least = sorted(_level_map(contract, "at_least", "vip_card").items(), reverse=True)
        contract.done()
    migration_min = None
    migration_rule = "T3.4"
    migration = node.optional_table("migration")
    if migration is not None:
        migration_rule = migration.rule("T3")
        migration_min = migration.integer("min_contract_plan", minimum=1)
        migration.done()
    reporting_rule = None
    reporting = node.optional_table("reporting")
    if reporting is not None:
        reporting_rule = reporting.rule("T3")
        reporting.text("issue_by", choices=("month_end",))
        reporting.done()
    schedule = node.table("schedule")
    schedule_rule = schedule.rule("T")
    closes = schedule.integer("billing_closes_day", minimum=1)
    if closes > 28:
        schedule.fail("billing_closes_day", "must be 1..28")
    schedule.done()
    validity = _validity(node.table("validity"), "card")
    node.done()
    return CardRules(
        eligibility=eligibility,
        min_tenure_months=min_tenure,
        tenure_rule=tenure_rule,
        average_months=average_months,
        before_joining=before_joining,  # type: ignore[arg-type]  # checked by choices
        average_rule=average_rule,
        segments=tuple(segments),
        supreme=supreme,
        lucky_classes=lucky,
        lucky_rule=lucky_rule,
        contract_exact=exact,
        contract_at_least=tuple(at_least),
        contract_rule=contract_rule,
        migration_min_plan=migration_min,
        migration_rule=migration_rule,
        reporting_rule=reporting_rule,
        billing_closes_day=closes,
        schedule_rule=schedule_rule,
        validity=validity,
    )


def _membership(node: _Node) -> MembershipRules:
    eligibility = _eligibility(node.table("eligibility"), "T4")
    ladder_node = node.table("ladder")
    rule = ladder_node.rule("T4")
    ladder: list[tuple[str, int, int]] = []
    for level in LEVELS["membership"][:-1]:
        if not ladder_node.has(level):
            ladder_node.fail(level, f"missing level {level!r}")
        entry = ladder_node.table(level)
        cumulative = entry.fen("cumulative_yuan")
        month = entry.fen("month_yuan")
        entry.done()
        if ladder and (cumulative > ladder[-1][1] or month > ladder[-1][2]):
            ladder_node.fail(level, f"conditions must not rise from {ladder[-1][0]} down to {level}")
        if ladder and (cumulative, month) == ladder[-1][1:]:
            ladder_node.fail(level, f"same conditions as {ladder[-1][0]}")
        ladder.append((level, cumulative, month))
    ladder_node.done()
    validity = _validity(node.table("validity"))
    node.done()
    return MembershipRules(eligibility, tuple(ladder), rule, validity)


def _credit(node: _Node) -> CreditRules:
    eligibility = _eligibility(node.table("eligibility"), "T5")
    brand = node.table("brand_points")
    brand_rule = brand.rule("T5")
    other = brand.integer("other", default=0)
    points = {key: brand.integer(key, minimum=0) for key in brand.remaining()}
    for key in points:
        if not _CODE.match(key):
            brand.fail(key, "brand codes are lower-case snake_case")
    brand.done()
    tenure_node = node.table("tenure_points")
    tenure = _bands(tenure_node, "bands", "points", _whole_points, _whole_points, floor=0)
    tenure_node.done()
    spend_node = node.table("spend_points")
    spend_months = spend_node.integer("months", minimum=1)
    before_joining = spend_node.text("before_joining", choices=("zero", "skip"))
    spend = _bands(spend_node, "bands", "points", lambda n, k: n.fen(k), _whole_points, floor=None)
    spend_node.done()
    susp = node.table("suspensions")
    suspension_rule = susp.rule("T5")
    suspension_points = susp.integer("points_each")
    if suspension_points > 0:
        susp.fail("points_each", "a suspension subtracts points (T5.4): use a negative number")
    susp.done()
    thresholds = node.table("thresholds")
    ladder = _ladder(thresholds, "credit_star", LEVELS["credit_star"][:-1], _whole_points)
    thresholds.done()
    validity = _validity(node.table("validity"))
    node.done()
    return CreditRules(
        eligibility=eligibility,
        brand_points=points,
        other_brand_points=other,
        brand_rule=brand_rule,
        tenure_points=tenure,
        spend_points=spend,
        spend_months=spend_months,
        before_joining=before_joining,  # type: ignore[arg-type]  # checked by choices
        suspension_points=suspension_points,
        suspension_rule=suspension_rule,
        ladder=ladder,
        validity=validity,
    )


def _routing(node: _Node, schemes: Iterable[str]) -> Routing:
    rule = node.rule("Q")
    priority_rule = node.text("priority_rule", default="Q2")
    general = node.integer("general_priority")
    levels: dict[str, dict[str, RouteRule]] = {}
    for scheme in schemes:
        sub = node.table(scheme)
        sub.rule("Q")
        per_level: dict[str, RouteRule] = {}
        for level in LEVELS[scheme]:
            if not sub.has(level):
                sub.fail(level, f"missing level {level!r}")
            entry = sub.table(level)
            queue = entry.text("queue", choices=("vip", "general"))
            priority = entry.integer("priority")
            entry.done()
            if queue == "general" and priority != general:
                entry.fail("priority", f"the general queue has normal priority {general} (Q2)")
            if queue == "vip" and priority <= general:
                entry.fail("priority", f"VIP desk priority must be above {general} (Q2)")
            per_level[level] = RouteRule(queue, priority)  # type: ignore[arg-type]  # choices
        if per_level[LEVELS[scheme][-1]].queue != "general":
            sub.fail(LEVELS[scheme][-1], "the bottom level goes to the general queue (Q2)")
        ranks = [per_level[level].priority for level in LEVELS[scheme]]
        if any(a < b for a, b in itertools.pairwise(ranks)):
            sub.fail(None, "priorities must not rise from a higher level to a lower one (Q2)")
        sub.done()
        levels[scheme] = per_level
    node.done()
    return Routing(general, levels, rule, priority_rule)


def _benefits(node: _Node, schemes: Iterable[str]) -> dict[str, tuple[BenefitRow, ...]]:
    node.rule("E")
    result: dict[str, tuple[BenefitRow, ...]] = {}
    for scheme in schemes:
        sub = node.table(scheme)
        sub.rule("E")
        rows = []
        for code in sub.remaining():
            if not _CODE.match(code):
                sub.fail(code, "benefit codes are lower-case snake_case")
            row = sub.table(code)
            zh, en = row.text("zh"), row.text("en")
            assumed = row.codes("assumed", LEVELS[scheme], default=[])
            values: dict[str, str] = {}
            for level in LEVELS[scheme]:
                if not row.has(level):
                    row.fail(level, f"missing level {level!r}")
                values[level] = row.text(level, choices=sorted(BENEFIT_VALUES))
            row.done()
            rows.append(BenefitRow(code, zh, en, values, assumed))
        codes = {row.code for row in rows}
        for needed in (REACTIVATION_BENEFIT, MANAGER_BENEFIT):
            if needed not in codes:
                sub.fail(needed, f"missing benefit row {needed!r}")
        sub.done()
        result[scheme] = tuple(rows)
    node.done()
    return result


def _reactivation(node: _Node, benefits: Mapping[str, tuple[BenefitRow, ...]]) -> ReactivationRules:
    rule = node.rule("R")
    service_types = node.codes("service_types", SERVICE_TYPES)
    arrears = node.table("arrears")
    arrears.rule("R7")
    refuse_at = arrears.integer("refuse_at_months", minimum=1)
    arrears.done()
    terms_node = node.table("terms")
    terms_node.rule("R")
    terms: dict[str, ReactivationTerms] = {}
    for name in terms_node.remaining():
        entry = terms_node.table(name)
        terms[name] = ReactivationTerms(
            name=name,
            rule=entry.rule("R"),
            per_month=entry.integer("per_month", minimum=1),
            credit_fen=entry.fen("credit_yuan"),
            days=entry.integer("days", minimum=1),
            hours=entry.integer("hours", minimum=1),
        )
        if terms[name].credit_fen <= 0:
            entry.fail("credit_yuan", "the temporary credit must be positive (R4)")
        entry.done()
    if not terms:
        terms_node.fail(None, "no reactivation terms")
    levels_node = node.table("levels")
    levels_node.rule("R")
    levels: dict[str, dict[str, str]] = {}
    for scheme, rows in benefits.items():
        sub = levels_node.table(scheme)
        sub.rule("R")
        row = next(r for r in rows if r.code == REACTIVATION_BENEFIT)
        entitled = [level for level in LEVELS[scheme] if row.values[level] == "yes"]
        mapping: dict[str, str] = {}
        for level in entitled:
            if not sub.has(level):
                sub.fail(level, f"{level} has emergency reactivation in E, so it needs terms (R1)")
            name = sub.text(level)
            if name not in terms:
                sub.fail(level, f"unknown terms {name!r} (not in reactivation.terms)")
            mapping[level] = name
        for extra in sub.remaining():
            if extra in LEVELS[scheme]:
                sub.fail(extra, f"{extra} has no emergency reactivation in E (R1)")
        sub.done()
        levels[scheme] = mapping
    levels_node.done()
    node.done()
    return ReactivationRules(service_types, refuse_at, terms, levels, rule)


def _parse(doc: Mapping[str, object], src: _Source, expected_name: str | None) -> Policy:
    top = _Node(doc, (), src)
    name = top.text("name")
    if expected_name is not None and name != expected_name:
        top.fail("name", f"expected {expected_name!r}, the file's policy name")
    version = top.text("version")
    title_node = top.table("title")
    title = LevelName(title_node.text("zh"), title_node.text("en"))
    title_node.done()
    scheme = top.text("scheme", choices=SCHEMES)
    top.rule("T")
    effective_from = top.day("effective_from")
    effective_until = top.day("effective_until", optional=True)
    assert effective_from is not None  # required key: day() raised otherwise
    if effective_until is not None and effective_until < effective_from:
        top.fail("effective_until", "ends before effective_from")
    source = top.text("source")
    top.raw("province", None)

    transition = None
    trans = top.optional_table("transition")
    if trans is not None:
        legacy = trans.text("legacy_scheme", choices=("vip_card",))
        transition = Transition(legacy, trans.rule("T1"))
        trans.done()
        if scheme != "star":
            trans.fail(None, "a legacy-card transition (T1.11) belongs to a star policy")

    schemes = [scheme] + ([transition.legacy_scheme] if transition else [])
    levels_node = top.table("levels")
    level_names = {s: _level_names(levels_node, s) for s in schemes}
    levels_node.done()

    section = RATING_SECTION[scheme]
    for other in RATING_SECTION.values():
        if other != section and top.has(other):
            top.fail(other, f"a {scheme} policy has no [{other}] section")
    rating_node = top.table(section)
    rating: Rating
    if scheme == "star":
        rating = _star(rating_node)
    elif scheme == "vip_card":
        rating = _card(rating_node)
    elif scheme == "membership":
        rating = _membership(rating_node)
    else:
        rating = _credit(rating_node)

    routing = _routing(top.table("routing"), schemes)
    benefits = _benefits(top.table("benefits"), schemes)
    reactivation = _reactivation(top.table("reactivation"), benefits)
    ver = top.table("verification")
    verification = VerificationRules(
        max_failures=ver.integer("max_failures", minimum=1),
        lock_minutes=ver.integer("lock_minutes", minimum=1),
        rule=ver.rule("R9"),
    )
    ver.done()
    wo = top.table("work_orders")
    work_orders = WorkOrderRules(wo.integer("overdue_after_hours", minimum=1), wo.rule("W"))
    wo.done()
    top.done()
    files = (src.base,) if src.override is None else (src.base, src.override)
    return Policy(
        name=name,
        version=version,
        title=title,
        scheme=scheme,
        effective_from=effective_from,
        effective_until=effective_until,
        source=source,
        files=files,
        level_names=level_names,
        rating=rating,
        transition=transition,
        routing=routing,
        benefits=benefits,
        reactivation=reactivation,
        verification=verification,
        work_orders=work_orders,
        document=doc,
    )


# --------------------------------------------------------------------------- loading


def _read_toml(text: str, label: str) -> dict[str, object]:
    try:
        # Decimal keeps 1.1 and 300.00 exact: amounts and scores never pass through float.
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(label, "", f"not valid TOML: {exc}") from None


def _merge(base: Mapping[str, object], override: Mapping[str, object]) -> dict[str, object]:
    """Deep merge: tables merge key by key; arrays and plain values replace."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


def policy_names() -> tuple[str, ...]:
    """The names of the bundled policies."""
    return POLICY_NAMES


def _bundled_text(name: str) -> str:
    if name not in POLICY_NAMES:
        raise PolicyError(f"{name}.toml", "", f"unknown policy {name!r} (known: {', '.join(POLICY_NAMES)})")
    try:
        root = resources.files("entitlements")
    except NotADirectoryError:
        # An editable install made before entitlements/__init__.py existed resolves the
        # package as a namespace, which importlib.resources (3.11) cannot read; the
        # policies sit beside this module either way.
        return (Path(__file__).parent / "policies" / f"{name}.toml").read_text("utf-8")
    return root.joinpath("policies", f"{name}.toml").read_text("utf-8")


def parse_policy(
    text: str,
    *,
    label: str = "<policy>",
    override_text: str | None = None,
    override_label: str = "<override>",
    expected_name: str | None = None,
) -> Policy:
    """Validate a policy document (and an optional override) given as TOML text."""
    base = _read_toml(text, label)
    if override_text is None:
        return _parse(base, _Source(label, None, {}), expected_name)
    over = _read_toml(override_text, override_label)
    name = over.get("name")
    if name is not None and name != base.get("name"):
        raise PolicyError(override_label, "name", f"an override of {base.get('name')!r} cannot rename it")
    merged = _merge(base, over)
    if "version" not in over:
        merged["version"] = f"{base.get('version')}+{Path(override_label).stem}"
    return _parse(merged, _Source(label, override_label, over), expected_name)


@lru_cache(maxsize=32)
def load_policy(name: str, override: Path | None = None) -> Policy:
    """Load a bundled policy by name, with an optional provincial override file merged in.

    Cached per (name, override path): call ``load_policy.cache_clear()`` after editing an
    override file in a running process.
    """
    text = _bundled_text(name)
    label = f"entitlements/policies/{name}.toml"
    if override is None:
        return parse_policy(text, label=label, expected_name=name)
    try:
        override_text = Path(override).read_text("utf-8")
    except OSError as exc:
        raise PolicyError(str(override), "", f"cannot read the override: {exc}") from None
    return parse_policy(
        text,
        label=label,
        override_text=override_text,
        override_label=str(override),
        expected_name=name,
    )
