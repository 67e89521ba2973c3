"""Q6 — `callgate staffing`, run as a user would run it."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from entitlements.simulation import Exponential
from gateway.cli.staffing import SimulationOptions, Target, parse_target, plan


def staffing(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The command needs no store; the data dir only keeps the log key out of the work tree.
    env = {**os.environ, "CALLGATE_DATA_DIR": str(tmp_path)}
    env.pop("CALLGATE_DATABASE_URL", None)
    env.pop("CALLGATE_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "staffing", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def row(output: str, agents: int) -> list[str]:
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] == str(agents):
            return cells
    raise AssertionError(f"no row for {agents} agents in:\n{output}")


def test_spec_vector_needs_14_agents(tmp_path: Path) -> None:
    # rule Q6: 100 calls per 30 min (200/hour), AHT 180 s → 14 agents for 85 % in 20 s;
    # 14 → SL 0.888, ASA 7.84 s; 13 → 0.796.
    result = staffing(["--calls-per-hour", "200", "--aht", "180", "--target", "0.85/20"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "10.00 Erlangs" in out
    assert "agents needed: 14" in out
    assert row(out, 14)[1:5] == ["0.888", "7.84 s", "71.4%", "met"]
    assert row(out, 13)[1] == "0.796" and row(out, 13)[4].startswith("missed by 5.4")
    assert "simulated" not in out


def test_simulate_adds_the_simulated_service_level(tmp_path: Path) -> None:
    # rule Q5 and rule Q6: the simulated hours of both staffings, Erlang C's assumptions
    result = staffing(
        ["--calls-per-hour", "200", "--aht", "180", "--simulate", "--hours", "40", "--seed", "3"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    with_needed, one_fewer = row(out, 14), row(out, 13)
    assert len(with_needed) == 11, out
    assert with_needed[10] == "met" and one_fewer[10].startswith("missed by")
    sim_needed, sim_fewer = float(with_needed[5]), float(one_fewer[5])
    assert abs(sim_needed - 0.888) < 0.03 and abs(sim_fewer - 0.796) < 0.03
    assert sim_fewer < 0.85 <= sim_needed
    assert with_needed[7].endswith("/40") and with_needed[9] == "0.0%"  # nobody hangs up by default
    assert "abandons included" in out
    again = staffing(
        ["--calls-per-hour", "200", "--aht", "180", "--simulate", "--hours", "40", "--seed", "3"], tmp_path
    )
    assert again.stdout == out  # same seed, same figures


def test_simulate_with_impatient_callers_reports_abandons(tmp_path: Path) -> None:
    # rule Q5: abandoned calls stay in the denominator unless short ones are excluded
    args = ["--calls-per-hour", "200", "--aht", "180", "--simulate", "--hours", "10", "--patience", "exp:60"]
    result = staffing(args, tmp_path)
    assert result.returncode == 0, result.stderr
    assert float(row(result.stdout, 13)[9].rstrip("%")) > 0
    assert "patience exp:60" in result.stdout
    shorter = staffing([*args, "--short-abandon", "5"], tmp_path)
    assert "except abandons under 5 s" in shorter.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--target", "85/20"], "between 0 and 1", id="a share above 1 is refused"),
        pytest.param(["--target", "fast"], "SHARE/SECONDS", id="a target that is not SHARE/SECONDS"),
        pytest.param(["--aht", "0"], "must be a number > 0", id="a zero handling time"),
        pytest.param(["--patience", "exp"], "needs a mean", id="a patience without a mean"),
        pytest.param(["--simulate", "--handling", "exp:200"], "differs from --aht", id="handling mean ≠ AHT"),
    ],
)
def test_bad_arguments_are_refused(args: list[str], message: str, tmp_path: Path) -> None:
    base = ["--calls-per-hour", "200", "--aht", "180"]
    result = staffing([*base, *args], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_help_describes_the_command(tmp_path: Path) -> None:
    result = staffing(["--help"], tmp_path)
    assert result.returncode == 0
    for flag in ("--calls-per-hour", "--aht", "--target", "--simulate", "--patience", "--handling"):
        assert flag in result.stdout


@pytest.mark.parametrize(
    ("text", "target"),
    [
        pytest.param("0.85/20", Target(0.85, 20), id="share and seconds"),
        pytest.param("85%/20s", Target(0.85, 20), id="percent and seconds with a unit"),
        pytest.param("0.8/15", Target(0.8, 15), id="another target"),
    ],
)
def test_parse_target(text: str, target: Target) -> None:
    # rule Q5
    assert parse_target(text) == target


def test_parse_target_rejects_nonsense() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_target("1.5/20")


def test_a_tiny_desk_has_no_row_for_zero_agents() -> None:
    # rule Q6: 5 calls an hour of 3 minutes, half in 20 s, need one agent; there is no "one fewer"
    p = plan(5, 180, Target(0.5, 20), SimulationOptions(hours=2, handling=Exponential(180)))
    assert p.needed == 1
    assert [r.agents for r in p.rows] == [1]
    assert p.rows[0].simulated is not None
