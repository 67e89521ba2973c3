"""A3/A4: the agent star a call needs, and which waiting call a free agent takes.

A3: every customer level needs a minimum agent star (policy ``[agents.matching]``), relaxed
while the call waits (default: one star less at 20 s, one star at 40 s), so that customers
are served by staff of the right star (S167, S177) without waiting for a star that is busy.

A4: a free agent takes, among the calls waiting on its desks whose *current* requirement
its star meets, the one with the highest score = seconds waited + priority ×
``priority_seconds``; ties go to the earlier ``enqueued_at``. Because

    score = now − (enqueued_at − priority × priority_seconds)

the order of two waiting calls never changes while they wait (both scores rise at the same
rate): the call with the smaller *virtual arrival* ``enqueued_at − priority ×
priority_seconds`` comes first, so a general call that has waited longer than a VIP
call's head start beats it, and no call starves. Within one desk, base requirement and
priority (a *bucket*), the oldest call is also the best and the first to be relaxed, so
only each bucket's oldest call — its *head* — can be chosen: ``choose`` looks at heads only.

``choose`` is the one implementation of the choice: the queue engine
(``gateway.services.queue``) calls it on the heads it reads from Redis, and the hotline
simulation (``entitlements.simulation``) on the heads of its own buckets.

Times are integer milliseconds (exact: no float ties).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from entitlements.model import Tier
from entitlements.policy import Matching, Policy

MS = 1000
NO_BOUND = 2**62  # later than any enqueued_ms


@dataclass(frozen=True, slots=True)
class Head:
    """The oldest waiting call of one bucket (one desk, base requirement and priority).

    ``call`` is the caller's handle (a call id in the service, an index in the simulation);
    ``choose`` never reads it.
    """

    desk: str
    min_star: int
    priority: int
    enqueued_ms: int
    call: Any


@dataclass(frozen=True, slots=True)
class Skill:
    """A3: what the lookup tells an ACD that routes itself: the desk, the agent star the
    caller needs and the relaxation steps ``((seconds waited, star), …)``."""

    desk: str
    min_agent_star: int
    relax: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        """The lookup answer's ``skill`` object."""
        return {
            "desk": self.desk,
            "min_agent_star": self.min_agent_star,
            "relax": [list(step) for step in self.relax],
        }


def min_agent_star(policy: Policy, tier: Tier | None) -> int:
    """A3: the agent star a caller of ``tier`` needs before any waiting (``unknown`` for
    callers without a level, and for a scheme the policy does not match)."""
    matching = policy.agents.matching
    if tier is None:
        return matching.unknown
    per_level = matching.levels.get(tier.scheme)
    if per_level is None:
        return matching.unknown
    return per_level.get(tier.level, matching.unknown)


def required_star(matching: Matching, base: int, waited_ms: int) -> int:
    """A3: the requirement of a call needing ``base`` stars after ``waited_ms`` of waiting
    (each relax step reached lowers it; never below one star)."""
    star = base
    for step in matching.relax:
        if waited_ms < step.after_s * MS:
            break  # steps come in rising order of after_s (checked when the policy loads)
        lowered = base - step.drop if step.drop is not None else step.to
        if lowered is not None and lowered < star:
            star = lowered
    return max(1, star)


def relax_schedule(matching: Matching, base: int) -> tuple[tuple[int, int], ...]:
    """A3: the steps that lower a ``base`` requirement, as ``(seconds waited, star)``
    (``[[20, 3], [40, 1]]`` for four stars by default; none for one star)."""
    out: list[tuple[int, int]] = []
    current = base
    for step in matching.relax:
        star = required_star(matching, base, step.after_s * MS)
        if star < current:
            out.append((step.after_s, star))
            current = star
    return tuple(out)


def skill(policy: Policy, tier: Tier | None, desk: str) -> Skill:
    """A3: the lookup's ``skill`` for a caller of ``tier`` routed to ``desk``."""
    base = min_agent_star(policy, tier)
    return Skill(desk, base, relax_schedule(policy.agents.matching, base))


