"""Explanations: why a subscriber has a level, in data (stored) and in words (for agents).

``Explanation.to_dict()`` is compact and JSON-safe; ``stored_dict()`` is what the
evaluation stores for every subscriber every month (without the fields of the assignment
row beside it); ``from_dict()`` reads either back; ``render("zh" | "en")`` is plain language
an agent can read to the customer, including what it would take to reach the next level.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from entitlements.errors import EntitlementsError
from entitlements.immutable import immutable
from entitlements.months import iso, zh_date
from entitlements.policy import Policy, load_policy
from entitlements.scored import Scalar

#: Bumped when the stored shape changes incompatibly.
FORMAT: Final = 1


@immutable
class Explanation:
    """The inputs, intermediate figures and rule IDs behind one evaluation."""

    policy: str
    version: str
    scheme: str
    month: str
    run_date: date
    level: str
    computed: str
    previous: str | None
    change: str
    effective_from: date
    valid_until: date | None
    rules: tuple[str, ...]
    inputs: Mapping[str, Scalar]
    figures: Mapping[str, Scalar]
    next: Mapping[str, Scalar] | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-safe dict (empty parts left out): ``stored_dict()`` plus the
        fields an assignment row holds."""
        row = assignment_fields(
            self.policy, self.version, self.scheme, self.month, self.level, self.computed,
            self.previous, self.change, self.effective_from, self.valid_until,
        )  # fmt: skip
        return {**self.stored_dict(), **row}

    def stored_dict(self) -> dict[str, Any]:
        """``to_dict()`` without what the assignment row stored beside it already holds
        (policy, version, scheme, month, levels, change, dates): the evaluation writes a
        million of these a month. ``from_dict(stored | assignment_fields(...))`` reads it back.
        """
        out: dict[str, Any] = {
            "v": FORMAT,
            "run": iso(self.run_date),
            "rules": list(self.rules),
            "inputs": dict(self.inputs),
            "figures": dict(self.figures),
        }
        if self.next:
            out["next"] = dict(self.next)
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Read back what ``to_dict`` wrote; ``EntitlementsError`` if it is not one."""
        try:
            if data.get("v") != FORMAT:
                raise ValueError(f"unknown explanation format {data.get('v')!r}")
            until = data.get("until")
            rules = tuple(str(r) for r in data["rules"])
            if not rules:
                raise ValueError("an explanation cites at least one rule")
            return cls(
                policy=str(data["policy"]),
                version=str(data["version"]),
                scheme=str(data["scheme"]),
                month=str(data["month"]),
                run_date=date.fromisoformat(data["run"]),
                level=str(data["level"]),
                computed=str(data.get("computed", data["level"])),
                previous=None if data.get("previous") is None else str(data["previous"]),
                change=str(data["change"]),
                effective_from=date.fromisoformat(data["from"]),
                valid_until=None if until is None else date.fromisoformat(until),
                rules=rules,
                inputs=_scalars(data.get("inputs", {})),
                figures=_scalars(data.get("figures", {})),
                next=_scalars(data["next"]) if data.get("next") else None,
                notes=tuple(str(n) for n in data.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EntitlementsError(f"not a stored explanation: {exc}") from None

    def render(self, lang: str = "zh", policy: Policy | None = None) -> str:
        """Plain language for agents, in ``zh`` or ``en``."""
        if lang not in ("zh", "en"):
            raise ValueError("lang must be 'zh' or 'en'")
        pol = policy if policy is not None else _policy(self.policy)
        return "\n".join(_Renderer(self, pol, lang).lines())


def assignment_fields(
    policy: str,
    version: str,
    scheme: str,
    month: str,
    level: str,
    computed: str | None,
    previous: str | None,
    change: str,
    effective_from: date,
    valid_until: date | None,
) -> dict[str, Any]:
    """The ``to_dict()`` keys an assignment row holds, to merge into a ``stored_dict()``."""
    out: dict[str, Any] = {
        "policy": policy,
        "version": version,
        "scheme": scheme,
        "month": month,
        "level": level,
        "change": change,
        "from": iso(effective_from),
    }
    if computed is not None and computed != level:
        out["computed"] = computed
    if valid_until is not None:
        out["until"] = iso(valid_until)
    if previous is not None:
        out["previous"] = previous
    return out


def _scalars(data: object) -> dict[str, Scalar]:
    if not isinstance(data, Mapping):
        raise TypeError("expected an object")
    out: dict[str, Scalar] = {}
    for key, value in data.items():
        if value is not None and not isinstance(value, (str, int, bool)):
            raise TypeError(f"{key}: not a scalar")
        out[str(key)] = value
    return out


def _policy(name: str) -> Policy | None:
    try:
        return load_policy(name)
    except EntitlementsError:
        return None


_CHANGE_TEXT: Final[dict[str, tuple[str, str]]] = {
    "new": ("新评定", "newly rated"),
    "raised": ("级别提升", "raised"),
    "held": ("有效期内保持原级别", "held (within validity a level only rises)"),
    "renewed": ("到期重新评定，级别续期", "renewed at re-evaluation"),
    "lowered": ("到期重新评定，级别下调", "lowered at re-evaluation"),
    "expired": ("原级别到期，未再评定级别", "expired, no level replaces it"),
    "ended": ("销户，级别即时终止", "ended at cancellation"),
    "unchanged": ("无变化", "unchanged"),
    "not_rated": ("不参与评级", "not rated"),
}

_NOTE_TEXT: Final[dict[str, tuple[str, str]]] = {
    "tenure": ("网龄未满评级要求", "tenure too short to be rated yet"),
    "no_thresholds": ("该月份没有定级阈值", "no thresholds in force for that month"),
    "not_reevaluated": (
        "贵宾/忠诚客户在有效期内不再评定",
        "VIP guests and loyal customers are not re-evaluated within validity",
    ),
    "legacy_card": (
        "原VIP卡有效期内按原VIP服务标准服务，到期后按星级评定",
        "a legacy VIP card is in force; the star level takes over when it expires",
    ),
    "migration": (
        "2G转3G合约：取合约级别与原级别中较高者",
        "2G→3G contract: the higher of the plan's card and the old card",
    ),
    "before_billing_close": ("出账前评定", "evaluated before billing closed"),
    "lucky_network": (
        "靓号入网即得VIP仅限3G用户，按平均消费评级",
        "lucky-number cards at joining are for 3G users only: rated by the average bill",
    ),
    "contract_network": (
        "合约计划入网即得VIP仅限3G用户，按平均消费评级",
        "contract-plan cards at joining are for 3G users only: rated by the average bill",
    ),
}


class _Renderer:
    """Builds the lines of ``Explanation.render``."""

    def __init__(self, exp: Explanation, policy: Policy | None, lang: str) -> None:
        self.e = exp
        self.p = policy
        self.zh = lang == "zh"

    def name(self, level: str | None) -> str:
        if level is None:
            return "—"
        if self.p is None:
            return level
        return self.p.level_name(self.e.scheme, level, "zh" if self.zh else "en")

    def day(self, day: date | None) -> str:
        if day is None:
            return "长期" if self.zh else "open-ended"
        return zh_date(day) if self.zh else day.isoformat()

    def lines(self) -> list[str]:
        e = self.e
        change = _CHANGE_TEXT.get(e.change, (e.change, e.change))[0 if self.zh else 1]
        out: list[str] = []
        if self.zh:
            out.append(f"级别：{self.name(e.level)}（{change}）")
            out.append(f"生效：{self.day(e.effective_from)}，有效期至：{self.day(e.valid_until)}")
            if e.previous is not None:
                out.append(f"原级别：{self.name(e.previous)}")
            if e.computed != e.level:
                out.append(f"本月按规则计算的级别：{self.name(e.computed)}")
        else:
            out.append(f"Level: {self.name(e.level)} ({change})")
            out.append(f"Effective {self.day(e.effective_from)}, valid until {self.day(e.valid_until)}")
            if e.previous is not None:
                out.append(f"Previous level: {self.name(e.previous)}")
            if e.computed != e.level:
                out.append(f"Level the rules give this month: {self.name(e.computed)}")
        out.extend(self.figures())
        for note in e.notes:
            out.append(self.note(note))
        nxt = self.next_step()
        if nxt:
            out.append(nxt)
        policy_label = f"{e.policy} {e.version}"
        rules = ", ".join(e.rules)
        if self.zh:
            out.append(f"依据：{policy_label}，{e.month} 评定；规则 {rules}")
        else:
            out.append(f"Basis: {policy_label}, evaluated for {e.month}; rules {rules}")
        return out

    def note(self, note: str) -> str:
        if note in _NOTE_TEXT:
            return _NOTE_TEXT[note][0 if self.zh else 1]
        kind, _, value = note.partition(":")
        if kind == "flag":
            return f"排除类用户：{value}" if self.zh else f"excluded: {value}"
        if kind in ("service_type", "network", "payment_mode", "segment"):
            return f"不在评级范围：{kind}={value}" if self.zh else f"outside the scheme: {kind}={value}"
        return note

    def figures(self) -> list[str]:
        f = self.e.figures
        zh = self.zh
        out: list[str] = []
        if "arpu_yuan" in f:
            out.append(
                f"网龄：第{f['tenure_months']}个自然月；ARPU：{f['arpu_yuan']}元"
                f"（{f['months']}共{f['n_months']}个月平均，四舍五入）"
                if zh
                else f"Tenure: month {f['tenure_months']}; ARPU {f['arpu_yuan']} yuan "
                f"(average of {f['n_months']} months {f['months']}, rounded half-up)"
            )
            threshold = f.get("threshold")
            crossed = (
                (f"，达到阈值{threshold}" if zh else f", at or above threshold {threshold}")
                if threshold is not None
                else ""
            )
            out.append(
                f"综合价值 = ARPU得分 {f['arpu_yuan']} × 网龄得分 {f['tenure_score']} = "
                f"{f['value']}{crossed}（{f['thresholds_from']}起阈值）"
                if zh
                else f"Value = ARPU score {f['arpu_yuan']} × tenure score {f['tenure_score']}"
                f" = {f['value']}{crossed} (thresholds from {f['thresholds_from']})"
            )
        elif "tenure_months" in f and "average_yuan" not in f and "special" not in f:
            out.append(
                f"网龄：第{f['tenure_months']}个自然月" if zh else f"Tenure: month {f['tenure_months']}"
            )
        if "special" in f:
            out.append(
                f"特殊定级：{self.name(str(f['special']))}"
                if zh
                else f"Special rule: {self.name(str(f['special']))}"
            )
        if "average_yuan" in f and "score" not in f:
            months = f.get("months")
            threshold = f.get("threshold_yuan")
            out.append(
                f"{months}月均出账：{f['average_yuan']}元（精确到分，不四舍五入）"
                + (f"，达到{threshold}元标准" if threshold else "")
                if zh
                else f"Average bill {months}: {f['average_yuan']} yuan (exact cents)"
                + (f", at or above {threshold} yuan" if threshold else "")
            )
        if "lucky_level" in f:
            out.append(
                f"靓号：{self.name(str(f['lucky_level']))}"
                if zh
                else f"Lucky number: {self.name(str(f['lucky_level']))}"
            )
        if "contract_level" in f:
            out.append(
                f"合约计划：{self.name(str(f['contract_level']))}"
                if zh
                else f"Contract plan: {self.name(str(f['contract_level']))}"
            )
        if "cumulative_yuan" in f:
            out.append(
                f"累计缴费：{f['cumulative_yuan']}元；{f['paid_month']}缴费：{f['month_paid_yuan']}元"
                if zh
                else f"Cumulative payments {f['cumulative_yuan']} yuan; paid in "
                f"{f['paid_month']}: {f['month_paid_yuan']} yuan"
            )
        if "score" in f:
            out.append(
                f"品牌{f['brand_points']}分 + 网龄{f['tenure_years']}年{f['tenure_points']}分 + "
                f"月均消费{f['average_yuan']}元{f['spend_points']}分 "
                f"+ 停机{f['suspension_points']}分 = {f['score']}分"
                if zh
                else f"Brand {f['brand_points']} + tenure {f['tenure_years']} years "
                f"{f['tenure_points']} + average spend {f['average_yuan']} yuan "
                f"{f['spend_points']} + suspensions {f['suspension_points']} = {f['score']} points"
            )
        return out

    def next_step(self) -> str | None:
        n = self.e.next
        if not n:
            return None
        target = self.name(str(n.get("level")))
        zh = self.zh
        if "arpu_yuan_more" in n:
            return (
                f"升至{target}：ARPU每月需再增加{n['arpu_yuan_more']}元（达到{n['arpu_yuan']}元）"
                if zh
                else f"To reach {target}: ARPU {n['arpu_yuan_more']} more yuan per month "
                f"({n['arpu_yuan']} yuan)"
            )
        if "average_yuan_more" in n:
            return (
                f"升至{target}：月均出账需再增加{n['average_yuan_more']}元（达到{n['average_yuan']}元）"
                if zh
                else f"To reach {target}: an average bill {n['average_yuan_more']} yuan more "
                f"per month ({n['average_yuan']} yuan)"
            )
        if "cumulative_yuan_more" in n:
            return (
                f"升至{target}：累计缴费还需{n['cumulative_yuan_more']}元，且当月缴费不少于"
                f"{n['month_paid_yuan']}元"
                if zh
                else f"To reach {target}: {n['cumulative_yuan_more']} yuan more cumulative "
                f"payments and at least {n['month_paid_yuan']} yuan paid in the month"
            )
        if "points_more" in n:
            return (
                f"升至{target}：还需{n['points_more']}分（{n['score']}分）"
                if zh
                else f"To reach {target}: {n['points_more']} more points ({n['score']})"
            )
        return None
