"""The bulk writes of the synthetic demo province (`gateway.batch.demo`): branches and
managers row by row (a few dozen), subscribers by COPY, and bills, manager assignments
and legacy VIP cards generated set-based in PostgreSQL from a per-subscriber profile."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from gateway.stores.queries.snapshot import Conn

DATA_TABLES = (
    "audit_log", "work_order_events", "work_orders", "credit_debits", "reactivations",
    "notifications", "evaluation_runs", "tier_explanations", "tier_assignments", "payments", "bills",
    "password_failures", "idempotency_keys", "subscribers", "customer_managers", "api_tokens",
    "branches",
    "points_spends", "points_redemptions", "points_grants", "points_accounts", "sms_inbound",
    "benefit_uses", "club_members",
)  # fmt: skip
SUBSCRIBER_COLUMNS = (
    "msisdn", "service_type", "network", "payment_mode", "plan_code", "brand", "status",
    "joined_on", "city_code", "county_code", "flags", "lucky_class", "contract_plan",
    "suspensions", "birthday", "password_hash",
)  # fmt: skip


async def reset(conn: Conn) -> None:
    """Delete every row of every data table (the schema stays; tier_serving is emptied by
    the trigger on tier_assignments, sql/051)."""
    await conn.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")


def _count(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 42``."""
    return int(status.rsplit(" ", 1)[-1])


async def skip_foreign_key_checks(conn: Conn) -> bool:
    """For this transaction, skip the per-row foreign-key triggers when the role may
    (a superuser); True if skipped. Only for rows consistent by construction."""
    if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        return False
    await conn.execute("SET LOCAL session_replication_role = replica")
    return True


async def insert_branch(conn: Conn, code: str, name: str, level: str, parent_code: str | None) -> None:
    """One branch of the tree."""
    await conn.execute(
        "INSERT INTO branches (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
        code,
        name,
        level,
        parent_code,
    )


async def insert_manager(conn: Conn, name: str, phone: str, city_code: str) -> None:
    """One customer manager of a city (Q3)."""
    await conn.execute(
        "INSERT INTO customer_managers (name, phone, city_code) VALUES ($1, $2, $3)", name, phone, city_code
    )


async def copy_subscribers(conn: Conn, records: Sequence[tuple[object, ...]]) -> None:
    """COPY subscriber rows (`SUBSCRIBER_COLUMNS`)."""
    await conn.copy_records_to_table("subscribers", records=records, columns=SUBSCRIBER_COLUMNS)


async def stage_profiles(conn: Conn, profiles: Sequence[tuple[str, int, date, int]]) -> None:
    """The transaction's `demo_profile` table: (msisdn, base revenue in fen, first bill month,
    months in arrears) per subscriber, read by the set-based writes below."""
    await conn.execute(
        """CREATE TEMP TABLE demo_profile
               (msisdn text, base_fen bigint, first_month date, arrears int) ON COMMIT DROP"""
    )
    await conn.copy_records_to_table("demo_profile", records=profiles)


async def insert_bills(conn: Conn, last_month: date) -> int:
    """Bills up to `last_month`: the profile's base revenue ±20 % per month (deterministic
    hash noise), paid in full except the last `arrears` months. Returns the bills written."""
    status = await conn.execute(
        """INSERT INTO bills (msisdn, month, billed_fen, paid_fen)
           SELECT msisdn, month, billed,
                  CASE WHEN month > $1::date - make_interval(months => arrears) THEN 0 ELSE billed END
           FROM (SELECT p.msisdn, p.arrears, m::date AS month,
                        p.base_fen * (80 + abs(hashtext(p.msisdn || m::text)::bigint) % 41) / 100
                            AS billed
                 FROM demo_profile p,
                      generate_series(p.first_month, $1::date, interval '1 month') AS m) x
           ORDER BY msisdn, month""",
        last_month,
    )
    return _count(status)


