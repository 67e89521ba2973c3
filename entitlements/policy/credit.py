"""The ``[credit_star]`` section (T5): brand, tenure, spend and suspension points."""

from __future__ import annotations

from entitlements.model import LEVELS
from entitlements.policy.common import read_bands, read_eligibility, read_ladder, read_validity, whole_points
from entitlements.policy.reader import CODE, Node
from entitlements.policy.schema import CreditRules


def read_credit(node: Node) -> CreditRules:
    """``[credit_star]`` (T5): brand, tenure and spend points, suspensions, star thresholds."""
    eligibility = read_eligibility(node.table("eligibility"), "T5")
    brand = node.table("brand_points")
    brand_rule = brand.rule("T5")
    other = brand.integer("other", default=0)
    points = {key: brand.integer(key, minimum=0) for key in brand.remaining()}
    for key in points:
        if not CODE.match(key):
            brand.fail(key, "brand codes are lower-case snake_case")
    brand.done()
    tenure_node = node.table("tenure_points")
    tenure = read_bands(tenure_node, "bands", "points", whole_points, whole_points, floor=0)
    tenure_node.done()
    spend_node = node.table("spend_points")
    spend_months = spend_node.integer("months", minimum=1)
    before_joining = spend_node.text("before_joining", choices=("zero", "skip"))
    spend = read_bands(spend_node, "bands", "points", lambda n, k: n.fen(k), whole_points, floor=None)
    spend_node.done()
    susp = node.table("suspensions")
    suspension_rule = susp.rule("T5")
    suspension_points = susp.integer("points_each")
    if suspension_points > 0:
        susp.fail("points_each", "a suspension subtracts points (T5.4): use a negative number")
    susp.done()
    thresholds = node.table("thresholds")
    ladder = read_ladder(thresholds, "credit_star", LEVELS["credit_star"][:-1], whole_points)
    thresholds.done()
    validity = read_validity(node.table("validity"))
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
