"""P1–P5: loyalty points (积分) as a ledger of grants.

A grant is valid from ``granted_on`` through ``expires_on`` (``None``: never expires), both
Asia/Shanghai calendar days: at midnight at the end of ``expires_on`` its unspent points
are gone (P1). Spending takes the points that expire first, then the oldest grant (P1).
The redemption threshold is reached once (P2): from the day the balance first reaches
it, every point is redeemable, whatever the balance later.

Everything here is pure: the gateway reads the ledger, asks these functions, and writes
what they decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from entitlements.immutable import immutable
from entitlements.months import Month, zh_date
from entitlements.policy import Policy

_NEVER = date.max


@immutable
class Grant:
    """One grant of the ledger and what is left of it."""

    id: int
    granted_on: date
    points: int
    remaining: int
    expires_on: date | None


def alive(expires_on: date | None, day: date) -> bool:
    """P1: whether points expiring on ``expires_on`` still count on ``day`` (through that day)."""
    return expires_on is None or day <= expires_on


def balance(grants: Iterable[Grant], day: date) -> int:
    """P1: the points left on ``day`` (expired points are gone; later grants not yet there)."""
    return sum(g.remaining for g in spending_order(grants, day))


def spending_order(grants: Iterable[Grant], day: date) -> list[Grant]:
    """P1: the grants a spend on ``day`` takes from, in order: the ones that expire first,
    then the oldest (never-expiring grants last); ties by id."""
    live = [g for g in grants if g.remaining > 0 and alive(g.expires_on, day) and g.granted_on <= day]
    return sorted(live, key=lambda g: (g.expires_on or _NEVER, g.granted_on, g.id))


class InsufficientPoints(ValueError):
    """The live grants hold fewer points than a spend needs."""


def allocate(grants: Iterable[Grant], points: int, day: date) -> tuple[tuple[int, int], ...]:
    """P1: (grant id, points taken) for a spend of ``points`` on ``day``; every taken amount is
    positive and at most what the grant has left. ``InsufficientPoints`` when the balance is short."""
    if points <= 0:
        raise ValueError("a spend is a positive number of points")
    taken: list[tuple[int, int]] = []
    need = points
    for grant in spending_order(grants, day):
        take = min(grant.remaining, need)
        taken.append((grant.id, take))
        need -= take
        if need == 0:
            return tuple(taken)
    raise InsufficientPoints(f"{points} points needed, {points - need} left")


def threshold_reached_on(
    grants: Iterable[tuple[date, int, date | None]], threshold: int, today: date
) -> date | None:
    """P2: the first day up to ``today`` on which the balance reached ``threshold``.

    ``grants``: (granted_on, points, expires_on) of every grant. Nothing is spent before the
    threshold is reached (nothing is redeemable), so the balance on a day is the points of
    the grants made by then and not yet expired; it only rises on a grant's day.
    """
    rows = [(g, p, e) for g, p, e in grants if g <= today]
    for day in sorted({g for g, _, _ in rows}):
        if sum(p for g, p, e in rows if g <= day and alive(e, day)) >= threshold:
            return day
    return None


def redeemable(points: int, reached_on: date | None, day: date) -> int:
    """P2: every point once the threshold has been reached (on or before ``day``), else none."""
    return points if reached_on is not None and reached_on <= day else 0


@immutable
class Holding:
    """What a subscriber holds, as the lookup and the agent's view need it: the day the
    threshold was reached and the unspent points per expiry day (``None``: never)."""

    reached_on: date | None
    buckets: tuple[tuple[date | None, int], ...]  # expiry day ascending, never last

    @classmethod
    def of(cls, grants: Iterable[Grant], reached_on: date | None, day: date) -> Holding:
        """The holding on ``day`` from the ledger (expired, spent and later grants left out)."""
        totals: dict[date | None, int] = {}
        for g in grants:
            if g.remaining > 0 and alive(g.expires_on, day) and g.granted_on <= day:
                totals[g.expires_on] = totals.get(g.expires_on, 0) + g.remaining
        return cls(reached_on, tuple(sorted(totals.items(), key=lambda kv: kv[0] or _NEVER)))

    def balance(self, day: date) -> int:
        """P1: the points left on ``day``."""
        return sum(points for expires, points in self.buckets if alive(expires, day))

    def expiring_in(self, month: Month) -> int:
        """The points that expire in ``month`` (their last valid day falls in it)."""
        return sum(p for e, p in self.buckets if e is not None and Month.of(e) == month)

    def next_expiry(self, day: date) -> tuple[date, int] | None:
        """The next expiry day from ``day`` on and the points that expire that day."""
        for expires, points in self.buckets:
            if expires is not None and expires >= day:
                return expires, points
        return None

    def unchanged_through(self, day: date) -> date:
        """The last day from ``day`` on that the balance is as on ``day`` and the points
        expiring next month are none, except in that day's month (see `record` in the
        gateway's cache): the earliest expiry day, and the last day of the month before
        the first later month with an expiry. ``date.max`` when nothing ever expires."""
        through = _NEVER
        this_month = Month.of(day)
        for expires, _ in self.buckets:
            if expires is None or expires < day:
                continue
            through = min(through, expires)
            month = Month.of(expires)
            if month > this_month:
                through = min(through, (month - 1).last_day)
            break  # buckets are by expiry: the first live one decides both
        return through


@dataclass(frozen=True, slots=True)
class PointsSummary:
    """P2/P3: a subscriber's points on a day, as the IVR, the SMS and the agent read them."""

    balance: int
    redeemable: int
    expiring_next_month: int
    next_expiry: date | None
    next_expiry_points: int
    threshold: int
    threshold_reached_on: date | None

    def lookup_json(self) -> dict[str, int]:
        """P3: the lookup answer's ``points``."""
        return {
            "balance": self.balance,
            "redeemable": self.redeemable,
            "expiring_next_month": self.expiring_next_month,
        }


