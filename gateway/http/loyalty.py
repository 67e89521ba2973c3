"""The agent's view of a customer's points, VIP services and clubs (P2, P3, V1, V2): the
JSON the subscriber view carries beside its other parts."""

from __future__ import annotations

from typing import Any

from entitlements.points import threshold_explanation
from entitlements.policy import Policy
from gateway.services.loyalty import LoyaltyView


def view_json(view: LoyaltyView, policy: Policy) -> dict[str, Any]:
    """`points` (null without a ledger), `services` (every benefit with its yearly quota and
    what is left of it), `service_uses` (the latest) and `clubs` (with the membership)."""
    s = view.points
    points = None
    if s is not None:
        points = {
            **s.lookup_json(),
            "next_expiry": s.next_expiry.isoformat() if s.next_expiry else None,
            "next_expiry_points": s.next_expiry_points,
            "threshold": s.threshold,
            "threshold_reached_on": s.threshold_reached_on.isoformat() if s.threshold_reached_on else None,
            "threshold_text_zh": threshold_explanation(s, "zh"),
            "threshold_text_en": threshold_explanation(s, "en"),
            "catalogue": [
                {"item": i.code, "points": i.points, "name_zh": i.zh, "name_en": i.en}
                for i in policy.points.catalogue.values()
            ],
            "redemptions": [
                {
                    "id": r["id"],
                    "item": r["item"],
                    "points": r["points"],
                    "channel": r["channel"],
                    "redeemed_at": r["redeemed_at"].isoformat(),
                }
                for r in view.redemptions
            ],
        }
    return {
        "points": points,
        "services": {
            "year": view.today.year,
            "items": [
                {
                    "code": x.code,
                    "name_zh": x.name_zh,
                    "name_en": x.name_en,
                    "value": x.value,
                    "entitled": x.entitled,
                    "counted": x.counted,
                    "quota": x.quota,
                    "used": x.used,
                    "remaining": x.remaining,
                    "places": [{"code": p.code, "name_zh": p.zh, "name_en": p.en} for p in x.places],
                }
                for x in view.services
            ],
            "recent_uses": [
                {"id": u.id, "benefit": u.benefit, "at": u.used_at.isoformat(), "place": u.place}
                for u in view.uses
            ],
        },
        "clubs": [
            {
                "code": c.club.code,
                "name_zh": c.club.zh,
                "name_en": c.club.en,
                "member": c.member_since is not None,
                "member_since": c.member_since.isoformat() if c.member_since else None,
                "may_join": c.decision.allowed,
                "code_if_refused": c.decision.code,
                "eligible_from": c.decision.eligible_from.isoformat(),
            }
            for c in view.clubs
        ],
    }