def score_ms(matching: Matching, head: Head, now_ms: int) -> int:
    """A4: a waiting call's score in milliseconds: waited + priority × priority_seconds."""
    return now_ms - head.enqueued_ms + head.priority * matching.priority_seconds * MS


def eligible(matching: Matching, head: Head, star: int, desks: Collection[str], now_ms: int) -> bool:
    """A3/A4: whether an agent of ``star`` serving ``desks`` may take ``head`` at ``now_ms``."""
    return head.desk in desks and required_star(matching, head.min_star, now_ms - head.enqueued_ms) <= star


def choose(
    heads: Iterable[Head], star: int, desks: Collection[str], now_ms: int, matching: Matching
) -> Head | None:
    """A4: the call a free agent of ``star`` serving ``desks`` takes at ``now_ms``: among the
    eligible heads the highest score (the smallest virtual arrival), ties by the earlier
    ``enqueued_ms`` (then the first given); ``None`` when no head is eligible."""
    priority_ms = matching.priority_seconds * MS
    best: Head | None = None
    best_key: tuple[int, int] | None = None
    for head in heads:
        if not eligible(matching, head, star, desks, now_ms):
            continue
        key = (head.enqueued_ms - head.priority * priority_ms, head.enqueued_ms)
        if best_key is None or key < best_key:
            best, best_key = head, key
    return best


def waited_needed(matching: Matching, base: int, star: int) -> int | None:
    """A3: how long (ms) a call needing ``base`` stars must wait before an agent of ``star``
    may take it (0: at once; None: never)."""
    if base <= star:
        return 0
    for step in matching.relax:
        if required_star(matching, base, step.after_s * MS) <= star:
            return step.after_s * MS
    return None


def latest_enqueued(
    chosen: Head, heads: Iterable[Head], star: int, desks: Collection[str], now_ms: int, matching: Matching
) -> int | None:
    """A4 under concurrency: the latest ``enqueued_ms`` a call of ``chosen``'s bucket may have
    and still be this agent's choice over the other ``heads`` (None: none may).

    Within a bucket the oldest call is the best, so when other agents take ``chosen`` first,
    the next call of the same bucket is still the right one as long as it is eligible
    (waited long enough for its requirement) and beats every other eligible head — by a
    smaller virtual arrival, or an equal one and an earlier ``enqueued_ms``, or both equal and
    its bucket given first (as ``choose`` breaks a full tie). The queue engine
    takes the oldest call of the bucket not younger than this bound in one atomic step, so
    agents asking at the same moment take successive calls instead of racing for one.
    """
    needed = waited_needed(matching, chosen.min_star, star)
    if needed is None or chosen.desk not in desks:
        return None
    # A call needing no wait is eligible however recently it came (even "after" now: the
    # ACD's clocks need not agree to the millisecond).
    bound = now_ms - needed if needed else NO_BOUND
    priority_ms = matching.priority_seconds * MS
    after_chosen = False  # whether `head` is given after `chosen` (a full tie goes to the first)
    for head in heads:
        if head is chosen:
            after_chosen = True
            continue
        same_bucket = (head.desk, head.min_star, head.priority) == (
            chosen.desk,
            chosen.min_star,
            chosen.priority,
        )
        if same_bucket or not eligible(matching, head, star, desks, now_ms):
            continue
        # A call c of the chosen bucket beats `head` iff (c.enq − p·ps, c.enq) < (head's virtual,
        # head.enq), or the two are equal and the chosen bucket is given first.
        same_virtual = head.enqueued_ms - head.priority * priority_ms + chosen.priority * priority_ms
        wins_tie = same_virtual < head.enqueued_ms or (same_virtual == head.enqueued_ms and after_chosen)
        bound = min(bound, same_virtual if wins_tie else same_virtual - 1)
    return bound
