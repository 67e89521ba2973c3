"""O1, what-if: a dry run's result — who moves from which level to which, the VIP desk's
population before and after, and the agents it needs by Erlang C (Q6).

`evaluation.dry_run` rates the month and counts the moves; this module turns them into
the from → to matrix (rows: the levels in force under the deployment's policy; columns:
the levels the candidate policy would give), the populations of each level with its
queue under each policy, and the staffing of the VIP desk at its calling rate — the rate
now, and the rate scaled by the desk's population after (calls per VIP customer held
constant). `gateway.batch.whatif_report` writes the same as CSV and HTML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from math import isfinite

from entitlements.model import CHANGES, LEVELS, Tier, bottom_level
from entitlements.policy import Policy, StaffingRules
from entitlements.routing import route
from entitlements.staffing import agents_needed, average_speed_of_answer, offered_traffic, service_level
from gateway.batch.evaluation import Level, RunSummary

HOUR_S = 3600.0
VIP = "vip"


@dataclass(frozen=True, slots=True)
class Staffed:
    """Erlang C at one calling rate: the fewest agents reaching the target, and what they reach."""

    calls_per_hour: float
    agents: int
    service_level: float
    asa_s: float


def staff(calls_per_hour: float, rules: StaffingRules) -> Staffed:
    """Q6: the agents the VIP desk needs for `calls_per_hour` at the policy's target (Q5)."""
    if calls_per_hour <= 0:
        return Staffed(0.0, 0, 1.0, 0.0)
    agents = agents_needed(
        calls_per_hour, HOUR_S, rules.handling_s, rules.service_level, rules.answer_within_s
    )
    traffic = offered_traffic(calls_per_hour, HOUR_S, rules.handling_s)
    return Staffed(
        calls_per_hour,
        agents,
        service_level(traffic, agents, rules.handling_s, rules.answer_within_s),
        average_speed_of_answer(traffic, agents, rules.handling_s),
    )


@dataclass(frozen=True, slots=True)
class RateLine:
    """The desk staffed at one calling rate (its source named), now and after the change."""

    label: str
    now: Staffed
    after: Staffed | None  # None: no VIP customer now, so no rate per customer to scale


@dataclass(frozen=True, slots=True)
class LevelCount:
    """One level's population and queue, before (policy in force) and after (candidate)."""

    level: Level
    label: str
    queue_before: str
    before: int
    queue_after: str
    after: int


