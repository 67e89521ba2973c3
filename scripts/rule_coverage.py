#!/usr/bin/env python3
"""List the SPEC §1–§4 rule IDs no test cites; exit 1 if there is one.

Rule IDs are read from the SPEC: the bullet IDs of sections 1–4 (``- T1.4 …``,
``- Q6 …``, ``- R12 …``) and a section's own letter when it has no numbered rules
(``## 3. Entitlements (E)``). A test cites a rule with a comment such as
``# rule T1.4`` (several: ``# rule T1.9 and rule T2.6`` or ``# rules T1.3, T1.4``).

The SPEC is ``$CALLGATE_SPEC`` if set, else ``../shared/SPEC.md`` next to the repository
if it exists, else the committed copy ``docs/SPEC.md``.

Usage: ``scripts/rule_coverage.py [--verbose]``
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = re.compile(r"^## (\d+)\.\s*(.*)$")
BULLET_ID = re.compile(r"^- ([A-Z]\d+(?:\.\d+)?)\b")
SECTION_LETTER = re.compile(r"\(([A-Z])\)")
ID = r"[A-Z]\d+(?:\.\d+)?(?![\d.]*\d)|E\b"
CITE = re.compile(rf"\brules?\s+((?:{ID})(?:\s*(?:,|and|&|/)\s*(?:rule\s+)?(?:{ID}))*)")
ONE_ID = re.compile(ID)


def spec_path() -> Path:
    """Where the SPEC is read from (see the module docstring)."""
    env = os.environ.get("CALLGATE_SPEC")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "SPEC.md"
    if shared.exists():
        return shared
    return ROOT / "docs" / "SPEC.md"


def rule_ids(spec_text: str, sections: range = range(1, 5)) -> list[str]:
    """The rule IDs of the given SPEC sections, in document order."""
    ids: list[str] = []
    current: int | None = None
    letters: list[tuple[int, str]] = []
    for line in spec_text.splitlines():
        heading = SECTION.match(line)
        if heading:
            current = int(heading.group(1))
            letter = SECTION_LETTER.search(heading.group(2))
            if current in sections and letter:
                letters.append((len(ids), letter.group(1)))
            continue
        if current not in sections:
            continue
        bullet = BULLET_ID.match(line)
        if bullet and bullet.group(1) not in ids:
            ids.append(bullet.group(1))
    # A section letter counts as an ID when no bullet ID starts with it (E).
    for position, code in reversed(letters):
        if not any(i.startswith(code) for i in ids):
            ids.insert(position, code)
    return ids


def citations(tests_dir: Path) -> dict[str, set[str]]:
    """Rule ID → the test files citing it."""
    cited: dict[str, set[str]] = defaultdict(set)
    for path in sorted(tests_dir.rglob("*.py")):
        text = path.read_text("utf-8")
        for match in CITE.finditer(text):
            for rule in ONE_ID.findall(match.group(1)):
                cited[rule].add(str(path.relative_to(ROOT)))
    return cited


def main(argv: list[str] | None = None) -> int:
    """Print uncited rule IDs; 0 when every rule is cited."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--verbose", "-v", action="store_true", help="list every rule")
    args = parser.parse_args(argv)
    spec = spec_path()
    try:
        ids = rule_ids(spec.read_text("utf-8"))
    except OSError as exc:
        print(f"rule_coverage: cannot read the SPEC at {spec}: {exc}", file=sys.stderr)
        return 2
    if not ids:
        print(f"rule_coverage: no rule IDs found in {spec}", file=sys.stderr)
        return 2
    cited = citations(ROOT / "tests")
    missing = [rule for rule in ids if rule not in cited]
    if args.verbose:
        for rule in ids:
            files = ", ".join(sorted(cited.get(rule, ()))) or "-"
            print(f"{rule:6} {files}")
    if missing:
        print(f"{len(missing)} of {len(ids)} rule IDs in {spec} are cited by no test:")
        for rule in missing:
            print(f"  {rule}")
        return 1
    print(f"all {len(ids)} rule IDs of SPEC §1–§4 are cited by tests ({spec})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