def summary(holding: Holding, threshold: int, day: date) -> PointsSummary:
    """P1–P3: balance, redeemable points, points expiring next month and the next expiry."""
    total = holding.balance(day)
    nxt = holding.next_expiry(day)
    return PointsSummary(
        balance=total,
        redeemable=redeemable(total, holding.reached_on, day),
        expiring_next_month=holding.expiring_in(Month.of(day) + 1),
        next_expiry=nxt[0] if nxt else None,
        next_expiry_points=nxt[1] if nxt else 0,
        threshold=threshold,
        threshold_reached_on=holding.reached_on,
    )


def threshold_explanation(summary: PointsSummary, lang: str) -> str:
    """P2 in words for the agent: reached on a day (every point redeemable) or how far off."""
    reached = summary.threshold_reached_on
    if lang == "zh":
        if reached is not None:
            return (
                f"积分兑换门槛{summary.threshold}分为一次性门槛，已于{zh_date(reached)}达到："
                "此后所有积分均可直接兑换（P2）。"
            )
        missing = max(summary.threshold - summary.balance, 0)
        return (
            f"积分首次累计达到{summary.threshold}分后方可兑换，目前{summary.balance}分，"
            f"还差{missing}分（P2）。"
        )
    if reached is not None:
        return (
            f"The {summary.threshold}-point redemption threshold is reached once; it was reached on "
            f"{reached.isoformat()}, so every point is redeemable from then on (P2)."
        )
    missing = max(summary.threshold - summary.balance, 0)
    return (
        f"Nothing is redeemable until the balance first reaches {summary.threshold} points: "
        f"{summary.balance} now, {missing} to go (P2)."
    )


# --- P5: redemption ----------------------------------------------------------------------

REDEMPTION_REFUSALS = ("unknown_item", "below_threshold", "insufficient_points")


@dataclass(frozen=True, slots=True)
class RedemptionDecision:
    """P5: whether an item may be redeemed now; the refusal code and the rules behind it."""

    allowed: bool
    code: str | None
    points: int | None
    rules: tuple[str, ...]


def decide_redemption(
    policy: Policy, item: str, balance_now: int, reached_on: date | None, day: date
) -> RedemptionDecision:
    """P5: an item of the policy's catalogue, redeemable (P2) and covered by the balance."""
    entry = policy.points.catalogue.get(item)
    if entry is None:
        return RedemptionDecision(False, "unknown_item", None, (policy.points.catalogue_rule,))
    if reached_on is None or reached_on > day:
        return RedemptionDecision(False, "below_threshold", entry.points, (policy.points.threshold_rule,))
    if balance_now < entry.points:
        return RedemptionDecision(False, "insufficient_points", entry.points, ("P1", "P5"))
    return RedemptionDecision(True, None, entry.points, ("P1", "P2", "P5"))


# --- P4: the SMS query ---------------------------------------------------------------------


def is_balance_query(policy: Policy, text: str) -> bool:
    """P4: the keyword (JFCX) in any case, spaces ignored (full-width ones too)."""
    squeezed = "".join(text.split()).upper()
    # Full-width Latin letters (ＪＦＣＸ) are what a Chinese keyboard may send.
    squeezed = "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in squeezed)
    return squeezed == policy.points.sms_keyword


def balance_sms(policy: Policy, summary: PointsSummary, day: date) -> str:
    """P4: the reply to JFCX: balance, redeemable points and the next expiry, in Chinese."""
    brand, hotline = policy.sms.brand, policy.sms.hotline
    text = (
        f"{brand}尊敬的客户：截至{zh_date(day)}，您的积分余额为{summary.balance}分，"
        f"可兑换积分{summary.redeemable}分"
    )
    if summary.threshold_reached_on is None:
        text += f"（积分首次累计达到{summary.threshold}分后方可兑换）"
    if summary.next_expiry is not None:
        text += f"；其中{summary.next_expiry_points}分将于{zh_date(summary.next_expiry)}到期"
    else:
        text += "；暂无将到期的积分"
    return text + f"。详询{hotline}。"


def help_sms(policy: Policy) -> str:
    """P4: the short help reply to any other text."""
    return (
        f"{policy.sms.brand}积分查询请发送{policy.points.sms_keyword}到{policy.points.sms_short_code}。"
        f"详询{policy.sms.hotline}。"
    )
