"""A realistic, deterministic synthetic province for demos, tests and benchmarks.

Subscribers are generated in Python (seeded) and loaded with COPY; their monthly
bills are generated set-based in PostgreSQL from a per-subscriber profile, so a
million subscribers with 14 months of bills load in a few minutes.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from entitlements.policy import Policy, load_policy
from gateway.batch.progress import Progress
from gateway.numbers import InvalidNumber, normalise
from gateway.services.identity import hash_password
from gateway.stores.queries import agents as agent_rows
from gateway.stores.queries import demo as demo_rows
from gateway.stores.queries import partitions, tokens
from gateway.stores.queries import points as points_rows

DEMO_PASSWORD = "246810"  # the service password of every demo subscriber (README)
#: H2–H4: two demo callers with passwords of their own, printed in the `serve` banner while
#: in force: (password, initial, suspended card holder?, marker in password_changed_at).
DEMO_CALLERS: tuple[tuple[str, bool, bool, datetime], ...] = (
    ("135790", False, True, datetime(2015, 1, 1, 8, tzinfo=UTC)),
    ("802468", True, False, datetime(2015, 1, 1, 8, 0, 1, tzinfo=UTC)),
)
BILL_MONTHS = 14

PROVINCE = ("HA", "河南省分公司")
# city code, name, fixed-line area code, counties
CITIES: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("HA-ZZ", "郑州市分公司", "0371",
     [("HA-ZZ-ZM", "中牟县分公司"), ("HA-ZZ-GY", "巩义市分公司"), ("HA-ZZ-DF", "登封市分公司")]),
    ("HA-LY", "洛阳市分公司", "0379",
     [("HA-LY-YS", "偃师区分公司"), ("HA-LY-MJ", "孟津区分公司"), ("HA-LY-LC", "栾川县分公司")]),
    ("HA-KF", "开封市分公司", "0378", [("HA-KF-QX", "杞县分公司"), ("HA-KF-TX", "通许县分公司")]),
    ("HA-XX", "新乡市分公司", "0373", [("HA-XX-HJ", "获嘉县分公司"), ("HA-XX-YY", "原阳县分公司")]),
    ("HA-NY", "南阳市分公司", "0377",
     [("HA-NY-XX", "西峡县分公司"), ("HA-NY-NZ", "南召县分公司"), ("HA-NY-FC", "方城县分公司")]),
]  # fmt: skip
CITY_WEIGHTS = [0.34, 0.20, 0.12, 0.14, 0.20]
UNICOM_PREFIXES = ["130", "131", "132", "155", "156", "166", "175", "176", "185", "186"]
CONTRACT_PLANS = [156, 186, 226, 286, 386, 586, 886]
MANAGER_NAMES = ["王丽", "李强", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄婷", "周杰", "吴芳"]

# Demo bearer tokens, printed by `callgate serve` in demo mode; production refuses them.
DEMO_TOKENS: list[tuple[str, str, str | None]] = [
    ("cg_demo_ivr_0000000000000000000000000000", "ivr", None),
    ("cg_demo_agent_00000000000000000000000000", "agent", None),
    ("cg_demo_admin_00000000000000000000000000", "admin", None),
    ("cg_demo_branch_zz_0000000000000000000000", "branch", "HA-ZZ"),
    ("cg_demo_branch_zzzm_00000000000000000000", "branch", "HA-ZZ-ZM"),
    ("cg_demo_sms_0000000000000000000000000000", "sms", None),  # P4: the SMS centre
]
#: Demo agents (A1: id, name, branch, desks, star) and a demo token bound to the first (A1).
DEMO_AGENTS: list[tuple[str, str, str, list[str], int]] = [
    ("A1001", "王丽", "HA-ZZ", ["vip", "general"], 5), ("A1002", "李强", "HA-ZZ", ["vip", "general"], 4),
    ("A1003", "张敏", "HA-ZZ", ["vip"], 4), ("A1004", "刘洋", "HA-LY", ["vip", "general"], 3),
    ("A1005", "陈静", "HA-LY", ["general"], 3), ("A1006", "杨帆", "HA-KF", ["general"], 2),
    ("A1007", "赵磊", "HA-XX", ["general"], 2), ("A1008", "黄婷", "HA-NY", ["general"], 1),
]  # fmt: skip
DEMO_AGENT_TOKENS: list[tuple[str, str]] = [("cg_demo_agent_a1001_000000000000000000000", "A1001")]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What demo-data wrote and how long it took."""

    subscribers: int
    bills: int
    legacy_cards: int
    seconds: float
    points_grants: int = 0  # P1
    benefit_uses: int = 0  # V1


