"""scripts/rule_coverage.py — every rule ID of SPEC §1–§5, §12 and §13 is cited by a test."""

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
- W1 Created with the grant.
## 12. Policy operations (O)
- O1 What-if.
## 13. Corrections from a second reading of the seed (they override §1–§5)
- C1 (T3.2, T3.3) Lucky numbers for 3G users only.
- C5 (T4) Upgrade rules.
"""


def test_rule_ids_are_parsed_from_the_gated_sections() -> None:
    # A section letter without numbered rules (E) is an ID of its own; §5, §12 and §13 are gated.
    module = load()
    assert module.SECTIONS == (1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)
    assert module.rule_ids(SPEC) == ["T1.1", "T1.10", "Q1", "E", "R12", "W1", "O1", "C1", "C5"]


def test_a_section_joins_the_gate_by_its_number() -> None:
    # Later sections (H, A, P, V, X) are added to SECTIONS by number, as §12 (O) was.
    module = load()
    assert module.rule_ids(SPEC, (12,)) == ["O1"]
    assert module.rule_ids(SPEC, (1, 2, 3, 4, 5, 13)) == ["T1.1", "T1.10", "Q1", "E", "R12", "W1", "C1", "C5"]


def test_corrections_name_the_rules_they_override() -> None:
    # The rules a correction overrides are parsed from its parentheses.
    assert load().corrected(SPEC) == {"C1": ["T3.2", "T3.3"], "C5": ["T4"]}


@pytest.mark.parametrize(
    ("cited", "flagged"),
    [
        pytest.param({"C1": {"a.py"}, "T3.2": {"a.py"}, "T3.3": {"a.py"}}, [], id="a test citing C1 with T3.2 and T3.3 passes"),
        pytest.param({"C1": {"a.py"}, "T3.2": {"a.py"}, "T3.3": {"b.py"}}, ["C1 (T3.2, T3.3)"], id="C1 and T3.3 in different files is flagged"),
        pytest.param({"C1": {"a.py"}}, ["C1 (T3.2, T3.3)"], id="C1 cited alone is flagged"),
        pytest.param({"C5": {"m.py"}, "T4.1": {"m.py"}}, [], id="a family T4 is cited through T4.1"),
        pytest.param({"C5": {"m.py"}, "T4.1": {"x.py"}}, ["C5 (T4)"], id="T4.1 elsewhere does not count for C5"),
        pytest.param({}, [], id="an uncited correction is left to the missing-ID check"),
    ],
)  # fmt: skip
def test_a_correction_is_cited_beside_what_it_corrects(
    cited: dict[str, set[str]], flagged: list[str]
) -> None:
    # A test citing a correction must cite what it corrects, in the same file.
    module = load()
    assert module.uncorrected(module.corrected(SPEC), cited) == flagged


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
    # The CI gate passes on this repository.
    assert load().main([]) == 0
    out = capsys.readouterr().out
    assert "are cited by tests" in out
    assert "§5" in out and "§13" in out


def test_a_missing_citation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # rule R12
    spec = tmp_path / "SPEC.md"
    spec.write_text(SPEC.replace("- R12 Terms.", "- R12 Terms.\n- R13 Not cited."), "utf-8")
    monkeypatch.setenv("CALLGATE_SPEC", str(spec))
    module = load()
    assert module.spec_path() == spec
    assert module.main([]) == 1


def test_a_gated_section_without_citations_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --section picks the sections; O99 of §12 is cited by no test here.
    spec = tmp_path / "SPEC.md"
    spec.write_text(SPEC.replace("- O1 What-if.", "- O99 Cited by nothing."), "utf-8")
    monkeypatch.setenv("CALLGATE_SPEC", str(spec))
    assert load().main(["--section", "12"]) == 1
    assert "O99" in capsys.readouterr().out
