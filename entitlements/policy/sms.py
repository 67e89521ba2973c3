"""The ``[sms]`` section (T1.9): the brand that signs the result SMS and the hotline it names."""

from __future__ import annotations

import re

from entitlements.policy.reader import Node
from entitlements.policy.schema import SmsRules

_HOTLINE = re.compile(r"^[0-9]{3,12}$")


def read_sms(node: Node) -> SmsRules:
    """``[sms]`` (T1.9): ``brand`` (the signature, e.g. 【中国联通】) and ``hotline`` (digits)."""
    rule = node.rule("T")
    brand = node.text("brand")
    hotline = node.text("hotline")
    if not _HOTLINE.match(hotline):
        node.fail("hotline", f"a hotline is 3 to 12 digits, got {hotline!r}")
    node.done()
    return SmsRules(brand.strip(), hotline, rule)