def _pick(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    x = rng.random()
    acc = 0.0
    for value, weight in table:
        acc += weight
        if x < acc:
            return value
    return table[-1][0]


def _month_start(day: date, back: int) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _numbers(rng: random.Random, n_mobile: int, n_fixed: int) -> tuple[list[str], list[str]]:
    per_prefix = n_mobile // len(UNICOM_PREFIXES) + 1
    mobiles: list[str] = []
    for prefix in UNICOM_PREFIXES:
        mobiles.extend(f"{prefix}{s:08d}" for s in rng.sample(range(10**8), per_prefix))
    rng.shuffle(mobiles)
    mobiles = mobiles[:n_mobile]
    fixed: list[str] = []
    seen: set[str] = set()
    while len(fixed) < n_fixed:
        _, _, area, _ = rng.choices(CITIES, CITY_WEIGHTS)[0]
        number = f"{area}{rng.randint(2, 8)}{rng.randrange(10**7):07d}"
        if number in seen:
            continue
        try:
            normalised = normalise(number)
        except InvalidNumber:
            continue
        seen.add(normalised)
        fixed.append(normalised)
    return mobiles, fixed


def generate(
    n: int, seed: int, today: date, password_hash: str = ""
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Subscriber rows (table order) and bill profiles (msisdn, base_fen, first_month, arrears)."""
    rng = random.Random(seed)
    n_fixed = int(n * 0.07)
    n_broadband = int(n * 0.05)
    n_mobile = n - n_fixed - n_broadband
    mobiles, fixed_numbers = _numbers(rng, n_mobile, n_fixed + n_broadband)
    subscribers: list[tuple[Any, ...]] = []
    profiles: list[tuple[Any, ...]] = []
    first_bill = _month_start(today, BILL_MONTHS)
    for i in range(n):
        if i < n_mobile:
            msisdn, service = mobiles[i], "mobile"
            network = _pick(rng, [("2g", 0.05), ("3g", 0.10), ("4g", 0.55), ("5g", 0.30)])
            mode = "prepaid" if rng.random() < 0.35 else "postpaid"
        else:
            msisdn = fixed_numbers[i - n_mobile]
            service = "fixed" if i < n_mobile + n_fixed else "broadband"
            network = None
            mode = "prepaid" if rng.random() < 0.10 else "postpaid"
        city_index = rng.choices(range(len(CITIES)), CITY_WEIGHTS)[0]
        city, _, _, counties = CITIES[city_index]
        county = rng.choice(counties)[0] if rng.random() < 0.7 else None
        # Tenure: a few brand-new lines (months 1–8 cover T1.3's month-6/7 edge), else up to 15 years.
        if rng.random() < 0.08:
            joined = today - timedelta(days=rng.randint(0, 240))
        else:
            joined = today - timedelta(days=rng.randint(241, 15 * 365))
        flags: list[str] = []
        for flag, share, only in (
            ("data_card", 0.02, "mobile"), ("test", 0.003, None), ("public_free", 0.003, None),
            ("employee", 0.01, None), ("wo_family", 0.05, None), ("group", 0.08, None),
            ("public_phone", 0.02, "fixed"), ("vip_guest", 0.004, "mobile"), ("loyal", 0.008, "mobile"),
            ("sms_card_2g", 0.05, "2g"), ("high_data_2g", 0.05, "2g"), ("employee_2g", 0.02, "2g"),
        ):  # fmt: skip
            if only is not None and only not in (service, network):
                continue
            if rng.random() < share:
                flags.append(flag)
        lucky = (
            _pick(rng, [(1, 0.001), (2, 0.003), (3, 0.006), (None, 0.99)]) if service == "mobile" else None
        )
        contract = rng.choice(CONTRACT_PLANS) if service == "mobile" and rng.random() < 0.05 else None
        # ARPU: log-normal, median ~45 yuan: most under 100, a long tail above 450.
        base_fen = int(rng.lognormvariate(3.8, 0.95) * 100)
        if contract:
            base_fen = max(base_fen, contract * 100)
        if lucky:
            base_fen = max(base_fen, {1: 588, 2: 388, 3: 188}[lucky] * 100)
        if service == "broadband":
            base_fen = max(base_fen, 5000)
        status = _pick(rng, [("active", 0.93), ("suspended", 0.05), ("cancelled", 0.02)])
        arrears = 0
        if status == "suspended":
            arrears = _pick(rng, [(1, 0.6), (2, 0.25), (3, 0.15)])
        suspensions = (arrears and rng.randint(1, 3)) or (1 if rng.random() < 0.05 else 0)
        birthday = (
            date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.9
            else None
        )
        brand = _pick(rng, [("gotone", 0.3), ("mzone", 0.3), ("easyown", 0.4)])
        plan = f"{service[:1].upper()}{rng.choice([19, 29, 39, 59, 79, 99, 129, 199, 299, 399])}"
        subscribers.append(
            (msisdn, service, network, mode, plan, brand, status, joined, city, county,
             sorted(flags), lucky, contract, suspensions, birthday, password_hash)
        )  # fmt: skip
        profiles.append((msisdn, base_fen, max(first_bill, joined.replace(day=1)), arrears))
    return subscribers, profiles


async def load(
    conn: asyncpg.Connection,
    n: int,
    seed: int,
    today: date,
    *,
    show_progress: bool = True,
    policy: Policy | None = None,
) -> DemoSummary:
    """Write the province (branches, managers, subscribers, bills, cards, tokens) in one transaction."""
    started = time.monotonic()
    progress = Progress("demo-data", 6, unit="steps") if show_progress else None
    # One hash for everyone keeps a million-row demo fast; real imports hash per subscriber.
    password_hash = hash_password(DEMO_PASSWORD)
    subscribers, profiles = generate(n, seed, today, password_hash)
    profiles.sort()
    if progress:
        progress.advance()
    last_month = _month_start(today, 1)
    async with conn.transaction():
        # Generated rows are consistent by construction: skip the per-row foreign-key
        # triggers for this transaction when allowed (14 M bill rows otherwise take minutes).
        await demo_rows.skip_foreign_key_checks(conn)
        # X5: the month partitions of the bills and cards below, and of the next months
        months = [_month_start(today, back) for back in range(BILL_MONTHS, -3, -1)]
        for table in partitions.MONTHLY:
            await partitions.ensure(conn, table, months)
        await demo_rows.insert_branch(conn, PROVINCE[0], PROVINCE[1], "province", None)
        for city_no, (city, name, _, counties) in enumerate(CITIES):
            await demo_rows.insert_branch(conn, city, name, "city", PROVINCE[0])
            for county, county_name in counties:
                await demo_rows.insert_branch(conn, county, county_name, "county", city)
            for k, person in enumerate(MANAGER_NAMES[:4]):
                await demo_rows.insert_manager(conn, person, f"1860{city_no}{k:02d}{seed % 10000:04d}", city)
        await demo_rows.copy_subscribers(conn, subscribers)
        if progress:
            progress.advance()
        await demo_rows.stage_profiles(conn, profiles)
        bills = await demo_rows.insert_bills(conn, last_month)
        if progress:
            progress.advance()
        await demo_rows.assign_managers(conn)
        cards = await demo_rows.insert_legacy_cards(conn, today)
        # P1/P2 points and V1 uses of this year (the lounges are the policy's own)
        rules = policy or load_policy("unicom-2015")
        points_grants = await demo_rows.insert_points(conn, today)
        await points_rows.mark_thresholds(conn, rules.points.threshold, today)
        lounge = next((q for q in rules.quotas if q.code == "airport_lounge"), None)
        uses = await demo_rows.insert_benefit_uses(
            conn, today, [p.code for p in lounge.places] if lounge else []
        )
        await demo_rows.mark_initial_passwords(conn)  # H3
        for password, initial, suspended, marker in DEMO_CALLERS:  # H2–H4
            await demo_rows.set_demo_caller(conn, suspended, hash_password(password), initial, marker, today)
        if progress:
            progress.advance()
        await agent_rows.merge_agents(conn, DEMO_AGENTS)
        await install_demo_tokens(conn)
        # The evaluation and the cache rebuild read subscribers in number ranges: store
        # them in number order (the manager update above scattered a tenth of them).
        await demo_rows.cluster_subscribers(conn)
        if progress:
            progress.advance()
    if not conn.is_in_transaction():
        # Leave the tables as a running database keeps them (vacuumed, with statistics),
        # so the first evaluation does not share the machine with autovacuum's catch-up.
        await demo_rows.vacuum_analyze(conn)
    if progress:
        progress.advance()
        progress.finish()
    return DemoSummary(
        subscribers=len(subscribers),
        bills=bills,
        legacy_cards=cards,
        seconds=time.monotonic() - started,
        points_grants=points_grants,
        benefit_uses=uses,
    )


async def install_demo_tokens(conn: asyncpg.Connection) -> None:
    """The well-known demo tokens (flagged `demo`, refused in production)."""
    from gateway.services.tokens import hash_token

    for token, role, branch in DEMO_TOKENS:
        name = f"demo {role}{' ' + branch if branch else ''}"
        await tokens.insert_demo(conn, hash_token(token), role, branch, name)
    for token, agent_id in DEMO_AGENT_TOKENS:  # bound to a demo agent, when the province has it
        if await agent_rows.exists(conn, agent_id):
            await tokens.insert_demo(
                conn, hash_token(token), "agent", None, f"demo agent {agent_id}", agent_id
            )


async def demo_passwords(conn: asyncpg.Connection) -> list[tuple[str, str, bool]]:
    """(number, plain password, initial) of the demo callers whose demo password is still in
    force (the `serve` banner; a password changed through H4 is no longer shown)."""
    by_marker = {marker: (password, initial) for password, initial, _, marker in DEMO_CALLERS}
    found = await demo_rows.demo_callers(conn, list(by_marker))
    return sorted((msisdn, *by_marker[marker]) for msisdn, marker in found)
