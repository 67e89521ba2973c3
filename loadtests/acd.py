"""`loadtests/run --scenario acd`: real SIP calls through callgate's queue engine (issue 18).

Starts callgate over the demo province (embedded stores), imports N agents (five stars, both
desks), starts Kamailio with ``ivr/kamailio/acd.cfg``, one sipp per agent, the agent driver,
and Poisson callers with exponential patience (``loadtests/sip/acd.py``); then reads the
service level per desk **as callgate measured it** (``GET /v1/queue/stats``) and puts it
beside Erlang C's prediction and the hotline simulation's (``entitlements.simulation``, the
same N, calls per hour, handling time, patience and caller mix, many replications of a run
of the same length), with the latency of callgate's enqueue (the lookup inside it) and
``next`` as the driver saw them.

Compressed in time: every duration of the hotline is divided by ``--compress`` (20 by
default): handling time 180 s → 9 s, patience, the policy's 20 s threshold → 1 s (an
override file; its short-abandon limit 5 s → 0 s, rounded to whole seconds), and the call
rate multiplied. Erlang C's service level is the same in both scales; ``--duration`` is wall
time. Fails when callgate's total service level is more than ``--tolerance`` below Erlang C.
"""

from __future__ import annotations

import csv
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from entitlements.simulation import (
    AgentGroup,
    Answer,
    Call,
    Exponential,
    QueueSetup,
    ServiceLevelFormula,
    simulate,
)
from entitlements.staffing import offered_traffic, service_level
from loadtests.report import percentile
from loadtests.sip.acd import AcdRig, AcdRun, poisson_plan
from loadtests.sip.harness import DEMO_IVR_TOKEN, demo_callers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DESKS = ("vip", "general")
THRESHOLD_S, SHORT_ABANDON_S = 20, 5  # the shipped policies' Q5 values, in real time
REPLICATIONS = 200


@dataclass(frozen=True, slots=True)
class AcdOptions:
    """One run of the ACD scenario, in real (uncompressed) hotline units."""

    agents: int = 14
    calls_per_hour: float = 200.0
    aht_s: float = 180.0
    patience_s: float = 120.0
    duration_s: float = 120.0  # wall time of arrivals
    compress: int = 20
    tolerance: float = 0.05
    seed: int = 1

    @property
    def threshold_s(self) -> int:
        """The compressed Q5 threshold (whole seconds, as the policy takes it)."""
        return THRESHOLD_S // self.compress

    @property
    def short_abandon_s(self) -> int:
        """The compressed short-abandon limit, rounded to whole seconds."""
        return round(SHORT_ABANDON_S / self.compress)


def check(options: AcdOptions) -> None:
    """Reject a compression the policy cannot express (its threshold is whole seconds)."""
    if options.compress < 1 or THRESHOLD_S % options.compress:
        raise ValueError("--compress must divide 20 (1, 2, 4, 5, 10 or 20): the threshold is whole seconds")


def policy_override(options: AcdOptions) -> str:
    """The override file of the compressed policy (Q5's threshold and short-abandon limit)."""
    return (
        "[agents.service_level]\n"
        f"threshold_s = {options.threshold_s}\n"
        f"short_abandon_s = {options.short_abandon_s}\n"
    )


