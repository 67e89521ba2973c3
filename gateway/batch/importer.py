"""Bulk CSV import (SPEC §6): validate every row first, then load with COPY in one
transaction. A bad row rejects the whole file with its row number and reason.

Row numbers are spreadsheet rows: the header is row 1, the first record row 2.
Re-importing a file is safe: branches, subscribers and bills are upserted by key,
payments are deduplicated by (number, time, amount), points grants by all their fields.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from entitlements.errors import InvalidAmount
from entitlements.money import parse_yuan_text
from gateway.batch import imports_agents, imports_points
from gateway.batch import imports_servicing as servicing
from gateway.batch.progress import Progress
from gateway.numbers import InvalidNumber, normalise
from gateway.stores.queries import imports, partitions
from gateway.stores.queries import points as points_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_ERRORS_SHOWN = 50
MAX_FIELD = 1000

KINDS = (
    "branches",
    "subscribers",
    "bills",
    "payments",
    "passwords",
    "managers",
    "points",
    *imports_agents.COLUMNS,
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "branches": ("code", "name", "level", "parent_code"),
    "subscribers": (
        "msisdn",
        "service_type",
        "network",
        "payment_mode",
        "plan_code",
        "brand",
        "status",
        "joined_on",
        "city_code",
        "county_code",
        "flags",
        "lucky_class",
        "contract_plan",
        "suspensions",
        "birthday",
    ),
    "bills": ("msisdn", "month", "billed_yuan", "paid_yuan"),
    "payments": ("msisdn", "paid_at", "amount_yuan"),
    "points": imports_points.COLUMNS,  # P1
    "passwords": servicing.PASSWORD_COLUMNS,  # H2
    "managers": servicing.MANAGER_COLUMNS,  # H7
    **imports_agents.COLUMNS,  # agents (A1), qa (A2)
}
FLAGS = frozenset(
    ("data_card", "test", "public_free", "employee", "wo_family", "group", "public_phone",
     "vip_guest", "loyal", "sms_card_2g", "high_data_2g", "employee_2g")
)  # fmt: skip
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


class ImportRejected(Exception):
    """The file was rejected; nothing was loaded."""

    def __init__(self, path: Path, errors: list[RowError], total_bad: int) -> None:
        self.path = path
        self.errors = errors
        self.total_bad = total_bad
        shown = "\n".join(f"  {e}" for e in errors[:MAX_ERRORS_SHOWN])
        more = total_bad - min(len(errors), MAX_ERRORS_SHOWN)
        tail = f"\n  … and {more} more bad rows" if more > 0 else ""
        super().__init__(
            f"{path}: rejected, nothing loaded ({total_bad} bad row"
            f"{'s' if total_bad != 1 else ''}):\n{shown}{tail}"
        )


@dataclass(slots=True)
class ImportResult:
    """What a successful import wrote."""

    kind: str
    rows: int
    inserted: int
    updated: int
    seconds: float
    affected_msisdns: list[str] = field(default_factory=list)


class _Bad(ValueError):
    pass


def _required(value: str, name: str) -> str:
    if value == "":
        raise _Bad(f"{name} is required")
    return value


def _enum(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _Bad(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _month(value: str) -> date:
    known = _MONTHS_SEEN.get(value)  # a file holds a few months in a million rows
    if known is not None:
        return known
    match = _MONTH.match(value)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise _Bad(f"month {value!r} is not a month (YYYY-MM)")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    if len(_MONTHS_SEEN) < 1000:
        _MONTHS_SEEN[value] = first
    return first


_MONTHS_SEEN: dict[str, date] = {}


def _money(value: str, name: str, *, positive: bool = False) -> int:
    try:
        return parse_yuan_text(_required(value, name), allow_zero=not positive)
    except InvalidAmount as exc:
        raise _Bad(f"{name}: {exc}") from None


def _int(value: str, name: str, lo: int, hi: int) -> int:
    if not value.isdigit():
        raise _Bad(f"{name} {value!r} is not a whole number")
    number = int(value)
    if not lo <= number <= hi:
        raise _Bad(f"{name} {number} is out of range {lo}–{hi}")
    return number


def _number(value: str) -> str:
    try:
        return normalise(_required(value, "msisdn"))
    except InvalidNumber as exc:
        raise _Bad(f"msisdn is not a valid Chinese phone number: {exc.reason}") from None


def _timestamp(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(_required(value, name))
    except ValueError:
        raise _Bad(f"{name} {value!r} is not a timestamp (ISO 8601)") from None
    if parsed.tzinfo is None:  # local time of the operator: Asia/Shanghai
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed


class _Validator:
    """Per-kind row validation; keeps the cross-row state (duplicates, branches)."""

    def __init__(self, kind: str, today: date, branches: dict[str, tuple[str, str | None]]) -> None:
        self.kind = kind
        self.today = today
        self.this_month = today.replace(day=1)
        self.branches = branches  # code -> (level, parent) from the database
        self.seen: dict[Any, int] = {}
        self.file_branches: dict[str, tuple[str, str | None, int]] = {}
        self.managers: set[int] = set()  # H7: ids a subscriber's manager_id may name
        self.extra: tuple[str, ...] = ()  # H7: the subscribers file's optional trailing columns

    def _unique(self, key: Any, row: int, what: str) -> None:
        first = self.seen.get(key)
        if first is not None:
            raise _Bad(f"duplicate {what} (first seen in row {first})")
        self.seen[key] = row

    def row(self, values: list[str], row: int) -> tuple[Any, ...]:
        """Validate one record and return it in table column order."""
        extra = imports_agents.VALIDATORS.get(self.kind)
        if extra is not None:
            try:
                return extra(values, row, self)
            except imports_agents.BadRow as exc:
                raise _Bad(str(exc)) from None
        try:
            return self._check(values, row)
        except servicing.BadRow as exc:
            raise _Bad(str(exc)) from None

    @property
    def _check(self) -> Callable[[list[str], int], tuple[Any, ...]]:
        return getattr(self, f"_{self.kind}")  # type: ignore[no-any-return]  # dispatch by kind

    def _passwords(self, v: list[str], row: int) -> tuple[Any, ...]:
        msisdn = _number(v[0])
        self._unique(msisdn, row, f"number {msisdn}")
        return (
            row,
            msisdn,
            servicing.password_hash(v[1]),
            servicing.boolean(_required(v[2], "is_initial"), "is_initial"),
        )

    def _managers(self, v: list[str], row: int) -> tuple[Any, ...]:
        found = servicing.manager_row(v, self.branches)
        self._unique(found[0], row, f"manager id {found[0]}")
        return found

    def _branches(self, v: list[str], row: int) -> tuple[Any, ...]:
        code, name, level, parent = v
        if not _CODE.match(code):
            raise _Bad(f"code {code!r} must be 1–32 letters, digits, '-' or '_'")
        self._unique(code, row, f"branch code {code}")
        _required(name, "name")
        _enum(level, "level", ("province", "city", "county"))
        if level == "province" and parent:
            raise _Bad("a province has no parent_code")
        if level != "province" and not parent:
            raise _Bad(f"a {level} needs a parent_code")
        self.file_branches[code] = (level, parent or None, row)
        return (code, name, level, parent or None)

    def check_branch_tree(self) -> list[RowError]:
        """Parents exist and sit one level up (province → city → county)."""
        errors = []
        want = {"city": "province", "county": "city"}
        for code, (level, parent, row) in self.file_branches.items():
            if parent is None:
                continue
            parent_level = (self.file_branches.get(parent) or self.branches.get(parent) or (None,))[0]
            if parent_level is None:
                errors.append(RowError(row, f"parent_code {parent!r} is not a known branch"))
            elif parent_level != want[level]:
                errors.append(
                    RowError(
                        row,
                        f"a {level}'s parent must be a {want[level]}, {parent} is a {parent_level}",
                    )
                )
            elif code in self.branches and self.branches[code][0] != level:
                errors.append(RowError(row, f"branch {code} exists as a {self.branches[code][0]}"))
        return errors

    def _subscribers(self, v: list[str], row: int) -> tuple[Any, ...]:
        (msisdn_raw, service, network, mode, plan, brand, status, joined, city, county,
         flags_raw, lucky, contract, suspensions, birthday) = v[:15]  # fmt: skip
        extra = [servicing.manager_id(v[15], self.managers)] if len(v) > 15 else []  # H7
        extra += [servicing.boolean(v[16], "dnd") if v[16] else False] if len(v) > 16 else []
        msisdn = _number(msisdn_raw)
        self._unique(msisdn, row, f"number {msisdn}")
        _enum(_required(service, "service_type"), "service_type", ("mobile", "fixed", "broadband"))
        kind = "mobile" if len(msisdn) == 11 and msisdn.startswith("1") else "fixed"
        if service == "mobile":
            _enum(_required(network, "network"), "network", ("2g", "3g", "4g", "5g"))
            if kind != "mobile":
                raise _Bad("service_type mobile needs a mobile number")
        elif network:
            raise _Bad(f"network is only for mobile lines, not {service}")
        if service == "fixed" and kind != "fixed":
            raise _Bad("service_type fixed needs a fixed-line number (area code + number)")
        _enum(_required(mode, "payment_mode"), "payment_mode", ("prepaid", "postpaid"))
        _enum(_required(status, "status"), "status", ("active", "suspended", "cancelled"))
        joined_on = _date(_required(joined, "joined_on"), "joined_on")
        if joined_on > self.today:
            raise _Bad(f"joined_on {joined_on} is in the future")
        city_info = self.branches.get(_required(city, "city_code"))
        if city_info is None or city_info[0] != "city":
            raise _Bad(f"city_code {city!r} is not a known city branch")
        if county:
            county_info = self.branches.get(county)
            if county_info is None or county_info[0] != "county":
                raise _Bad(f"county_code {county!r} is not a known county branch")
            if county_info[1] != city:
                raise _Bad(f"county {county} belongs to {county_info[1]}, not to city {city}")
        flags = [f for f in flags_raw.split(";") if f] if flags_raw else []
        unknown = sorted(set(flags) - FLAGS)
        if unknown:
            raise _Bad(f"unknown flag(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FLAGS))}")
        if len(set(flags)) != len(flags):
            raise _Bad("a flag is repeated")
        lucky_class = _int(lucky, "lucky_class", 1, 3) if lucky else None
        contract_plan = _int(contract, "contract_plan", 1, 100_000) if contract else None
        suspension_count = _int(suspensions, "suspensions", 0, 1000) if suspensions else 0
        birth = _date(birthday, "birthday") if birthday else None
        if birth is not None and not date(1900, 1, 1) <= birth <= self.today:
            raise _Bad(f"birthday {birth} is not a plausible date of birth")
        return (
            msisdn, service, network or None, mode, plan or None, brand or None, status, joined_on,
            city, county or None, sorted(flags), lucky_class, contract_plan, suspension_count, birth,
            *extra,
        )  # fmt: skip

    def _bills(self, v: list[str], row: int) -> tuple[Any, ...]:
        msisdn = _number(v[0])
        month = _month(_required(v[1], "month"))
        if month > self.this_month:
            raise _Bad(f"month {v[1]} is in the future")
        key = (msisdn, month)
        if key in self.seen:
            self._unique(key, row, f"bill for {msisdn} in {v[1]}")
        self.seen[key] = row
        return (row, msisdn, month, _money(v[2], "billed_yuan"), _money(v[3], "paid_yuan"))

    def _payments(self, v: list[str], row: int) -> tuple[Any, ...]:
        msisdn = _number(v[0])
        paid_at = _timestamp(v[1], "paid_at")
        amount = _money(v[2], "amount_yuan", positive=True)
        self._unique((msisdn, paid_at, amount), row, "payment (same number, time and amount)")
        return (row, msisdn, paid_at, amount)

    def _points(self, v: list[str], row: int) -> tuple[Any, ...]:
        try:
            return imports_points.row(v, row, self.today, self._unique)
        except imports_points.BadRow as exc:
            raise _Bad(str(exc)) from None


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    # utf-8-sig: spreadsheets often write a BOM; strict decoding rejects other encodings.
    with path.open("r", encoding="utf-8-sig", errors="strict", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        yield from enumerate(reader, start=1)


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def validate_file(
    kind: str,
    path: Path,
    today: date,
    branches: dict[str, tuple[str, str | None]],
    progress: Progress | None = None,
    managers: set[int] | None = None,
) -> tuple[list[tuple[Any, ...]], _Validator]:
    """Parse and validate the whole file; raise ImportRejected listing the bad rows."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown import kind {kind!r}; use one of {', '.join(KINDS)}")
    expected = COLUMNS[kind]
    validator = _Validator(kind, today, branches)
    validator.managers = managers or set()
    records: list[tuple[Any, ...]] = []
    errors: list[RowError] = []
    bad = 0
    row_no = 0
    # Bills (a million rows a month) skip row()'s try block: their checks raise _Bad only.
    check = validator._check if kind == "bills" else validator.row
    try:
        for row_no, values in _records(path):
            if progress is not None:
                progress.advance()
            if row_no == 1:
                header = [h.strip() for h in values]
                if kind == "subscribers" and header[15:] in (
                    ["manager_id"],
                    list(servicing.SUBSCRIBER_EXTRA),
                ):
                    validator.extra = tuple(header[15:])  # H7: optional trailing columns
                    expected = COLUMNS[kind] + validator.extra
                if header != list(expected):
                    raise ImportRejected(
                        path,
                        [
                            RowError(
                                1,
                                f"header must be exactly: {','.join(expected)} (got {','.join(header)})",
                            )
                        ],
                        1,
                    )
                continue
            if not values:
                bad += 1
                errors.append(RowError(row_no, "empty row"))
                continue
            if len(values) != len(expected):
                bad += 1
                errors.append(RowError(row_no, f"expected {len(expected)} columns, found {len(values)}"))
                continue
            values = [v.strip() for v in values]
            if max(map(len, values)) > MAX_FIELD:
                long_field = next(c for c, v in zip(expected, values, strict=True) if len(v) > MAX_FIELD)
                bad += 1
                errors.append(RowError(row_no, f"{long_field} is longer than {MAX_FIELD} characters"))
                continue
            try:
                records.append(check(values, row_no))
            except _Bad as exc:
                bad += 1
                if len(errors) < 10_000:
                    errors.append(RowError(row_no, str(exc)))
    except UnicodeDecodeError as exc:
        hint = detect_encoding_problem(path) or "not UTF-8 text"
        raise ImportRejected(
            path, [RowError(row_no + 1, f"{hint} ({exc.reason} at byte {exc.start})")], 1
        ) from None
    except csv.Error as exc:
        raise ImportRejected(path, [RowError(row_no + 1, f"malformed CSV: {exc}")], 1) from None
    if row_no == 0:
        raise ImportRejected(path, [RowError(1, f"empty file; the header is {','.join(expected)}")], 1)
    if row_no == 1:
        raise ImportRejected(path, [RowError(2, "no rows after the header: nothing to import")], 1)
    if kind == "branches":
        tree_errors = validator.check_branch_tree()
        bad += len(tree_errors)
        errors.extend(tree_errors)
    if bad:
        errors.sort(key=lambda e: e.row)
        raise ImportRejected(path, errors, bad)
    return records, validator


