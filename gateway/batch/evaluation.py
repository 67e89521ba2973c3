"""`callgate evaluate`: the monthly evaluation at province scale (SPEC §1, T1.9).

The numbers are split into key-range shards, one worker process each (both cores of
the reference machine). A worker reads its subscribers in number order, a batch at a
time, with set-based queries; the engine rates each one; the batch's tier history and
SMS outbox rows go in with COPY in one transaction together with the shard's
checkpoint (the last number done). After each batch commits, its cache records are
rewritten. A run killed at any point resumes every shard after its checkpoint with
nothing lost or doubled; a finished month is never evaluated twice.

A dry run (O1, `dry_run`) takes the same path — the same shards, worker processes, batch
reads and ratings — on read-only sessions, and writes nothing: instead of the batch's
rows and cache records it counts each subscriber's move from the level in force before
the month's run to the level the run would give (`RunSummary.moves`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import multiprocessing
import queue
import signal
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from entitlements.errors import EvaluationError
from entitlements.model import Assignment
from entitlements.months import Month
from entitlements.policy import Policy, load_policy, read_policy
from entitlements.sms import needs_sms, sms_text
from entitlements.tiers import Evaluation, end_assignment, evaluate, tier_in_force
from gateway.batch import fulfilment
from gateway.batch.progress import Progress
from gateway.logs import get_logger
from gateway.services import cache
from gateway.stores import db
from gateway.stores.fastredis import PipelinedRedis
from gateway.stores.queries import bill_totals, partitions, snapshot, subscribers
from gateway.stores.queries import evaluations as runs
from gateway.stores.queries.snapshot import Snapshot

Level = tuple[str, str]  # (scheme, level code)

log = get_logger("evaluation")
PHASES = ("read", "rate", "write", "cache")
DRY_PHASES = ("read", "rate", "compare")  # O1: comparing levels instead of writing
FULL_GC_EVERY = 10  # batches between full garbage collections (see _batch_gc)


class EvaluationRefused(Exception):
    """The run cannot start or go on (future month, concurrent run, policy not in effect)."""


@dataclass(slots=True)
class RunSummary:
    """What one `callgate evaluate` did."""

    policy: str
    month: str
    run_date: date
    already_done: bool = False
    resumed: bool = False
    changes: Counter[str] = field(default_factory=Counter)
    notifications: int = 0
    cache_written: int = 0
    cache_deleted: int = 0
    cache_failed: bool = False
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    wall: float = 0.0
    #: Dry run (O1): (level before, level after) → subscribers; a level is (scheme, level),
    #: None where nothing is in force.
    moves: Counter[tuple[Level | None, Level | None]] = field(default_factory=Counter)
    #: H8: fulfilment work orders created after the run, by kind (a re-run creates none twice).
    orders: dict[str, int] = field(default_factory=dict)
    orders_seconds: float = 0.0
    #: Issue 22.1: the bill months this run folded into totals before its window (sql/053).
    fold: bill_totals.Fold | None = None
    fold_skipped: bool = False
    fold_seconds: float = 0.0
    #: X4: this invocation's host and the hosts sharing the month; whether it closed the
    #: month (marked it done and made its work orders), else the hosts still evaluating.
    shard: tuple[int, int] = (1, 1)
    closed: bool = False
    waiting_for: list[int] = field(default_factory=list)

    @property
    def evaluated(self) -> int:
        """Subscribers evaluated by this invocation."""
        return sum(self.changes.values())

    def add(self, report: dict[str, Any]) -> None:
        """Fold one batch report from a shard into the summary."""
        self.changes.update(report["changes"])
        self.notifications += report["notifications"]
        self.cache_written += report["written"]
        self.cache_deleted += report["deleted"]
        self.cache_failed = self.cache_failed or report["cache_failed"]
        for phase, seconds in report["seconds"].items():
            self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        if "moves" in report:
            self.moves.update(report["moves"])

    def _fold_lines(self) -> list[str]:
        if self.fold is not None:
            months = f"months {Month.of(self.fold.first)} … " if self.fold.first else "every month to "
            return [
                f"  bills folded into totals: {months}{Month.of(self.fold.upto) - 1}, "
                f"{self.fold.subscribers:,} subscribers (in {self.fold_seconds:.1f} s, alongside the batches)"
            ]
        if self.fold_skipped:
            return [
                "  bills not folded this month: the totals were busy (a long read of them, or "
                "another fold); the batches read the unfolded months' rows, the next run folds them"
            ]
        return []

    def lines(self) -> list[str]:
        """The human summary printed at the end."""
        orders = (
            f"  work orders (H8): manager_assignment {self.orders.get('manager_assignment', 0):,}, "
            f"card_issue {self.orders.get('card_issue', 0):,} (in {self.orders_seconds:.1f} s)"
        )
        if self.already_done:
            return [
                f"{self.policy} {self.month}: already evaluated (run date {self.run_date}); nothing to do",
                orders,
            ]
        c = self.changes
        cache_line = (
            f"  notifications queued {self.notifications:,}; cache records written {self.cache_written:,}, "
            f"removed {self.cache_deleted:,}"
        )
        if self.cache_failed:
            cache_line += " — REDIS FAILED: run `callgate cache rebuild`"
        host, hosts = self.shard
        if hosts > 1 and not self.closed:
            waiting = ", ".join(f"{h}/{hosts}" for h in self.waiting_for)
            orders = (
                f"  shard {host}/{hosts} done; the month is finished when every shard is "
                f"(still evaluating: {waiting or 'none'})"
            )
        elif hosts > 1:
            orders += f"\n  shard {host}/{hosts} finished last: the month is done"
        return [
            f"{self.policy} {self.month} (run date {self.run_date})" + (", resumed" if self.resumed else ""),
            f"  evaluated {self.evaluated:,}: new {c['new']:,}, raised {c['raised']:,}, held {c['held']:,}, "
            f"renewed {c['renewed']:,}, lowered {c['lowered']:,}, expired {c['expired']:,}, "
            f"ended {c['ended']:,}, unchanged {c['unchanged']:,}, not rated {c['not_rated']:,}",
            cache_line,
            orders,
            *self._fold_lines(),
            "  seconds (summed over workers): "
            + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items())
            + f"; wall clock {self.wall:.1f}",
        ]


@dataclass(frozen=True, slots=True)
class ShardJob:
    """Everything a worker process needs to evaluate one shard."""

    dsn: str
    redis_url: str | None
    policy: str
    override: Path | None
    month: int
    run_date: date
    today: date
    shard: int
    after: str
    hi: str | None
    batch: int
    #: O1: rate and compare, write nothing; "before" is the in-force level of `baseline`
    #: (the deployment's policy) and of its legacy cards.
    dry_run: bool = False
    baseline: str = ""
    baseline_legacy: str | None = None
    #: The override's bytes as the coordinator validated them (None: read `override`).
    override_content: bytes | None = None
    #: Read the assignments from the tier history instead of the serving state: a run of a
    #: month older than one already evaluated, or a dry run of an evaluated month (see
    #: snapshot.load_range).
    history: bool = False


def default_run_date(month: Month, today: date) -> date:
    """The run date of an evaluation: today for the current month, else the 6th (after billing closes)."""
    return today if Month.of(today) == month else month.day(6)


def _lock_id(policy: str, month: Month, shard: int | None = None) -> int:
    return zlib.crc32(f"evaluate {policy} {month} {shard}".encode()) & 0x7FFFFFFF


def _assignment_row(ev: Evaluation) -> tuple[object, ...]:
    e = ev.explanation
    return (
        ev.msisdn, e.policy, ev.month.first_day, e.version, e.scheme, e.level, e.previous, e.computed,
        e.change, e.effective_from, e.valid_until, ev.since, "evaluation",
    )  # fmt: skip


def _serving_after(snap: Snapshot, ev: Evaluation, policy: Policy, run_date: date) -> list[Assignment]:
    """The assignments that serve callers once this run's writes are in (for the cache record)."""
    legacy = policy.transition.legacy_scheme if policy.transition else None
    serving = snap.serving(policy.name, legacy)
    if ev.legacy_card_ended and legacy is not None:
        card = snap.legacy_card(legacy)
        serving = [end_assignment(a, run_date) if a is card else a for a in serving]
    serving.append(ev.assignment())
    return serving