async def assign_managers(conn: Conn) -> None:
    """A customer manager of their city for the high-value customers (Q3)."""
    await conn.execute(
        """UPDATE subscribers s SET manager_id = (
               SELECT id FROM customer_managers c WHERE c.city_code = s.city_code
               ORDER BY id OFFSET abs(hashtext(s.msisdn)::bigint) % 4 LIMIT 1)
           FROM demo_profile p
           WHERE p.msisdn = s.msisdn AND (p.base_fen >= 30000 OR 'vip_guest' = ANY (s.flags))"""
    )


async def insert_legacy_cards(conn: Conn, today: date) -> int:
    """Legacy VIP cards held from before unicom-2015 (T1.11), expiring over the next year;
    returns the cards written."""
    status = await conn.execute(
        """INSERT INTO tier_assignments
               (msisdn, policy, evaluated_month, policy_version, scheme, level, change,
                effective_from, valid_until, since, source)
           SELECT p.msisdn, 'unicom-vip', date_trunc('month', since)::date, 'import', 'vip_card',
                  CASE WHEN p.base_fen >= 45000 THEN 'diamond'
                       WHEN p.base_fen >= 30000 THEN 'gold' ELSE 'silver' END,
                  'new', since, (date_trunc('month', since) + interval '12 months 7 days')::date,
                  since, 'import'
           FROM (SELECT p.*, $1::date - (abs(hashtext(p.msisdn)::bigint) % 300)::int AS since
                 FROM demo_profile p JOIN subscribers s USING (msisdn)
                 WHERE s.service_type = 'mobile' AND s.payment_mode = 'postpaid'
                   AND s.status <> 'cancelled' AND p.base_fen >= 15000
                   AND abs(hashtext(p.msisdn || 'card')::bigint) % 3 = 0) p""",
        today,
    )
    return _count(status)


async def cluster_subscribers(conn: Conn) -> None:
    """Store subscribers in number order (the evaluation and the rebuild read number ranges)."""
    await conn.execute("CLUSTER subscribers USING subscribers_pkey")


async def vacuum_analyze(conn: Conn) -> None:
    """Vacuum and analyze the big tables (outside a transaction)."""
    await conn.execute("VACUUM (ANALYZE) subscribers, bills, tier_assignments")


async def insert_points(conn: Conn, today: date) -> int:
    """P1: a points ledger for four in five mobile customers: a grant per calendar year of
    bills (1 point a yuan, on the 5th of the month after the year's last bill, expiring at
    the end of the next year) and, for some, a bonus that never expires; returns the grants."""
    await conn.execute(
        """INSERT INTO points_accounts (msisdn)
           SELECT s.msisdn FROM subscribers s
           WHERE s.service_type = 'mobile' AND s.status <> 'cancelled'
             AND abs(hashtext(s.msisdn || 'points')::bigint) % 5 <> 0"""
    )
    yearly = await conn.execute(
        """INSERT INTO points_grants (msisdn, granted_on, points, remaining, source, expires_on)
           SELECT b.msisdn, least(max(b.month) + interval '1 month 4 days', $1::date)::date,
                  (sum(b.billed_fen) / 100)::int, (sum(b.billed_fen) / 100)::int, 'bill',
                  make_date(date_part('year', b.month)::int + 1, 12, 31)
           FROM bills b JOIN points_accounts a USING (msisdn)
           GROUP BY b.msisdn, date_part('year', b.month)
           HAVING sum(b.billed_fen) >= 100""",
        today,
    )
    bonus = await conn.execute(
        """INSERT INTO points_grants (msisdn, granted_on, points, remaining, source, expires_on)
           SELECT msisdn, $1::date - (abs(hashtext(msisdn || 'bonus')::bigint) % 200)::int,
                  500 + (abs(hashtext(msisdn || 'size')::bigint) % 6) * 500,
                  500 + (abs(hashtext(msisdn || 'size')::bigint) % 6) * 500, 'promo', NULL
           FROM points_accounts WHERE abs(hashtext(msisdn || 'bonus')::bigint) % 4 = 0""",
        today,
    )
    return _count(yearly) + _count(bonus)


