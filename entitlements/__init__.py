"""callgate's entitlements engine: every tier, routing, benefit and reactivation rule.

Pure code — frozen dataclasses in, decisions out, no I/O beyond reading the bundled
policy files. The batch evaluation, the IVR lookup and the reactivation endpoint all
call it; no rule is written a second time elsewhere.

Modules: ``months`` (calendar months, Asia/Shanghai), ``model`` (facts), ``policy``
(policies as TOML data), ``tiers`` (``evaluate``, ``tier_in_force``), ``explain``, ``sms``,
``routing``, ``benefits``, ``reactivation``, ``verification``, ``workorders``,
``staffing``, ``thresholds``, ``errors``.
"""

from entitlements.benefits import Benefit, benefits, entitlement_codes
from entitlements.errors import (
    EntitlementsError,
    EvaluationError,
    InvalidAmount,
    PolicyError,
    PolicyErrors,
    WorkOrderError,
)
from entitlements.explain import Explanation
from entitlements.model import (
    LEVELS,
    SCHEMES,
    Assignment,
    BillHistory,
    Subscriber,
    Tier,
    bottom_level,
)
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy, load_policy, policy_names
from entitlements.reactivation import (
    AccountState,
    CreditDecision,
    ReactivationDecision,
    decide_credit,
    decide_reactivation,
)
from entitlements.routing import Route, default_route, route
from entitlements.sms import needs_sms, sms_text
from entitlements.tiers import Evaluation, end_assignment, evaluate, tier_in_force

__all__ = [
    "LEVELS",
    "SCHEMES",
    "AccountState",
    "Assignment",
    "Benefit",
    "BillHistory",
    "CreditDecision",
    "EntitlementsError",
    "Evaluation",
    "EvaluationError",
    "Explanation",
    "InvalidAmount",
    "Month",
    "Policy",
    "PolicyError",
    "PolicyErrors",
    "ReactivationDecision",
    "Route",
    "Subscriber",
    "Tier",
    "WorkOrderError",
    "benefits",
    "bottom_level",
    "decide_credit",
    "decide_reactivation",
    "default_route",
    "end_assignment",
    "entitlement_codes",
    "evaluate",
    "load_policy",
    "needs_sms",
    "policy_names",
    "route",
    "shanghai_today",
    "sms_text",
    "tier_in_force",
]