def _held_before(snap: Snapshot, policy: str, legacy: str | None, first_day: date) -> list[Assignment]:
    """The assignments that served before this month's run (its own rows left out, if any)."""
    return [
        a
        for evaluated, a in snap.assignments
        if (a.policy == policy or (legacy is not None and a.source == "import" and a.scheme == legacy))
        and (a.source != "evaluation" or evaluated < first_day)
    ]


def _level(assignment: Assignment | None) -> Level | None:
    return None if assignment is None else (assignment.scheme, assignment.level)


def _move(
    snap: Snapshot, ev: Evaluation, job: ShardJob, policy: Policy, first_day: date
) -> tuple[Level | None, Level | None]:
    """O1: the level in force on the run date before the run → the level serving once the
    run's result takes effect (the run date, or the result's first day if later)."""
    legacy = policy.transition.legacy_scheme if policy.transition else None
    held = _held_before(snap, policy.name, legacy, first_day)
    if job.baseline == policy.name and job.baseline_legacy == legacy:
        before = tier_in_force(held, job.run_date)
    else:
        before = tier_in_force(_held_before(snap, job.baseline, job.baseline_legacy, first_day), job.run_date)
    if ev.legacy_card_ended and legacy is not None:
        card = snap.legacy_card(legacy)
        held = [end_assignment(a, job.run_date) if a is card else a for a in held]
    held.append(ev.assignment())
    after = tier_in_force(held, max(job.run_date, ev.effective_from))
    return _level(before), _level(after)