async def insert_benefit_uses(conn: Conn, today: date, lounges: Sequence[str]) -> int:
    """V1: this year's lounge visits (one or two) for a third of the diamond and gold legacy
    cards, and the free SIM replacement for one card holder in ten; returns the uses."""
    status = await conn.execute(
        """INSERT INTO benefit_uses (msisdn, benefit, year, seq, used_at, place, scheme, level, actor)
           SELECT t.msisdn, u.benefit, date_part('year', $1::date)::int, u.seq,
                  ((date_trunc('year', $1::date)::date
                    + (abs(hashtext(t.msisdn || u.benefit || u.seq)::bigint)
                       % greatest($1::date - date_trunc('year', $1::date)::date, 1))::int)
                   + time '09:30') AT TIME ZONE 'Asia/Shanghai',
                  CASE WHEN u.benefit = 'airport_lounge'
                       THEN ($2::text[])[1 + abs(hashtext(t.msisdn || 'place' || u.seq)::bigint)
                                             % cardinality($2::text[])] END,
                  t.scheme, t.level, 'demo'
           FROM tier_assignments t
           CROSS JOIN LATERAL (
               SELECT 'airport_lounge' AS benefit, g AS seq
               FROM generate_series(1, 1 + abs(hashtext(t.msisdn || 'visits')::bigint) % 2) g
               WHERE t.level IN ('diamond', 'gold') AND abs(hashtext(t.msisdn || 'lounge')::bigint) % 3 = 0
                 AND cardinality($2::text[]) > 0
               UNION ALL
               SELECT 'free_sim_replacement', 1 WHERE abs(hashtext(t.msisdn || 'sim')::bigint) % 10 = 0) u
           WHERE t.source = 'import' AND t.scheme = 'vip_card'
             AND t.effective_from <= $1::date AND t.valid_until >= $1::date""",
        today,
        list(lounges),
    )
    return _count(status)


async def mark_initial_passwords(conn: Conn) -> int:
    """H3: a tenth of the demo subscribers still have their initial password."""
    status = await conn.execute(
        """UPDATE subscribers SET password_initial = true
           WHERE abs(hashtext(msisdn || 'initial')::bigint) % 10 = 0"""
    )
    return _count(status)


async def set_demo_caller(
    conn: Conn, suspended: bool, password_hash: str, initial: bool, marker: datetime, today: date
) -> str | None:
    """H2–H4 demo: give one well-chosen caller a password of their own; `marker` (its
    `password_changed_at`) lets the banner find it again while it is still in force.
    `suspended`: a postpaid card holder suspended one month in arrears (reactivation by
    password); else an active card holder with nothing owed (own number, emergency stop).
    Driven from the imported cards (a few percent of the province) and the bills' key, so
    it stays fast for a million subscribers."""
    value = await conn.fetchval(
        """UPDATE subscribers s SET password_hash = $2, password_initial = $3, password_changed_at = $4
           WHERE s.msisdn = (
               SELECT s2.msisdn FROM tier_assignments t JOIN subscribers s2 ON s2.msisdn = t.msisdn
               WHERE t.source = 'import' AND t.scheme = 'vip_card' AND t.level IN ('diamond', 'gold')
                 AND t.effective_from <= $5 AND t.valid_until >= $5
                 AND s2.service_type = 'mobile' AND s2.payment_mode = 'postpaid'
                 AND s2.status = CASE WHEN $1 THEN 'suspended' ELSE 'active' END
                 AND s2.password_changed_at IS NULL
                 AND (SELECT count(*) FROM bills b WHERE b.msisdn = s2.msisdn AND b.paid_fen < b.billed_fen)
                     = CASE WHEN $1 THEN 1 ELSE 0 END
               ORDER BY s2.msisdn LIMIT 1)
           RETURNING s.msisdn""",
        suspended,
        password_hash,
        initial,
        marker,
        today,
    )
    return None if value is None else str(value)


async def demo_callers(conn: Conn, markers: Sequence[datetime]) -> list[tuple[str, datetime]]:
    """(number, marker) of the demo callers whose demo password is still in force."""
    rows = await conn.fetch(
        """SELECT msisdn, password_changed_at FROM subscribers
           WHERE password_changed_at = ANY($1::timestamptz[])""",
        list(markers),
    )
    return [(r["msisdn"], r["password_changed_at"]) for r in rows]
