"""`callgate thresholds propose` (T1.7): thresholds from the value distribution, written as
a provincial override that the policy loader accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import asyncpg

from entitlements.months import Month
from entitlements.policy import load_policy
from gateway.batch import demo, evaluation


async def test_proposed_thresholds_load_as_an_override(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # rule T1.7: thresholds derived from the share of users per level, proposed by a command
    await demo.load(conn, 2000, seed=9, today=date(2026, 11, 26), show_progress=False)
    policy = load_policy("unicom-2015")
    await evaluation.run(
        conn,
        policy,
        Month.parse("2026-11"),
        date(2026, 11, 26),
        dsn=database_url,
        redis_url=None,
        workers=1,
        show_progress=False,
    )
    target = tmp_path / "henan-thresholds.toml"
    env = {
        **os.environ,
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "thresholds", "propose", "--month", "2026-11",
         "--shares", "five_star=0.05,four_star=0.10,three_star=0.20,two_star=0.30", "--write", str(target)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shares = [
        float(line.split("(")[1].split("%")[0])
        for line in result.stdout.splitlines()
        if "at or above" in line
    ]
    assert shares[0] == 5.0 and shares == sorted(shares)  # cumulative: 5 %, then ~15 %, ~35 %, ~65 %
    overridden = load_policy("unicom-2015", target)
    assert overridden.version.endswith("+thresholds-2026-12")
    bad = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "thresholds", "propose", "--month", "2026-11", "--shares", "five_star=2"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "give a share for exactly" in bad.stderr