class _SmsTexts:
    """`sms_text`, once per distinct message: most of a province shares a handful
    (the first run of the demo province queues 769,231 SMS in a few hundred texts)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.seen: dict[tuple[object, ...], str] = {}

    def __call__(self, ev: Evaluation) -> str:
        e = ev.explanation
        # everything sms_text reads besides the policy
        which = (e.scheme, e.change, e.level, e.previous, e.effective_from, e.valid_until)
        text = self.seen.get(which)
        if text is None:
            if len(self.seen) > 10_000:
                self.seen.clear()
            text = self.seen[which] = sms_text(ev, self.policy)
        return text


async def _evaluate_shard(
    job: ShardJob,
    policy: Policy,
    conn: asyncpg.Connection,
    redis: PipelinedRedis | None,
    report: Callable[[dict[str, Any]], None],
) -> None:
    """Evaluate one shard from its checkpoint to its end, committing batch by batch."""
    month = Month(job.month)
    first_day = month.first_day
    bills_from = (month - snapshot.BILL_WINDOW).first_day  # the first month `history` reads
    if job.dry_run:  # reads only: PostgreSQL itself refuses any write on this session
        await runs.read_only(conn)
    elif not await runs.try_lock(conn, _lock_id(policy.name, month, job.shard)):
        raise EvaluationRefused(
            f"shard {job.shard} of {policy.name} {month} is still being evaluated elsewhere"
        )
    # (A failed run leaves the setting on its session, which is closed or discarded.)
    await runs.prefer_index_scans(conn)
    legacy = policy.transition.legacy_scheme if policy.transition else None
    after = job.after
    cache_failed = False
    texts = _SmsTexts(policy)
    batches = 0
    while True:
        t0 = time.monotonic()
        chunk = await snapshot.load_range(
            conn, after, job.batch, job.hi, job.today, first_day, history=job.history, bills_from=bills_from
        )
        t1 = time.monotonic()
        if not chunk:
            break
        evaluations = []
        for snap in chunk:
            try:
                evaluations.append(
                    evaluate(
                        policy,
                        snap.subscriber,
                        snap.history(month),
                        month,
                        job.run_date,
                        snap.previous(policy.name, month),
                        snap.legacy_card(legacy) if legacy else None,
                    )
                )
            except EvaluationError as exc:
                raise EvaluationRefused(f"subscriber {snap.subscriber.msisdn[:3]}…: {exc}") from exc
        t2 = time.monotonic()
        changes = Counter(ev.change for ev in evaluations)
        last = chunk[-1].subscriber.msisdn
        if job.dry_run:
            moves = Counter(
                _move(snap, ev, job, policy, first_day) for snap, ev in zip(chunk, evaluations, strict=True)
            )
            report(
                {
                    "count": len(chunk),
                    "changes": dict(changes),
                    "notifications": sum(1 for ev in evaluations if needs_sms(ev)),
                    "written": 0,
                    "deleted": 0,
                    "cache_failed": False,
                    "moves": dict(moves),
                    "seconds": {"read": t1 - t0, "rate": t2 - t1, "compare": time.monotonic() - t2},
                }
            )
            after = last
            del chunk, evaluations
            batches += 1
            gc.collect(0 if batches % FULL_GC_EVERY else 2)  # see _batch_gc
            continue
        notices = [(ev.msisdn, "tier", first_day, texts(ev)) for ev in evaluations if needs_sms(ev)]
        async with conn.transaction():
            await runs.copy_assignments(conn, [_assignment_row(ev) for ev in evaluations])
            await runs.copy_explanations(
                conn,
                [(ev.msisdn, policy.name, first_day, ev.explanation.stored_dict()) for ev in evaluations],
            )
            if notices:
                await runs.copy_notifications(conn, notices)
            ended = [ev.msisdn for ev in evaluations if ev.legacy_card_ended]
            if ended and legacy:
                await runs.end_legacy_cards(conn, ended, job.run_date, legacy)
            await runs.checkpoint(
                conn, policy.name, first_day, job.shard, last, {**changes, "notifications": len(notices)}
            )
        t3 = time.monotonic()
        written = deleted = 0
        if redis is not None and not cache_failed:
            try:
                records = [
                    (
                        snap.subscriber.msisdn,
                        cache.record_for(
                            snap, policy, job.today, _serving_after(snap, ev, policy, job.run_date)
                        ),
                    )
                    for snap, ev in zip(chunk, evaluations, strict=True)
                ]
                written, deleted = await cache.write_bulk(redis, records)
            except OSError as exc:  # RedisUnavailable, TimeoutError: the run goes on without the cache
                cache_failed = True
                log.warning("cache_write_failed", error=str(exc))
        t4 = time.monotonic()
        after = last
        report(
            {
                "count": len(chunk),
                "changes": dict(changes),
                "notifications": len(notices),
                "written": written,
                "deleted": deleted,
                "cache_failed": cache_failed,
                "seconds": {"read": t1 - t0, "rate": t2 - t1, "write": t3 - t2, "cache": t4 - t3},
            }
        )
        del chunk, evaluations, notices
        batches += 1
        gc.collect(0 if batches % FULL_GC_EVERY else 2)  # see _batch_gc
    await runs.reset_scan_costs(conn)
    if not job.dry_run:
        await runs.finish_shard(conn, policy.name, first_day, job.shard)


@contextlib.contextmanager
def _batch_gc() -> Iterator[None]:
    """No cyclic garbage collection while a batch is in flight; collected between batches.

    A batch allocates a few hundred thousand acyclic objects (rows, snapshots, evaluations)
    that reference counting frees; the collector's automatic passes over them were ~15 %
    of a worker's CPU. `_evaluate_shard` collects the young generation after each batch
    (the batch's survivors, ~0 ms) and everything every FULL_GC_EVERY batches (~45 ms, and
    it found no cycles in a million-subscriber run), so nothing cyclic piles up.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the coordinating process dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _post(messages: Any, shard: int, report: dict[str, Any]) -> None:
    messages.put(("batch", shard, report))


