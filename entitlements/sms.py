"""T1.9: the SMS that tells a customer the result of an evaluation.

Kept apart from ``explain`` (what an agent reads) because it speaks about an
``Evaluation`` (``tiers``), which itself builds on ``explain``.
"""

from __future__ import annotations

from typing import Final

from entitlements.model import bottom_level
from entitlements.months import zh_date
from entitlements.policy import Policy, load_policy
from entitlements.tiers import Evaluation

#: Changes that are news to the customer (T1.9: the result is sent by SMS).
SMS_CHANGES: Final[frozenset[str]] = frozenset({"new", "raised", "renewed", "lowered", "expired"})


def needs_sms(evaluation: Evaluation) -> bool:
    """T1.9: whether the result is news to send the customer by SMS."""
    return evaluation.change in SMS_CHANGES


def sms_text(evaluation: Evaluation, policy: Policy | None = None) -> str:
    """T1.9: the Chinese SMS announcing a changed level and its validity.

    Only for results that are news (``needs_sms``); ``ValueError`` otherwise. Signed with
    the policy's ``[sms] brand`` and naming its ``hotline``; without ``policy`` the bundled
    policy the evaluation names is loaded (``PolicyError`` if there is none).
    """
    if not needs_sms(evaluation):
        raise ValueError(f"no SMS for a {evaluation.change!r} evaluation")
    pol = policy if policy is not None else load_policy(evaluation.policy)
    scheme = evaluation.scheme

    def name(level: str) -> str:
        return pol.level_name(scheme, level, "zh")

    kind = {"star": "客户星级", "vip_card": "VIP会员级别", "membership": "会员等级"}.get(scheme, "信用等级")
    brand, hotline = pol.sms.brand, pol.sms.hotline
    start = zh_date(evaluation.effective_from)
    if evaluation.change == "expired" or evaluation.level == bottom_level(scheme):
        previous = evaluation.previous_level
        what = f"您的{kind}" + (f"（{name(previous)}）" if previous else "")
        return f"{brand}尊敬的客户：{what}已于{start}起终止。感谢您的支持！"
    until = f"，有效期至{zh_date(evaluation.valid_until)}" if evaluation.valid_until is not None else ""
    verb = {"renewed": "已续期为", "lowered": "经重新评定为", "raised": "已提升为"}.get(
        evaluation.change, "评定为"
    )
    return (
        f"{brand}尊敬的客户：您的{kind}{verb}{name(evaluation.level)}，"
        f"自{start}起生效{until}。详询{hotline}。"
    )
