"""`immutable` records: read-only to the type checker, hashable and comparable by value."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from mypy import api

from entitlements.model import Tier

SNIPPET = """
from datetime import date
from entitlements.model import Assignment, Tier
tier = Tier("star", "three_star", date(2027, 1, 1))
tier.level = "five_star"
card = Assignment("vip_card", "gold", "unicom-vip", date(2026, 1, 1), None)
card.valid_until = date(2027, 1, 8)
"""


def test_assigning_a_field_is_a_type_error(tmp_path: Path) -> None:
    source = tmp_path / "mutate.py"
    source.write_text(SNIPPET)
    out, _, status = api.run(["--strict", "--no-incremental", str(source)])
    assert status == 1
    assert 'Property "level" defined in "Tier" is read-only' in out
    assert 'Property "valid_until" defined in "Assignment" is read-only' in out


def test_equal_records_hash_alike() -> None:
    a = Tier("star", "three_star", date(2027, 1, 1))
    b = Tier("star", "three_star", date(2027, 1, 1))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Tier("star", "four_star", date(2027, 1, 1))
