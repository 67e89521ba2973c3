"""The ``[points]`` section (P1–P5): the one-time redemption threshold, the catalogue, the
SMS balance query."""

from __future__ import annotations

import re

from entitlements.policy.reader import CODE, Node
from entitlements.policy.schema import PointsRules, RedemptionItem

_SHORT_CODE = re.compile(r"^[0-9]{3,12}$")
_KEYWORD = re.compile(r"^[A-Z0-9]{1,16}$")


def read_points(node: Node) -> PointsRules:
    """``[points]`` (P2) with ``threshold``; ``[points.catalogue]`` (P5): item → points and
    names; ``[points.sms]`` (P4): the short code and the keyword of the balance query."""
    threshold_rule = node.rule("P")
    threshold = node.integer("threshold", minimum=1)
    catalogue_node = node.table("catalogue")
    catalogue_rule = catalogue_node.rule("P")
    catalogue: dict[str, RedemptionItem] = {}
    for code in catalogue_node.remaining():
        if not CODE.match(code):
            catalogue_node.fail(code, "catalogue item codes are lower-case snake_case")
        entry = catalogue_node.table(code)
        catalogue[code] = RedemptionItem(
            code, entry.integer("points", minimum=1), entry.text("zh"), entry.text("en")
        )
        entry.done()
    if not catalogue:
        catalogue_node.fail(None, "the catalogue lists no item (P5)")
    catalogue_node.done()
    sms = node.table("sms")
    sms_rule = sms.rule("P")
    short_code = sms.text("short_code")
    if not _SHORT_CODE.match(short_code):
        sms.fail("short_code", f"a short code is 3 to 12 digits, got {short_code!r}")
    keyword = sms.text("keyword")
    if not _KEYWORD.match(keyword):
        sms.fail("keyword", f"a keyword is 1 to 16 upper-case letters or digits, got {keyword!r}")
    sms.done()
    node.done()
    return PointsRules(threshold, threshold_rule, catalogue, catalogue_rule, short_code, keyword, sms_rule)
