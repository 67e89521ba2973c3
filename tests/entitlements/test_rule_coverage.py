"""scripts/rule_coverage.py — every SPEC §1–§4 rule ID is cited by a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rule_coverage.py"


def load() -> ModuleType:
    """Import the script as a module."""
    spec = importlib.util.spec_from_file_location("rule_coverage", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rule_coverage"] = module
    spec.loader.exec_module(module)
    return module


SPEC = """
# x
## 1. Customer tiers
### T1 — something
- T1.1 Levels.
- T1.10 Cancellation.
## 2. Routing (Q)
- Q1 VIP desk.
## 3. Entitlements (E) — from the star service table
| a | b |
## 4. Emergency reactivation (R)
- R12 Terms.
## 5. Work orders (W)
- W1 Not in scope.
"""


def test_rule_ids_are_parsed_from_sections_1_to_4() -> None:
    # rule E: a section letter without numbered rules is an ID of its own.
    assert load().rule_ids(SPEC) == ["T1.1", "T1.10", "Q1", "E", "R12"]


def test_citations_distinguish_t1_1_from_t1_10(tmp_path: Path) -> None:
    # rule T1.10
    module = load()
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text(
        "# rule T1.10\n# rules Q1, R12 and E\n# rule T1.9 and rule T2.6\n", "utf-8"
    )
    setattr(module, "ROOT", tmp_path)  # noqa: B010 - a module attribute mypy cannot see
    cited = module.citations(tests)
    assert set(cited) == {"T1.10", "Q1", "R12", "E", "T1.9", "T2.6"}


def test_the_repository_cites_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    # rule T1.1 … rule R12: the CI gate passes on this repository.
    assert load().main([]) == 0
    assert "are cited by tests" in capsys.readouterr().out


def test_a_missing_citation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # rule R12
    spec = tmp_path / "SPEC.md"
    spec.write_text(SPEC.replace("- R12 Terms.", "- R12 Terms.\n- R13 Not cited."), "utf-8")
    monkeypatch.setenv("CALLGATE_SPEC", str(spec))
    module = load()
    assert module.spec_path() == spec
    assert module.main([]) == 1