def _worker(job: ShardJob, messages: Any) -> None:
    """Entry point of a worker process."""
    _die_with_parent()

    async def main() -> None:
        policy = (
            read_policy(job.policy, job.override, job.override_content)
            if job.override_content is not None
            else load_policy(job.policy, job.override)
        )
        conn = await db.connect(job.dsn)
        redis = PipelinedRedis(job.redis_url, connections=1) if job.redis_url else None
        try:
            gc.freeze()  # what start-up made (modules, the policy) stays out of every collection
            with _batch_gc():
                await _evaluate_shard(job, policy, conn, redis, partial(_post, messages, job.shard))
        finally:
            await conn.close()
            if redis is not None:
                await redis.close()

    try:
        # uvloop, as `callgate serve` runs: a worker spends a tenth of its time receiving
        # PostgreSQL's rows, which asyncio's own loop does in Python.
        uvloop.run(main())
        messages.put(("done", job.shard, None))
    except BaseException as exc:  # reported to the coordinator, which fails the run
        messages.put(("error", job.shard, f"{type(exc).__name__}: {exc}"))


async def _bounds(conn: asyncpg.Connection, workers: int) -> list[str]:
    """The lower bound of each key-range shard (the first is ""): equal shares of the numbers."""
    total = await subscribers.count(conn)
    bounds = [""]
    for k in range(1, workers):
        cut = await runs.nth_msisdn(conn, total * k // workers)
        if cut is not None and cut > bounds[-1]:
            bounds.append(cut)
    return bounds


async def ensure_partitions(conn: asyncpg.Connection, month: Month) -> None:
    """X5: the month partitions this month's run writes (tier history) and the next two
    months', made ahead of the writes. Bills partitions are the import's to make: a month
    it finds without one it attaches whole (`partitions.attach_staged_bills`)."""
    ahead = [(month + k).first_day for k in range(3)]
    for table in partitions.TIER_HISTORY:
        await partitions.ensure(conn, table, ahead)


async def _prepare(
    conn: asyncpg.Connection,
    policy: Policy,
    month: Month,
    today: date,
    run_date: date | None,
    workers: int,
    host: int = 1,
    hosts: int = 1,
) -> tuple[RunSummary, list[runs.Shard]]:
    """Create the run and its shards, or find the unfinished shards of a killed run (of
    this host, X4: host `host` of `hosts`)."""
    first_day = month.first_day
    found = await runs.run_of(conn, policy.name, first_day)
    if found is None:
        chosen = run_date or default_run_date(month, today)
        if Month.of(chosen) != month:
            raise EvaluationRefused(f"run date {chosen} is not in {month}")
        if not policy.in_effect(chosen):
            raise EvaluationRefused(f"policy {policy.name} {policy.version} is not in effect on {chosen}")
        await ensure_partitions(conn, month)
        # X4: each host's share is cut into its `workers` key ranges, all made up front.
        bounds = await _bounds(conn, workers * hosts)
        per_host = -(-len(bounds) // hosts)
        host_of = [min(k // per_host, hosts - 1) + 1 for k in range(len(bounds))]
        if not await runs.create_run(
            conn, policy.name, first_day, policy.version, chosen, bounds, host_of, hosts
        ):  # another host made it a moment ago: take its layout
            found = await runs.run_of(conn, policy.name, first_day)
    if found is not None:
        if found.hosts != hosts:
            split = f"--shard I/{found.hosts}" if found.hosts > 1 else "no --shard"
            raise EvaluationRefused(
                f"{policy.name} {month} was started for {found.hosts} host(s): run it with {split}"
            )
        summary = RunSummary(policy.name, str(month), found.run_date, resumed=True)
        summary.already_done = found.finished
    else:
        summary = RunSummary(policy.name, str(month), chosen)
    return summary, await runs.unfinished_shards(conn, policy.name, first_day, host)


async def run(
    conn: asyncpg.Connection,
    policy: Policy,
    month: Month,
    today: date,
    *,
    dsn: str,
    redis_url: str | None,
    override: Path | None = None,
    run_date: date | None = None,
    batch: int = 20_000,
    workers: int = 2,
    show_progress: bool = True,
    now: datetime | None = None,
    shard: tuple[int, int] = (1, 1),
) -> RunSummary:
    """Evaluate every subscriber for `month` (resuming a killed run); see the module docstring.

    `shard` (I, N): this invocation is host I of the N sharing the month (X4): it evaluates
    its own key ranges; whichever host finishes the last shard closes the month.

    Then the month's VIP-fulfilment work orders (H8), also after a run found already done,
    so a run killed between its end and this step heals on the next invocation; `now` is
    when they are created (the injectable clock; default the system clock)."""
    host, hosts = shard
    if not 1 <= host <= hosts:
        raise EvaluationRefused(f"--shard {host}/{hosts}: I must be between 1 and N")
    if month > Month.of(today):
        raise EvaluationRefused(
            f"{month} has not begun (today is {today}); bills up to {month - 1} must close first"
        )
    lock = _lock_id(policy.name, month, None if hosts == 1 else -host)
    if not await runs.try_lock(conn, lock):
        raise EvaluationRefused(
            f"another `callgate evaluate` of {policy.name} {month}"
            + (f" --shard {host}/{hosts}" if hosts > 1 else "")
            + " is running"
        )
    started = time.monotonic()
    try:
        summary, shards = await _prepare(conn, policy, month, today, run_date, workers, host, hosts)
        summary.shard = shard
        created = now or datetime.now(UTC)
        if summary.already_done:
            summary.orders = await fulfilment.issue_orders(conn, policy, month, created)
            return summary
        latest = await runs.latest_evaluated(conn)  # a later month's writes pruned the state
        history = latest is not None and latest > month.first_day
        remaining = sum([await runs.remaining(conn, s.last_msisdn, s.hi) for s in shards])
        progress = Progress(f"evaluate {month}", remaining, unit="subscribers") if show_progress else None
        jobs = [
            ShardJob(
                dsn,
                redis_url,
                policy.name,
                override,
                int(month),
                summary.run_date,
                today,
                s.shard,
                s.last_msisdn,
                s.hi,
                batch,
                history=history,
            )
            for s in shards
        ]

        def on_batch(report: dict[str, Any]) -> None:
            summary.add(report)
            if progress:
                progress.advance(report["count"])

        # Issue 22.1: the bill months before the window are folded into totals, so each
        # batch reads the same rows however long the province has run. On its own
        # connection, alongside the batches: a batch reads the unfolded rows until the fold
        # commits and the folded ones after (sql/053), the same sums either way.
        folding = asyncio.create_task(_fold(dsn, month, summary))
        try:
            await _execute(jobs, policy, conn, redis_url, workers, on_batch)
        except BaseException:  # a failed or interrupted run: its fold is rolled back, not awaited
            folding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await folding
            raise
        await folding  # (a fold that cannot have its locks is logged and skipped, never raised)
        began = time.monotonic()
        # The month's closing steps, once: the run is marked done only when every host's
        # shards are, and the host that marks it creates the month's work orders in the
        # same transaction (X4); another host finishing at the same moment waits on the
        # run's row and finds it done.
        async with conn.transaction():
            summary.closed = await runs.finish_run(conn, policy.name, month.first_day)
            if summary.closed:
                summary.orders = await fulfilment.issue_orders(conn, policy, month, created)
        if not summary.closed:
            summary.waiting_for = await runs.hosts_unfinished(conn, policy.name, month.first_day)
        summary.orders_seconds = time.monotonic() - began
        if progress:
            progress.finish()
        summary.wall = time.monotonic() - started
        return summary
    finally:
        await runs.unlock(conn, lock)


async def dry_run(
    conn: asyncpg.Connection,
    policy: Policy,
    month: Month,
    today: date,
    *,
    baseline: Policy,
    dsn: str,
    override: Path | None = None,
    override_content: bytes | None = None,
    run_date: date | None = None,
    batch: int = 20_000,
    workers: int = 2,
    show_progress: bool = True,
) -> RunSummary:
    """O1: the whole evaluation of `month` under `policy`, writing nothing (see the module docstring).

    Every subscriber is rated as the real run would rate them (the run date of a run
    already made, else `run_date` or the default); `moves` compares the level each one
    holds under `baseline` (the policy in force) with the one this run would give.
    `override_content`: the override's bytes as validated, so the workers rate with them.
    """
    if month > Month.of(today):
        raise EvaluationRefused(
            f"{month} has not begun (today is {today}); bills up to {month - 1} must close first"
        )
    started = time.monotonic()
    await runs.read_only(conn)
    found = await runs.run_of(conn, policy.name, month.first_day)
    chosen = run_date or (found.run_date if found is not None else default_run_date(month, today))
    if Month.of(chosen) != month:
        raise EvaluationRefused(f"run date {chosen} is not in {month}")
    if not policy.in_effect(chosen):
        raise EvaluationRefused(f"policy {policy.name} {policy.version} is not in effect on {chosen}")
    summary = RunSummary(policy.name, str(month), chosen, seconds=dict.fromkeys(DRY_PHASES, 0.0))
    latest = await runs.latest_evaluated(conn)  # this month's writes, or a later one's, pruned it
    history = latest is not None and latest >= month.first_day
    bounds = await _bounds(conn, workers)
    total = await subscribers.count(conn)
    progress = Progress(f"dry run {month}", total, unit="subscribers") if show_progress else None
    legacy = baseline.transition.legacy_scheme if baseline.transition else None
    jobs = [
        ShardJob(
            dsn,
            None,
            policy.name,
            override,
            int(month),
            chosen,
            today,
            shard,
            lo,
            bounds[shard + 1] if shard + 1 < len(bounds) else None,
            batch,
            dry_run=True,
            baseline=baseline.name,
            baseline_legacy=legacy,
            override_content=override_content,
            history=history,
        )
        for shard, lo in enumerate(bounds)
    ]

    def on_batch(report: dict[str, Any]) -> None:
        summary.add(report)
        if progress:
            progress.advance(report["count"])

    await _execute(jobs, policy, conn, None, workers, on_batch)
    if progress:
        progress.finish()
    summary.wall = time.monotonic() - started
    return summary


async def _fold(dsn: str, month: Month, summary: RunSummary) -> None:
    """Fold the bill months before `month`'s window into the totals (a no-op when done),
    noting what it did, or that it was skipped, in `summary`."""
    began = time.monotonic()
    try:
        conn = await db.connect(dsn)
        try:
            summary.fold = await bill_totals.fold(conn, (month - snapshot.BILL_WINDOW).first_day)
        except BaseException:
            conn.terminate()  # (cancelled mid-statement: the server rolls the fold back)
            raise
        await conn.close()
    except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as exc:
        # the totals busy (a long read of them, another host's fold, a writer): the
        # batches read the unfolded months' rows instead, and the next run folds them
        summary.fold_skipped = True
        log.warning("bill_fold_skipped", month=str(month), reason=type(exc).__name__)
    summary.fold_seconds = time.monotonic() - began


async def _execute(
    jobs: list[ShardJob],
    policy: Policy,
    conn: asyncpg.Connection,
    redis_url: str | None,
    workers: int,
    on_batch: Callable[[dict[str, Any]], None],
) -> None:
    """Run the shards: in this process when there is one shard and one worker, else one process each."""
    if len(jobs) == 1 and workers == 1:
        redis = PipelinedRedis(redis_url, connections=1) if redis_url else None
        try:
            with _batch_gc():
                await _evaluate_shard(jobs[0], policy, conn, redis, on_batch)
        finally:
            if redis is not None:
                await redis.close()
    elif jobs:
        await _run_workers(jobs, on_batch)


async def _run_workers(jobs: list[ShardJob], on_batch: Callable[[dict[str, Any]], None]) -> None:
    """One process per shard; fold their reports in; fail if any fails."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    processes = [context.Process(target=_worker, args=(job, messages), daemon=True) for job in jobs]
    for process in processes:
        process.start()
    pending = {job.shard for job in jobs}
    errors: list[str] = []
    try:
        while pending:
            try:
                kind, shard, payload = await asyncio.to_thread(messages.get, True, 1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    errors.append("a worker died without reporting")
                    break
                continue
            if kind == "batch":
                on_batch(payload)
            else:
                pending.discard(shard)
                if kind == "error":
                    errors.append(f"shard {shard}: {payload}")
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    if errors:
        raise EvaluationRefused("; ".join(errors) + " — run the same command again to resume")