class WhatIf:
    """The from → to matrix, populations and VIP staffing of one dry run."""

    def __init__(
        self,
        candidate: Policy,
        baseline: Policy,
        summary: RunSummary,
        rates: list[tuple[str, float]],
        rate_note: str | None = None,
    ) -> None:
        self.candidate = candidate
        self.baseline = baseline
        self.summary = summary
        self.rate_note = rate_note
        self.cells: Counter[tuple[Level, Level]] = Counter()
        for (before, after), count in summary.moves.items():
            start = before or (baseline.scheme, bottom_level(baseline.scheme))
            end = after or (candidate.scheme, bottom_level(candidate.scheme))
            self.cells[(start, end)] += count
        self.rows = _levels(baseline.schemes, (b for b, _ in self.cells))
        self.columns = _levels(candidate.schemes, (a for _, a in self.cells))
        self.before: Counter[Level] = Counter()
        self.after: Counter[Level] = Counter()
        for (before, after), count in self.cells.items():
            self.before[before] += count
            self.after[after] += count
        self._labels = _labels([*self.rows, *self.columns])
        self.vip_before = sum(n for level, n in self.before.items() if self.queue(baseline, level) == VIP)
        self.vip_after = sum(n for level, n in self.after.items() if self.queue(candidate, level) == VIP)
        self.staffing = [self._staffed(label, rate) for label, rate in rates]

    @staticmethod
    def queue(policy: Policy, level: Level) -> str:
        """The queue `policy` routes a level to (Q1)."""
        return route(policy, Tier(level[0], level[1], None)).queue

    def label(self, level: Level) -> str:
        """A level's code, with its scheme when two schemes shown share the code."""
        return self._labels[level]

    def name(self, level: Level, lang: str = "en") -> str:
        """A level's display name from whichever policy serves its scheme."""
        for policy in (self.candidate, self.baseline):
            if level[0] in policy.schemes:
                return policy.level_name(level[0], level[1], lang)
        return level[1]

    def _staffed(self, label: str, rate: float) -> RateLine:
        now = staff(rate, self.baseline.staffing)
        if self.vip_before == 0:
            return RateLine(label, now, None)
        return RateLine(label, now, staff(rate * self.vip_after / self.vip_before, self.candidate.staffing))

    def populations(self) -> list[LevelCount]:
        """Every level shown in the matrix, in rank order, with its count and queue under each policy."""
        seen = list(dict.fromkeys([*self.rows, *self.columns]))
        return [
            LevelCount(
                level,
                self.label(level),
                self.queue(self.baseline, level),
                self.before[level],
                self.queue(self.candidate, level),
                self.after[level],
            )
            for level in seen
        ]

    def occurring(self) -> tuple[list[Level], list[Level]]:
        """The rows and columns that hold anyone (what a terminal has room for)."""
        return (
            [level for level in self.rows if self.before[level]],
            [level for level in self.columns if self.after[level]],
        )

    def policy_text(self, policy: Policy) -> str:
        """`name version` (the override's file name when one is merged in)."""
        extra = f" (override {policy.files[1]})" if len(policy.files) > 1 else ""
        return f"{policy.name} {policy.version}{extra}"

    def lines(self) -> list[str]:
        """The human summary printed by `callgate evaluate --dry-run`."""
        s = self.summary
        c = s.changes
        out = [
            f"what-if {self.policy_text(self.candidate)} for {s.month} (run date {s.run_date}) — dry run, "
            "nothing written",
            f"  from: the levels in force on {s.run_date} before the month's run, under "
            f"{self.policy_text(self.baseline)}",
            f"  evaluated {s.evaluated:,}: would be "
            + ", ".join(f"{change.replace('_', ' ')} {c[change]:,}" for change in CHANGES)
            + f"; {s.notifications:,} SMS would be queued",
            "",
        ]
        out.extend(self.matrix_lines())
        out.append("")
        delta = self.vip_after - self.vip_before
        share = f", {delta / self.vip_before:+.1%}" if self.vip_before else ""
        out.append(
            f"VIP desk (levels routed to the vip queue): {self.vip_before:,} before → "
            f"{self.vip_after:,} after ({delta:+,}{share})"
        )
        out.extend(self.staffing_lines())
        out.append(
            "seconds (summed over workers): "
            + ", ".join(f"{k} {v:.1f}" for k, v in s.seconds.items())
            + f"; wall clock {s.wall:.1f}"
        )
        return out

    def matrix_lines(self) -> list[str]:
        """The from → to matrix as text: rows and columns with anyone in them, and totals."""
        rows, columns = self.occurring()
        if not rows:
            return ["(no subscribers)"]
        head = ["from \\ to", *(self.label(c) for c in columns), "total"]
        body = [
            [self.label(r), *(f"{self.cells[(r, c)]:,}" for c in columns), f"{self.before[r]:,}"]
            for r in rows
        ]
        body.append(["total", *(f"{self.after[c]:,}" for c in columns), f"{self.summary.evaluated:,}"])
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
        return [
            "  ".join(
                cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)
            )
            for line in [head, *body]
        ]

    def staffing_lines(self) -> list[str]:
        """The VIP desk's agents by Erlang C at each calling rate, now and after."""
        if not self.staffing:
            return [f"VIP agents (Q6): {self.rate_note or 'no calling rate'}"]
        rules = self.candidate.staffing
        out = [
            f"VIP agents by Erlang C (Q6; target {rules.service_level:.0%} answered within "
            f"{rules.answer_within_s} s, {rules.handling_s} s handling):"
        ]
        for line in self.staffing:
            after = (
                f"after {_staffed_text(line.after)}"
                if line.after is not None
                else "after: no VIP customer now to scale the calling rate from"
            )
            out.append(f"  {line.label}: now {_staffed_text(line.now)}; {after}")
        return out


def _staffed_text(s: Staffed) -> str:
    if s.agents == 0:
        return "no calls, 0 agents"
    asa = f"{s.asa_s:.1f} s" if isfinite(s.asa_s) else "∞"
    level = f"service level {s.service_level:.1%}, ASA {asa}"
    return f"{s.calls_per_hour:,.1f} calls/h → {s.agents} agents ({level})"


def _levels(schemes: tuple[str, ...], found: Iterable[Level]) -> list[Level]:
    """Every level of the schemes in rank order, then any other level found (kept, never dropped)."""
    levels: list[Level] = [(scheme, level) for scheme in schemes for level in LEVELS[scheme]]
    known = set(levels)
    extra = sorted({level for level in found if level not in known})
    return levels + extra


def _labels(levels: list[Level]) -> dict[Level, str]:
    codes = Counter(code for _, code in set(levels))
    return {level: level[1] if codes[level[1]] == 1 else f"{level[0]}:{level[1]}" for level in levels}
