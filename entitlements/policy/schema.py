"""The validated shape of a policy: frozen dataclasses the rules engine reads.

Nothing here reads TOML; ``entitlements.policy.document`` builds these from a document
checked key by key. Amounts are fen, star values and tenure scores milli-units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

from entitlements.months import Month

#: Benefit cell values (E table). ``no`` and ``standard`` are "nothing beyond standard".
BENEFIT_VALUES: Final[frozenset[str]] = frozenset(
    {"yes", "no", "standard", "priority", "once_a_year", "unlimited"}
)
STANDARD_BENEFIT_VALUES: Final[frozenset[str]] = frozenset({"no", "standard"})

#: The E-table row that decides R1 (emergency reactivation) and the one that decides Q3.
REACTIVATION_BENEFIT: Final = "emergency_reactivation"
MANAGER_BENEFIT: Final = "customer_manager"

BandBounds = Literal["lower", "upper", "both"]
ValidityMode = Literal["star", "card", "monthly"]
BeforeJoining = Literal["zero", "skip"]


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
    #: Whether a monthly level may fall (C5: membership levels never fall while the
    #: customer stays). Star and card levels fall only at re-evaluation, as their mode says.
    downgrade: bool


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
    #: C3: the special levels, like every star, start at ``min_tenure_months``.
    special_tenure_rule: str
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
    #: C1: the networks whose users get a lucky-number card at joining (``None``: any).
    lucky_networks: frozenset[str] | None
    lucky_network_rule: str
    contract_exact: Mapping[int, str]
    contract_at_least: tuple[tuple[int, str], ...]
    contract_rule: str
    #: C1: the networks whose users get a contract-plan card at joining (``None``: any).
    contract_networks: frozenset[str] | None
    contract_network_rule: str
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
class ServiceBenefits:
    """C2: service types that get only some rows of the service table.

    A subscriber of a service type in ``only`` has the listed rows at its level's value;
    every other row reads as the scheme's bottom level (what a customer without a level
    gets), cited by ``rule``.
    """

    only: Mapping[str, frozenset[str]]
    rule: str


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
    """W4: when an unpaid order becomes overdue; W2–W5: what each branch level may record."""

    overdue_after_hours: int
    rule: str
    #: Branch level (``city``, ``county``) → the events its staff may record (W2–W4).
    branch_events: Mapping[str, frozenset[str]]
    branch_rule: str
    #: H9: the sweeper suspends the number again by itself past the window (else the city does).
    auto_resuspend: bool = False
    #: H9: the most hours one ``extend`` event adds to a reactivation's window.
    extend_max_hours: int = 72


@dataclass(frozen=True, slots=True, eq=False)
class SmsRules:
    """T1.9: how the SMS announcing an evaluation's result is signed."""

    brand: str
    hotline: str
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class StaffingRules:
    """Q5/Q6: the VIP desk's target (``service_level`` answered within ``answer_within_s``)
    and the average handling time Erlang C plans with."""

    service_level: float
    answer_within_s: int
    handling_s: int
    rule: str
    target_rule: str


@dataclass(frozen=True, slots=True, eq=False)
class RedemptionItem:
    """P5: one item of the redemption catalogue and its price in points."""

    code: str
    points: int
    zh: str
    en: str


@dataclass(frozen=True, slots=True, eq=False)
class PointsRules:
    """P2: the one-time redemption threshold; P5: the catalogue; P4: the SMS query."""

    threshold: int
    threshold_rule: str
    catalogue: Mapping[str, RedemptionItem]
    catalogue_rule: str
    #: P4: the short code (10011) and keyword (JFCX) of the balance query by SMS.
    sms_short_code: str
    sms_keyword: str
    sms_rule: str


@dataclass(frozen=True, slots=True, eq=False)
class Place:
    """V1: a place where a counted service is used (e.g. one of the six lounges of S20)."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True, eq=False)
class QuotaRow:
    """V1: a service counted per calendar year: per scheme and level, the uses a year
    (``None``: unlimited, counted without a limit). A level not listed has no such service.

    ``benefit_row``: the code is an E row, whose value decides who has it (the quota only
    counts); otherwise the service is the quota table's own (with its names and places).
    """

    code: str
    zh: str
    en: str
    benefit_row: bool
    quotas: Mapping[str, Mapping[str, int | None]]
    places: tuple[Place, ...]
    assumed: bool
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class AgentRatingRules:
    """A2: an agent's star from the month's QA evaluations (criteria S168–172, thresholds S278).

    ``weights``: criterion → weight in milli; the month's score is the weighted mean of
    every evaluation's criteria (milli-points), cut by ``ladder`` (levels ``"5"`` … ``"2"``,
    bottom ``"1"``, bounds in milli-points).
    """

    weights: Mapping[str, int]
    ladder: Ladder
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class Club:
    """V2: one club (S13)."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True, eq=False)
class ClubRules:
    """V2: the clubs; VIP levels join at once, others after ``min_tenure_months`` in the network."""

    clubs: tuple[Club, ...]
    vip_levels: Mapping[str, frozenset[str]]
    min_tenure_months: int
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class RelaxStep:
    """A3: after ``after_s`` seconds of waiting the requirement drops by ``drop`` stars, or to ``to``."""

    after_s: int
    drop: int | None
    to: int | None


@dataclass(frozen=True, slots=True, eq=False)
class Matching:
    """A3/A4: the agent star each customer level needs, relaxed while the call waits, and
    the score's seconds per priority point (score = waited + priority × ``priority_seconds``)."""

    levels: Mapping[str, Mapping[str, int]]
    unknown: int
    relax: tuple[RelaxStep, ...]
    priority_seconds: int
    rule: str
    score_rule: str


@dataclass(frozen=True, slots=True, eq=False)
class ServiceLevelRules:
    """Q5/A4: answered within ``threshold_s`` counts; abandons under ``short_abandon_s`` leave
    the denominator; ``target_milli`` is the desk's goal (850 = 85 %, A5's line)."""

    threshold_s: int
    short_abandon_s: int
    target_milli: int
    rule: str


@dataclass(frozen=True, slots=True, eq=False)
class AgentRules:
    """SPEC §9: the agents' star rating (A2), matching (A3) and the queue's measures (A4, Q5)."""

    rating: AgentRatingRules
    matching: Matching
    service_level: ServiceLevelRules
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
    service_benefits: ServiceBenefits | None
    reactivation: ReactivationRules
    verification: VerificationRules
    work_orders: WorkOrderRules
    sms: SmsRules
    staffing: StaffingRules
    points: PointsRules  # P1–P5
    quotas: tuple[QuotaRow, ...]  # V1
    clubs: ClubRules  # V2
    agents: AgentRules
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