async def _load(
    conn: asyncpg.Connection,
    kind: str,
    records: list[tuple[Any, ...]],
    path: Path,
    extra: tuple[str, ...] = (),
) -> tuple[int, int, list[str]]:
    """COPY the validated records into a staging table, check references, merge."""
    if kind == "managers":
        inserted, updated = await servicing.load_managers(conn, records)
        return inserted, updated, []
    if kind in imports_agents.COLUMNS:
        inserted, updated, refused = await imports_agents.load(conn, kind, records, path)
        if refused:
            raise ImportRejected(path, [RowError(row, reason) for row, reason in refused], len(refused))
        return inserted, updated, []
    if kind == "branches":
        # Parents before children so the self-reference holds row by row.
        order = {"province": 0, "city": 1, "county": 2}
        records.sort(key=lambda r: order[r[2]])
        inserted, updated = await imports.merge_branches(conn, records, COLUMNS["branches"])
        return inserted, updated, []
    if kind == "subscribers":
        inserted, updated = await imports.merge_subscribers(conn, records, COLUMNS["subscribers"] + extra)
        return inserted, updated, [r[0] for r in records]
    if kind == "points":
        unknown = await points_rows.stage(conn, records)
    elif kind == "passwords":
        unknown, updated = await servicing.load_passwords(conn, records)
        if not unknown:
            return 0, updated, []  # nothing a cache record holds
    else:
        unknown = await imports.stage_facts(conn, kind, records)
    if unknown:
        from gateway.logs import mask

        errors = [RowError(row_no, f"unknown subscriber {mask(msisdn)}") for row_no, msisdn in unknown]
        raise ImportRejected(path, errors, len(errors))
    if kind == "bills":
        # X5: a month new to callgate becomes its partition whole (one foreign-key check for
        # the month); the others' partitions are made before their rows are merged.
        months = await partitions.staged_bill_months(conn)
        attached = await partitions.attach_staged_bills(conn, months)
        rest = [m for m in months if m not in attached]
        await partitions.ensure(conn, "bills", rest)
        inserted, updated = await imports.merge_bills(conn, rest)
        inserted += sum(attached.values())
    elif kind == "points":
        inserted, updated = await points_rows.merge(conn)
    else:
        inserted, updated = await imports.merge_payments(conn)
    msisdns = sorted({r[1] for r in records})
    return inserted, updated, msisdns


