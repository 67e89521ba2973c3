#!/usr/bin/env python3
"""List the SPEC rule IDs no test cites; exit 1 if there is one.

Rule IDs are read from the SPEC sections listed in ``SECTIONS`` (§1–§5, §8–§12 and the §13
corrections; add a section's number there when its rules join the gate): the bullet IDs
(``- T1.4 …``, ``- Q6 …``, ``- C1 (T3.2, T3.3) …``) and a section's own letter when it
has no numbered rules (``## 3. Entitlements (E)``). A test cites a rule with a comment
such as ``# rule T1.4`` (several: ``# rule T1.9 and rule T2.6`` or ``# rules T1.3, T1.4``).

A correction names the rules it overrides in parentheses (``- C4 (T2.6) …``); a test file
citing the correction must cite those rules too (for a family such as ``T4``, one of its
rules), so the test says what it corrects.

The SPEC is ``$CALLGATE_SPEC`` if set, else ``../shared/SPEC.md`` next to the repository
if it exists, else the committed copy ``docs/SPEC.md``.

Usage: ``scripts/rule_coverage.py [--verbose] [--section N ...]``
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The SPEC sections whose every rule ID a test must cite: §1 tiers (T), §2 routing (Q),
#: §3 entitlements (E), §4 reactivation (R), §5 work orders (W), §8 hotline servicing (H),
#: §9 agents (A), §10 points and VIP services (P, V), §12 policy operations (O), §13 corrections (C).
#: §11 scale-out (X).
SECTIONS: tuple[int, ...] = (1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)

SECTION = re.compile(r"^## (\d+)\.\s*(.*)$")
BULLET_ID = re.compile(r"^- ([A-Z]\d+(?:\.\d+)?)\b")
CORRECTS = re.compile(r"^- ([A-Z]\d+(?:\.\d+)?) \(([^)]*)\)")
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


def _section_lines(spec_text: str, sections: Collection[int]) -> list[tuple[int, str]]:
    """(section, line) for the lines of the given sections; headings are included."""
    out: list[tuple[int, str]] = []
    current: int | None = None
    for line in spec_text.splitlines():
        heading = SECTION.match(line)
        if heading:
            current = int(heading.group(1))
        if current is not None and current in sections:
            out.append((current, line))
    return out


def rule_ids(spec_text: str, sections: Collection[int] = SECTIONS) -> list[str]:
    """The rule IDs of the given SPEC sections, in document order."""
    ids: list[str] = []
    letters: list[tuple[int, str]] = []
    for _section, line in _section_lines(spec_text, sections):
        heading = SECTION.match(line)
        if heading:
            letter = SECTION_LETTER.search(heading.group(2))
            if letter:
                letters.append((len(ids), letter.group(1)))
            continue
        bullet = BULLET_ID.match(line)
        if bullet and bullet.group(1) not in ids:
            ids.append(bullet.group(1))
    # A section letter counts as an ID when no bullet ID starts with it (E).
    for position, code in reversed(letters):
        if not any(i.startswith(code) for i in ids):
            ids.insert(position, code)
    return ids


def corrected(spec_text: str, sections: Collection[int] = SECTIONS) -> dict[str, list[str]]:
    """Correction ID → the rule IDs it names in parentheses (``- C1 (T3.2, T3.3) …``)."""
    out: dict[str, list[str]] = {}
    for _section, line in _section_lines(spec_text, sections):
        match = CORRECTS.match(line)
        if match:
            named = ONE_ID.findall(match.group(2))
            if named:
                out[match.group(1)] = named
    return out


def citations(tests_dir: Path) -> dict[str, set[str]]:
    """Rule ID → the test files citing it."""
    cited: dict[str, set[str]] = defaultdict(set)
    for path in sorted(tests_dir.rglob("*.py")):
        text = path.read_text("utf-8")
        for match in CITE.finditer(text):
            for rule in ONE_ID.findall(match.group(1)):
                cited[rule].add(str(path.relative_to(ROOT)))
    return cited


def _cites(cited: dict[str, set[str]], path: str, rule: str) -> bool:
    """Whether ``path`` cites ``rule``, or for a family (``T4``) one of its rules (``T4.1``)."""
    return path in cited.get(rule, ()) or any(
        path in files for other, files in cited.items() if other.startswith(f"{rule}.")
    )


def uncorrected(corrections: dict[str, list[str]], cited: dict[str, set[str]]) -> list[str]:
    """Corrections cited by tests none of which also cites every rule the correction names."""
    out = []
    for correction, originals in corrections.items():
        files = cited.get(correction, set())
        if files and not any(all(_cites(cited, f, o) for o in originals) for f in files):
            out.append(f"{correction} ({', '.join(originals)})")
    return out


def _label(sections: Collection[int]) -> str:
    return ", ".join(f"§{s}" for s in sorted(sections))


def main(argv: list[str] | None = None) -> int:
    """Print uncited rule IDs; 0 when every rule is cited."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--verbose", "-v", action="store_true", help="list every rule")
    parser.add_argument(
        "--section",
        type=int,
        action="append",
        metavar="N",
        help=f"check SPEC section N instead of the default ones ({_label(SECTIONS)}); repeatable",
    )
    args = parser.parse_args(argv)
    sections: tuple[int, ...] = tuple(args.section) if args.section else SECTIONS
    spec = spec_path()
    try:
        text = spec.read_text("utf-8")
    except OSError as exc:
        print(f"rule_coverage: cannot read the SPEC at {spec}: {exc}", file=sys.stderr)
        return 2
    ids = rule_ids(text, sections)
    if not ids:
        print(f"rule_coverage: no rule IDs found in {_label(sections)} of {spec}", file=sys.stderr)
        return 2
    cited = citations(ROOT / "tests")
    missing = [rule for rule in ids if rule not in cited]
    alone = uncorrected(corrected(text, sections), cited)
    if args.verbose:
        for rule in ids:
            files = ", ".join(sorted(cited.get(rule, ()))) or "-"
            print(f"{rule:6} {files}")
    if missing:
        print(f"{len(missing)} of {len(ids)} rule IDs in {_label(sections)} of {spec} are cited by no test:")
        for rule in missing:
            print(f"  {rule}")
    if alone:
        print("corrections cited by no test file that also cites the rules they correct:")
        for rule in alone:
            print(f"  {rule}")
    if missing or alone:
        return 1
    print(f"all {len(ids)} rule IDs of SPEC {_label(sections)} are cited by tests ({spec})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
