"""The ``[card]`` section (T2, T3): VIP cards by average bill, with the Henan special rules."""

from __future__ import annotations

from entitlements.model import FLAGS, LEVELS, NETWORKS, SERVICE_TYPES
from entitlements.policy.common import read_eligibility, read_ladder, read_validity
from entitlements.policy.reader import RULE_ID, Node
from entitlements.policy.schema import CardRules, Segment, Supreme


def _level_map(node: Node, key: str, scheme: str) -> dict[int, str]:
    table = node.table(key)
    result: dict[int, str] = {}
    for raw_key in table.remaining():
        value = table.raw(raw_key)
        if not raw_key.isdigit():
            table.fail(raw_key, "keys must be whole numbers")
        if not isinstance(value, str) or value not in LEVELS[scheme][:-1]:
            table.fail(raw_key, f"{value!r} is not a {scheme} level")
        result[int(raw_key)] = value
    table.done()
    return result


def _networks(node: Node, rule: str) -> tuple[frozenset[str] | None, str]:
    """C1: ``networks`` a joining card is limited to (absent: any) and the rule saying so."""
    if not node.has("networks"):
        if node.has("network_rule"):
            node.fail("network_rule", "cites the rule of 'networks', which is not set")
        return None, rule
    networks = node.codes("networks", NETWORKS)
    if not networks:
        node.fail("networks", "at least one network (leave the key out for any network)")
    network_rule = node.text("network_rule", default=rule)
    if not RULE_ID.match(network_rule):
        node.fail("network_rule", f"{network_rule!r} is not a SPEC rule ID")
    return networks, network_rule


def read_card(node: Node) -> CardRules:
    """``[card]`` (T2, T3): eligibility, average, segments, supreme and the Henan special cards."""
    eligibility = read_eligibility(node.table("eligibility"), "T")
    tenure_rule = eligibility.rule
    min_tenure = 0
    tenure = node.optional_table("tenure")
    if tenure is not None:
        tenure_rule = tenure.rule("T")
        min_tenure = tenure.integer("min_months", minimum=1)
        tenure.done()
    average = node.table("average")
    average_rule = average.rule("T")
    average_months = average.integer("months", minimum=1)
    before_joining = average.text("before_joining", choices=("zero", "skip"))
    average.done()
    segments = []
    rated = ("diamond", "gold", "silver")
    for seg in node.tables("segments"):
        name = seg.text("name")
        types = seg.codes("service_types", SERVICE_TYPES)
        networks = seg.codes("networks", NETWORKS) if seg.has("networks") else None
        ladder = read_ladder(seg, "vip_card", rated, lambda n, k: n.fen(k), required=("diamond",))
        seg.done()
        segments.append(Segment(name, types, networks, ladder))
    supreme = None
    sup = node.optional_table("supreme")
    if sup is not None:
        supreme = Supreme(
            required_flags=sup.codes("required_flags", FLAGS),
            min_average_fen=sup.fen("min_average_yuan"),
            rule=sup.rule("T2"),
        )
        sup.done()
    lucky: dict[int, str] = {}
    lucky_rule = "T3.2"
    lucky_networks: frozenset[str] | None = None
    lucky_network_rule = lucky_rule
    lucky_node = node.optional_table("lucky_numbers")
    if lucky_node is not None:
        lucky_rule = lucky_node.rule("T3")
        lucky = _level_map(lucky_node, "classes", "vip_card")
        lucky_networks, lucky_network_rule = _networks(lucky_node, lucky_rule)
        lucky_node.done()
    exact: dict[int, str] = {}
    at_least: list[tuple[int, str]] = []
    contract_rule = "T3.3"
    contract_networks: frozenset[str] | None = None
    contract_network_rule = contract_rule
    contract = node.optional_table("contract_plans")
    if contract is not None:
        contract_rule = contract.rule("T3")
        exact = _level_map(contract, "exact", "vip_card") if contract.has("exact") else {}
        if contract.has("at_least"):
            at_least = sorted(_level_map(contract, "at_least", "vip_card").items(), reverse=True)
        contract_networks, contract_network_rule = _networks(contract, contract_rule)
        contract.done()
    migration_min = None
    migration_rule = "T3.4"
    migration = node.optional_table("migration")
    if migration is not None:
        migration_rule = migration.rule("T3")
        migration_min = migration.integer("min_contract_plan", minimum=1)
        migration.done()
    reporting_rule = None
    reporting = node.optional_table("reporting")
    if reporting is not None:
        reporting_rule = reporting.rule("T3")
        reporting.text("issue_by", choices=("month_end",))
        reporting.done()
    schedule = node.table("schedule")
    schedule_rule = schedule.rule("T")
    closes = schedule.integer("billing_closes_day", minimum=1)
    if closes > 28:
        schedule.fail("billing_closes_day", "must be 1..28")
    schedule.done()
    validity = read_validity(node.table("validity"), "card")
    node.done()
    return CardRules(
        eligibility=eligibility,
        min_tenure_months=min_tenure,
        tenure_rule=tenure_rule,
        average_months=average_months,
        before_joining=before_joining,  # type: ignore[arg-type]  # checked by choices
        average_rule=average_rule,
        segments=tuple(segments),
        supreme=supreme,
        lucky_classes=lucky,
        lucky_rule=lucky_rule,
        lucky_networks=lucky_networks,
        lucky_network_rule=lucky_network_rule,
        contract_exact=exact,
        contract_at_least=tuple(at_least),
        contract_rule=contract_rule,
        contract_networks=contract_networks,
        contract_network_rule=contract_network_rule,
        migration_min_plan=migration_min,
        migration_rule=migration_rule,
        reporting_rule=reporting_rule,
        billing_closes_day=closes,
        schedule_rule=schedule_rule,
        validity=validity,
    )