async def import_file(
    conn: asyncpg.Connection,
    kind: str,
    path: Path,
    today: date,
    *,
    show_progress: bool = True,
    after_load: Callable[[asyncpg.Connection, list[str]], Any] | None = None,
) -> ImportResult:
    """Validate `path` and load it; all or nothing."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    branches = await imports.branch_tree(conn)
    progress = Progress(f"validate {path.name}", _count_rows(path)) if show_progress else None
    managers = await servicing.known_managers(conn) if kind == "subscribers" else None
    records, validator = validate_file(kind, path, today, branches, progress, managers)
    if progress is not None:
        progress.finish()
    started = Progress(f"load {kind}", None) if show_progress else None
    async with conn.transaction():
        inserted, updated, msisdns = await _load(conn, kind, records, path, validator.extra)
        if after_load is not None:
            result = after_load(conn, msisdns)
            if hasattr(result, "__await__"):
                await result
    seconds = started.finish() if started is not None else 0.0
    return ImportResult(kind, len(records), inserted, updated, seconds, msisdns)


def detect_encoding_problem(path: Path) -> str | None:
    """A human hint when a file is not UTF-8 (e.g. GBK from a Chinese spreadsheet)."""
    raw = path.read_bytes()[:65536]
    try:
        codecs.decode(raw, "utf-8")
    except UnicodeDecodeError:
        try:
            codecs.decode(raw, "gb18030")
            return "the file looks like GBK/GB18030; save it as UTF-8"
        except UnicodeDecodeError:
            return "the file is not UTF-8 text"
    return None
