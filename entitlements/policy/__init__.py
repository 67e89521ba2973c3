"""Policies: named, versioned rule sets as TOML data, validated on load.

One file per policy in ``entitlements/policies/`` (read with ``importlib.resources`` and
``tomllib``). Every table carries ``rule = "<SPEC rule ID>"``; values the SPEC marks
[assumption] carry ``assumption = true`` (or a string saying what was assumed). A
provincial override file changes a subset of values (deep merge: tables merge, arrays
and values replace) and is validated the same way.

Validation is strict: an unknown key, a missing level, overlapping or gapped bands and
non-monotonic thresholds are ``PolicyError``s naming the file and the key.

The package, layer by layer (each imports only the ones above it):

* ``schema`` — the frozen dataclasses the engine reads (``Policy`` and its sections);
* ``reader`` — ``Node``, the validating reader of one TOML table;
* ``common`` — shapes several rating sections share (eligibility, ladders, bands, validity);
* one module per rule family: ``star`` (T1), ``cards`` (T2/T3), ``membership`` (T4),
  ``credit`` (T5), ``routing`` (Q), ``benefits`` (E), ``reactivation`` (R),
  ``workorders`` (W), ``sms`` (T1.9), ``staffing`` (Q5, Q6), ``points`` (P), ``services`` (V: quotas, clubs),
  ``agents`` (A, §9);
* ``document`` — a whole document, section by section;
* ``loading`` — bundled files by name, overrides, the cache (``load_policy``).

Every public name is re-exported here: callers import from ``entitlements.policy``.
"""

from entitlements.policy.document import RATING_SECTION
from entitlements.policy.loading import POLICY_NAMES, load_policy, parse_policy, policy_names, read_policy
from entitlements.policy.schema import (
    BENEFIT_VALUES,
    MANAGER_BENEFIT,
    REACTIVATION_BENEFIT,
    STANDARD_BENEFIT_VALUES,
    AgentRatingRules,
    AgentRules,
    Band,
    BandBounds,
    Bands,
    BeforeJoining,
    BenefitRow,
    CardRules,
    Club,
    ClubRules,
    CreditRules,
    Eligibility,
    Ladder,
    LevelName,
    Matching,
    MembershipRules,
    Place,
    PointsRules,
    Policy,
    QuotaRow,
    Rating,
    ReactivationRules,
    ReactivationTerms,
    RedemptionItem,
    RelaxStep,
    RouteRule,
    Routing,
    Segment,
    ServiceBenefits,
    ServiceLevelRules,
    SmsRules,
    StaffingRules,
    StarRules,
    Supreme,
    ThresholdSet,
    Transition,
    Validity,
    ValidityMode,
    VerificationRules,
    WorkOrderRules,
)

__all__ = [
    "BENEFIT_VALUES",
    "MANAGER_BENEFIT",
    "POLICY_NAMES",
    "RATING_SECTION",
    "REACTIVATION_BENEFIT",
    "STANDARD_BENEFIT_VALUES",
    "AgentRatingRules",
    "AgentRules",
    "Band",
    "BandBounds",
    "Bands",
    "BeforeJoining",
    "BenefitRow",
    "CardRules",
    "Club",
    "ClubRules",
    "CreditRules",
    "Eligibility",
    "Ladder",
    "LevelName",
    "Matching",
    "MembershipRules",
    "Place",
    "PointsRules",
    "Policy",
    "QuotaRow",
    "Rating",
    "ReactivationRules",
    "ReactivationTerms",
    "RedemptionItem",
    "RelaxStep",
    "RouteRule",
    "Routing",
    "Segment",
    "ServiceBenefits",
    "ServiceLevelRules",
    "SmsRules",
    "StaffingRules",
    "StarRules",
    "Supreme",
    "ThresholdSet",
    "Transition",
    "Validity",
    "ValidityMode",
    "VerificationRules",
    "WorkOrderRules",
    "load_policy",
    "parse_policy",
    "policy_names",
    "read_policy",
]
