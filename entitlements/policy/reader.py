"""The validating reader: a TOML table whose every key must be read, typed and checked.

``Node`` marks each key it hands out; ``done()`` then fails on any key never read (an
unknown key). Every failure is a ``PolicyError`` naming the file (base or override, see
``Source``) and the dotted key path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final, NoReturn

from entitlements.errors import InvalidAmount, PolicyError, PolicyErrors
from entitlements.money import yuan_to_fen
from entitlements.months import Month

#: SPEC rule IDs a policy may cite: §1–§5 (T, Q, E, R, W), §9 agents (A), §10 (P, V) and the
#: §13 corrections (C).
RULE_ID = re.compile(r"^(T[1-5](\.\d{1,2})?|Q[1-6]|E|R([1-9]|1[0-2])|W[1-6]|A[1-5]|C[1-9]|P[1-5]|V[12])$")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")
META_KEYS: Final[frozenset[str]] = frozenset({"assumption", "note", "source"})


class Source:
    """Where the keys of a (possibly merged) document came from, for error messages."""

    def __init__(self, base: str, override: str | None, override_doc: Mapping[str, object]):
        self.base = base
        self.override = override
        self.override_doc = override_doc

    def file_for(self, path: tuple[str | int, ...]) -> str:
        """The override file if it set (a prefix of) ``path``, else the base file."""
        if self.override is None:
            return self.base
        node: object = self.override_doc
        for part in path:
            if isinstance(part, int):
                # Arrays are replaced whole: if the override reached this array it owns it.
                return self.override
            if not isinstance(node, Mapping) or part not in node:
                return self.base
            node = node[part]
        return self.override


_MISSING: Final = object()


class Node:
    """A table being read: every key read is marked, the rest are unknown keys."""

    def __init__(self, data: Mapping[str, object], path: tuple[str | int, ...], src: Source) -> None:
        self.data = data
        self.path = path
        self.src = src
        self.used: set[str] = set(META_KEYS)

    # -- errors

    def where(self, key: str | int | None = None) -> str:
        """The dotted key path for messages (``star.tenure_score.bands[2]``)."""
        parts = self.path if key is None else (*self.path, key)
        text = ""
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text or "(top level)"

    def error(self, key: str | int | None, problem: str) -> PolicyError:
        """The ``PolicyError`` for ``key`` of this table (the file that set it, the key path)."""
        parts = self.path if key is None else (*self.path, key)
        return PolicyError(self.src.file_for(parts), self.where(key), problem)

    def fail(self, key: str | int | None, problem: str) -> NoReturn:
        """Raise a ``PolicyError`` for ``key`` of this table."""
        raise self.error(key, problem)

    def child(self, key: str | int, data: Mapping[str, object]) -> Node:
        """A node for the sub-table ``key``."""
        return Node(data, (*self.path, key), self.src)

    # -- access

    def has(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return key in self.data

    def raw(self, key: str, default: object = _MISSING) -> object:
        """The value of ``key`` (marked as read); missing and no default → error."""
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.fail(key, "missing key")
        return default

    def text(self, key: str, default: str | None = None, choices: Iterable[str] = ()) -> str:
        """A non-empty string, optionally one of ``choices``."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {value!r}")
        allowed = tuple(choices)
        if allowed and value not in allowed:
            self.fail(key, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, key: str, default: int | None = None, minimum: int | None = None) -> int:
        """An integer (not a bool), at least ``minimum``."""
        value = self.raw(key, _MISSING if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        """``true`` or ``false``."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")
        return value

    def day(self, key: str, optional: bool = False) -> date | None:
        """A TOML local date (``2015-01-20``)."""
        value = self.raw(key, None if optional else _MISSING)
        if value is None:
            return None
        if not isinstance(value, date) or hasattr(value, "hour"):
            self.fail(key, f"expected a date like 2015-01-20, got {value!r}")
        return value

    def month(self, key: str) -> Month:
        """A month as ``"YYYY-MM"``."""
        value = self.text(key)
        try:
            return Month.parse(value)
        except ValueError:
            self.fail(key, f'expected a month like "2015-01", got {value!r}')

    def fen(self, key: str, value: object = _MISSING) -> int:
        """An amount in yuan (integer, decimal number or string, ≤ 2 decimals) as fen."""
        if value is _MISSING:
            value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
            self.fail(key, f"expected an amount in yuan, got {value!r}")
        try:
            return yuan_to_fen(value)
        except InvalidAmount as exc:
            self.fail(key, exc.message)

    def milli(self, key: str, value: object = _MISSING) -> int:
        """A decimal number with at most 3 decimals, scaled by 1000 (exact)."""
        if value is _MISSING:
            value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
            self.fail(key, f"expected a number, got {value!r}")
        try:
            number = Decimal(value) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            self.fail(key, f"expected a number, got {value!r}")
        scaled = number * 1000
        if not scaled.is_finite() or scaled != scaled.to_integral_value():
            self.fail(key, f"at most 3 decimals allowed, got {value!r}")
        return int(scaled)

    def codes(
        self, key: str, choices: Iterable[str] | None = None, default: list[str] | None = None
    ) -> frozenset[str]:
        """A list of codes, each one of ``choices`` when given."""
        value = self.raw(key, _MISSING if default is None else default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"expected a list of strings, got {value!r}")
        allowed = None if choices is None else frozenset(choices)
        for item in value:
            if allowed is not None and item not in allowed:
                self.fail(key, f"{item!r} is not one of {', '.join(sorted(allowed))}")
        if len(set(value)) != len(value):
            self.fail(key, "duplicate entries")
        return frozenset(value)

    def table(self, key: str) -> Node:
        """The sub-table ``key`` (required)."""
        value = self.raw(key)
        if not isinstance(value, Mapping):
            self.fail(key, f"expected a table, got {type(value).__name__}")
        return self.child(key, value)

    def optional_table(self, key: str) -> Node | None:
        """The sub-table ``key`` or ``None``."""
        if not self.has(key):
            self.used.add(key)
            return None
        return self.table(key)

    def tables(self, key: str) -> list[Node]:
        """An array of tables (``[[key]]`` or ``key = [{…}, …]``), non-empty."""
        value = self.raw(key)
        if not isinstance(value, list) or not value:
            self.fail(key, "expected a non-empty array of tables")
        nodes = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                self.fail(key, f"item {index} is not a table")
            nodes.append(Node(item, (*self.path, key, index), self.src))
        return nodes

    def rule(self, expected_prefix: str | None = None) -> str:
        """The table's ``rule`` (a SPEC rule ID), required; checks its family if given."""
        value = self.text("rule")
        if not RULE_ID.match(value):
            self.fail("rule", f"{value!r} is not a SPEC rule ID (like T1.5, Q2, E, R4, C1)")
        if expected_prefix is not None and not value.startswith(expected_prefix):
            self.fail("rule", f"expected a {expected_prefix}… rule ID here, got {value!r}")
        return value

    def remaining(self) -> list[str]:
        """Keys not read yet (for level-keyed tables)."""
        return [key for key in self.data if key not in self.used]

    def done(self) -> None:
        """Fail on any key that was never read (an unknown key)."""
        for key, value in self.data.items():
            if key == "assumption" and not isinstance(value, (bool, str)):
                self.fail(key, "expected true/false or a sentence saying what is assumed")
            if key in ("note", "source") and not isinstance(value, str):
                self.fail(key, "expected a string")
        unknown = self.remaining()
        if len(unknown) > 1:  # every one of them (O1/O2 list each fault)
            raise PolicyErrors([self.error(key, "unknown key") for key in unknown])
        if unknown:
            self.fail(unknown[0], "unknown key")
