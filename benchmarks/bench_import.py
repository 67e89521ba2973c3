"""Benchmark of `callgate import bills` (issue 22.5: 1,000,000 bill rows ≤ 20 s, validation
kept: one bad row rejects the file with its row and reason).

    .venv/bin/python benchmarks/bench_import.py [--data-dir var/bench-eval] [--subscribers 1000000]

Uses the province of `bench_evaluation.py` (written there on first use, about 3 min for a
million). Writes the next month's bills as a CSV — one row per subscriber billed in the
latest month, the amounts varied per number — and times the real command on it: reading
and validating every row, staging with COPY, the unknown-number check, the month's
partition (X5) and the upsert. The month stays imported: it is the month the next
`bench_evaluation.py` run evaluates against. Prints the seconds and the machine probe.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLGATE = str(ROOT / ".venv" / "bin" / "callgate")

# The month after the latest billed one, from that month's bills: billed varies ±10 % by
# number and month, nearly everyone pays in full, one in 25 pays nothing (arrears).
_NEXT_BILLS = """
COPY (
    SELECT b.msisdn,
           to_char(b.month + interval '1 month', 'YYYY-MM') AS month,
           to_char(v.billed / 100.0, 'FM9999999990.00') AS billed_yuan,
           to_char(CASE WHEN abs(hashtext(b.msisdn || b.month::text)) % 25 = 0 THEN 0
                        ELSE v.billed END / 100.0, 'FM9999999990.00') AS paid_yuan
    FROM bills b,
         LATERAL (SELECT (b.billed_fen * (90 + abs(hashtext(b.msisdn || 'x' || b.month::text)) % 21)
                          / 100)::bigint AS billed) v
    WHERE b.month = (SELECT max(month) FROM bills)
    ORDER BY b.msisdn
) TO STDOUT WITH (FORMAT csv, HEADER)
"""


def latest_bill_month(dsn: str) -> str:
    """YYYY-MM of the latest month with bills ('' when none)."""
    out = subprocess.run(
        ["psql", dsn, "-tAc", "SELECT coalesce(to_char(max(month), 'YYYY-MM'), '') FROM bills"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def write_next_bills(dsn: str, path: Path) -> tuple[str, int]:
    """Write the next month's bills CSV; (its month YYYY-MM, rows)."""
    with path.open("w") as handle:
        subprocess.run(["psql", dsn, "-qAc", _NEXT_BILLS], stdout=handle, check=True)
    with path.open() as handle:
        handle.readline()
        month = handle.readline().split(",")[1]
        rows = 1 + sum(1 for _ in handle)
    return month, rows


def import_bills(path: Path, env: dict[str, str], month: str) -> float:
    """Wall-clock seconds of `callgate import bills FILE` with the clock in the month after."""
    year, mon = int(month[:4]), int(month[5:])
    year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    started = time.monotonic()
    subprocess.run(
        [CALLGATE, "import", "bills", str(path)],
        env={**env, "CALLGATE_NOW": f"{year:04d}-{mon:02d}-02T10:00:00+08:00"},
        check=True,
    )
    return time.monotonic() - started


def main() -> None:
    """Import the next month of bills into the benchmark province and print the time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench-eval")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_evaluation import machine_probe, prepare  # the same province and probe

    from gateway.stores.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(args.data_dir / "postgres")
    env = {**os.environ, "CALLGATE_DATA_DIR": str(args.data_dir)}
    env.pop("CALLGATE_DATABASE_URL", None)
    env.pop("CALLGATE_REDIS_URL", None)
    dsn = pg.start()
    try:
        prepare(dsn, env, args.subscribers)
        csv_path = args.data_dir / "bills-next.csv"
        month, rows = write_next_bills(dsn, csv_path)
        probe_before = machine_probe()
        seconds = import_bills(csv_path, env, month)
        probe_after = machine_probe()
    finally:
        pg.stop()
    probe = (probe_before + probe_after) / 2
    print(f"\nimport bills {month}: {rows:,} rows in {seconds:.1f} s end to end (goal ≤ 20 s)")
    print(
        f"machine probe (baseline, same run): {probe_before:.2f} s before, {probe_after:.2f} s after; "
        f"import = {seconds / probe:.1f} × probe"
    )


if __name__ == "__main__":
    main()