def agent_ids(count: int) -> list[str]:
    """The run's agents, in the order the fallback serves them."""
    return [f"ACD{i:03d}" for i in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class DeskLine:
    """One desk (or the total) of the report."""

    desk: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within: int
    measured_sl: float | None
    erlang_c_sl: float
    simulated_sl: float
    simulated_p10: float
    simulated_p90: float


@dataclass(frozen=True, slots=True)
class Latency:
    """One callgate operation as the driver timed it (ms)."""

    op: str
    count: int
    p50: float
    p90: float
    p99: float
    max: float


def latencies(summary: Mapping[str, Any]) -> list[Latency]:
    """The driver's round trips per operation."""
    out = []
    for op in ("enqueue", "next", "event", "state"):
        values = sorted(summary.get("latency_ms", {}).get(op, []))
        if values:
            out.append(
                Latency(
                    op,
                    len(values),
                    percentile(values, 50),
                    percentile(values, 90),
                    percentile(values, 99),
                    values[-1],
                )
            )
    return out


def simulated(
    options: AcdOptions, desk_share: Mapping[str, float], priority: Mapping[str, int]
) -> dict[str, list[float]]:
    """Per desk and in total, the service level of REPLICATIONS simulated runs like this one
    (compressed units, the run's length, starting empty, the observed caller mix)."""
    k = options.compress
    rate = options.calls_per_hour * k
    aht = options.aht_s / k
    formula = ServiceLevelFormula(target_s=options.threshold_s, short_abandon_s=options.short_abandon_s)
    queues = {
        d: QueueSetup(agents=0, handling=Exponential(aht), patience=Exponential(options.patience_s / k))
        for d in DESKS
    }
    shared = [AgentGroup(options.agents, frozenset(DESKS), star=5)]
    out: dict[str, list[float]] = {d: [] for d in (*DESKS, "total")}
    desks = [d for d in DESKS if desk_share.get(d, 0) > 0]
    weights = [desk_share[d] for d in desks]
    for r in range(REPLICATIONS):
        rng = random.Random(f"acd-sim:{options.seed}:{r}")
        calls, t = [], rng.expovariate(rate / 3600)
        while t < options.duration_s:
            desk = rng.choices(desks, weights)[0]
            calls.append(Call(t, Answer(desk, priority.get(desk, 0))))
            t += rng.expovariate(rate / 3600)
        if not calls:
            continue
        result = simulate(calls, queues, seed=r, formula=formula, horizon_s=options.duration_s, shared=shared)
        for d in desks:
            if result.queues[d].total.offered:
                out[d].append(result.queues[d].total.service_level)
        tallies = [result.queues[d].total for d in desks]
        within = sum(t.answered_within for t in tallies)
        base = sum(t.offered - t.short_abandons for t in tallies)
        if base:
            out["total"].append(within / base)
    return out


def _get_json(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: dict[str, Any] = json.loads(answer.read())
        return body


def reset_queue_engine(data_dir: Path) -> int:
    """Remove the queue engine's keys from the embedded Redis (a previous run's calls and
    counters would still be in the 30-minute window); the number of keys removed."""
    import redis

    from gateway.stores.embedded import EmbeddedRedis

    client = redis.Redis.from_url(EmbeddedRedis(data_dir / "redis").url())
    removed = 0
    try:
        for pattern in ("{desk:*", "{agent:*", "queue-call:*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(keys), 500):
                removed += int(client.delete(*keys[i : i + 500]))
    finally:
        client.close()
    return removed


def import_agents(env: Mapping[str, str], ids: Sequence[str], path: Path) -> None:
    """`callgate import agents`: five stars, both desks (so Erlang C's single pool applies)."""
    path.write_text(
        "id,name,branch_code,desks,star\n" + "".join(f"{a},坐席{a[-3:]},HA-ZZ,vip;general,5\n" for a in ids),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "import", "agents", str(path)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"callgate import agents failed: {done.stderr[-400:]}")


def measure(
    options: AcdOptions, url: str, env: Mapping[str, str], data_dir: Path, run_dir: Path, subscribers: int
) -> tuple[AcdRun, dict[str, Any]]:
    """Run the calls against the callgate at ``url``; the logs and callgate's figures."""
    k = options.compress
    ids = agent_ids(options.agents)
    import_agents(env, ids, run_dir / "agents.csv")
    numbers = demo_callers(subscribers, 2000)
    callers = [(f"c{i:04d}", c.number) for i, c in enumerate(numbers)]
    plan = poisson_plan(
        options.calls_per_hour * k, options.duration_s, options.patience_s / k, callers, seed=options.seed
    )
    aht = options.aht_s / k
    # The last caller may wait, then talk: the drain is bounded by a few handling times (the
    # longest of a few thousand exponential talks is about 8 means), whatever the patience.
    drain = 30 * aht + 30
    rig = AcdRig(
        # The SIP logs hold caller numbers: outside the artifacts, in a directory of their own.
        Path(tempfile.mkdtemp(prefix="callgate-acd-")),
        url,
        DEMO_IVR_TOKEN,
        ids,
        aht,
        bound_s=options.duration_s + drain + 60,
        seed=options.seed,
    )
    print(
        f"ACD: {len(plan)} calls over {options.duration_s:.0f} s to {options.agents} agents "
        f"(compressed {k}×: AHT {aht:g} s, patience {options.patience_s / k:g} s, "
        f"threshold {options.threshold_s} s) …",
        flush=True,
    )
    with rig:
        rig.call(plan)
        finished = rig.wait(options.duration_s + drain)
        time.sleep(1.0)  # the driver reports the last outcomes
    run = rig.result()
    if not finished:
        print(f"ACD: the callers had to be stopped; logs in {run.workdir}", file=sys.stderr)
    figures = _get_json(f"{url}/v1/queue/stats", DEMO_IVR_TOKEN)
    return run, figures


def report_lines(
    options: AcdOptions, run: AcdRun, figures: Mapping[str, Any]
) -> tuple[list[DeskLine], list[Latency]]:
    """Per desk and in total: callgate's counts and service level, Erlang C, the simulation."""
    desk_of = {e["call_id"]: e["desk"] for e in run.journal if e["kind"] == "enqueue" and e.get("desk")}
    priority: dict[str, int] = {}
    for e in run.journal:
        if e["kind"] == "enqueue" and e.get("desk") and e.get("priority") is not None:
            priority.setdefault(e["desk"], int(e["priority"]))
    total_calls = max(1, len(desk_of))
    share = {d: sum(1 for v in desk_of.values() if v == d) / total_calls for d in DESKS}
    sims = simulated(options, share, priority)
    traffic = offered_traffic(options.calls_per_hour, 3600, options.aht_s)
    erlang = service_level(traffic, options.agents, options.aht_s, THRESHOLD_S)
    lines = []
    sums = dict.fromkeys(("offered", "answered", "abandoned", "short_abandoned", "answered_within"), 0)
    for desk in (*DESKS, "total"):
        if desk == "total":
            w = sums
            base = w["offered"] - w["short_abandoned"]
            measured = w["answered_within"] / base if base else None
        else:
            w = figures["desks"][desk]["window"]
            measured = w["service_level"]
            for key in sums:
                sums[key] += int(w[key])
        values = sorted(sims.get(desk, [])) or [math.nan]
        lines.append(
            DeskLine(
                desk,
                int(w["offered"]),
                int(w["answered"]),
                int(w["abandoned"]),
                int(w["short_abandoned"]),
                int(w["answered_within"]),
                measured,
                erlang,
                statistics.fmean(values),
                percentile(values, 10),
                percentile(values, 90),
            )
        )
    return lines, latencies(run.summary)


def _pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:5.1f} %"


def render(options: AcdOptions, lines: Sequence[DeskLine], lat: Sequence[Latency], run: AcdRun) -> str:
    """The printed summary."""
    k = options.compress
    out = [
        f"ACD scenario: {options.agents} agents, {options.calls_per_hour:g} calls/h, "
        f"AHT {options.aht_s:g} s, "
        f"patience exp(mean {options.patience_s:g} s), {options.duration_s:g} s of arrivals "
        f"compressed {k}× (= {options.duration_s * k / 60:.0f} hotline minutes)",
        f"service level = answered within {THRESHOLD_S} s ({options.threshold_s} s compressed) ÷ "
        f"(offered − abandoned within {options.short_abandon_s * k} s); "
        "callgate's figures (GET /v1/queue/stats)",
        "",
        f"{'desk':<8} {'offered':>7} {'answ.':>6} {'aband.':>6} {'within':>6}  {'callgate':>9} "
        f"{'Erlang C':>9} {'simulated (p10–p90)':>24}",
    ]
    for ln in lines:
        out.append(
            f"{ln.desk:<8} {ln.offered:>7} {ln.answered:>6} {ln.abandoned:>6} {ln.answered_within:>6}  "
            f"{_pct(ln.measured_sl):>9} {_pct(ln.erlang_c_sl):>9} {_pct(ln.simulated_sl):>9} "
            f"({_pct(ln.simulated_p10).strip()}–{_pct(ln.simulated_p90).strip()})"
        )
    if run.talks and run.calls:
        # This run's own sample: its calls per hour and its agents' mean talk, in hotline units.
        invites = sorted(v.invite for v in run.calls.values())
        rate = len(invites) / options.duration_s * 3600 / k
        talk = statistics.fmean(run.talks) * k
        realized = service_level(offered_traffic(rate, 3600, talk), options.agents, talk, THRESHOLD_S)
        out += [
            "",
            f"this run's sample: {rate:.0f} calls/h, mean talk {talk:.0f} s (sipp agents) → "
            f"Erlang C {_pct(realized).strip()} for exactly these figures",
        ]
    out += ["", "callgate as the agent driver saw it (ms, loopback HTTP, budget 300 ms):"]
    out.append(f"{'request':<8} {'count':>6} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    for la in lat:
        name = {"enqueue": "enqueue (lookup inside)"}.get(la.op, la.op)
        out.append(f"{name:<8} {la.count:>6} {la.p50:>7.2f} {la.p90:>7.2f} {la.p99:>7.2f} {la.max:>7.2f}")
    counts = run.summary.get("counts", {})
    via = run.via()
    fallback = sum(1 for v in via.values() if v == "fallback")
    out += [
        "",
        f"calls: {len(run.calls)} placed, {sum(1 for v in run.calls.values() if v.answered)} answered, "
        f"{sum(1 for v in run.calls.values() if v.abandoned)} abandoned, {run.unfinished} unfinished; "
        f"agents chosen by callgate {len(via) - fallback}, by the fallback {fallback}; "
        f"callgate requests failed {sum(v for c, v in counts.items() if c.startswith('callgate_failed'))}",
    ]
    return "\n".join(out)


def draw(options: AcdOptions, lines: Sequence[DeskLine], lat: Sequence[Latency], path: Path) -> Path:
    """acd.png: service level per desk (callgate, Erlang C, simulation with its p10–p90) and the
    driver's latencies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig: Figure
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    xs = list(range(len(lines)))
    ax.bar(
        [x - 0.27 for x in xs], [ln.measured_sl or 0 for ln in lines], width=0.27, label="callgate (measured)"
    )
    ax.bar([x for x in xs], [ln.erlang_c_sl for ln in lines], width=0.27, label="Erlang C")
    ax.bar(
        [x + 0.27 for x in xs],
        [ln.simulated_sl for ln in lines],
        width=0.27,
        yerr=[
            [max(0.0, ln.simulated_sl - ln.simulated_p10) for ln in lines],
            [max(0.0, ln.simulated_p90 - ln.simulated_sl) for ln in lines],
        ],
        label="simulated (p10–p90)",
    )
    ax.axhline(0.85, color="red", linestyle="--", linewidth=1, label="target 85 %")
    ax.set_xticks(xs, [f"{ln.desk} ({ln.offered} calls)" for ln in lines])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(f"answered within {THRESHOLD_S} s")
    ax.set_title(f"{options.agents} agents, {options.calls_per_hour:g} calls/h, AHT {options.aht_s:g} s")
    ax.legend(loc="lower right", fontsize="small")
    names = [la.op for la in lat]
    bx.bar([i - 0.2 for i in range(len(lat))], [la.p50 for la in lat], width=0.4, label="p50")
    bx.bar([i + 0.2 for i in range(len(lat))], [la.p99 for la in lat], width=0.4, label="p99")
    bx.set_xticks(list(range(len(lat))), names)
    bx.set_ylabel("ms")
    bx.set_title("callgate requests (driver side)")
    bx.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_artifacts(
    options: AcdOptions,
    lines: Sequence[DeskLine],
    lat: Sequence[Latency],
    text: str,
    run_dir: Path,
    passed: bool,
) -> None:
    """summary.txt, summary.json, acd.csv, latency.csv, acd.png and report.html."""
    (run_dir / "summary.txt").write_text(text + "\n", encoding="utf-8")
    with (run_dir / "acd.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(asdict(lines[0])))
        writer.writeheader()
        writer.writerows(asdict(ln) for ln in lines)
    with (run_dir / "latency.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["op", "count", "p50", "p90", "p99", "max"])
        writer.writeheader()
        writer.writerows(asdict(la) for la in lat)
    draw(options, lines, lat, run_dir / "acd.png")
    summary = {
        "scenario": "acd",
        "options": asdict(options),
        "desks": [asdict(ln) for ln in lines],
        "latency_ms": [asdict(la) for la in lat],
        "passed": passed,
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    html = (
        "<!doctype html><meta charset=utf-8><title>callgate ACD load test</title>"
        "<h1>callgate ACD load test</h1>"
        f"<p>{'PASSED' if passed else 'FAILED'}</p><pre>{_escape(text)}</pre>"
        '<img src="acd.png" alt="service level per desk and callgate latency">'
    )
    (run_dir / "report.html").write_text(html, encoding="utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def verdict(options: AcdOptions, lines: Sequence[DeskLine]) -> tuple[bool, str]:
    """Passed when callgate's total service level is at most the tolerance below Erlang C."""
    total = lines[-1]
    if total.measured_sl is None:
        return False, "FAIL no call was counted by callgate"
    gap = total.measured_sl - total.erlang_c_sl
    ok = gap >= -options.tolerance
    return ok, (
        f"{'ok  ' if ok else 'FAIL'} callgate's service level {_pct(total.measured_sl).strip()} vs Erlang C "
        f"{_pct(total.erlang_c_sl).strip()}: {100 * gap:+.1f} points (tolerance −{100 * options.tolerance:g})"
    )
