"""A whole policy document: the top-level keys, then each section by its rule family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from entitlements.model import LEVELS, SCHEMES
from entitlements.policy.agents import read_agents
from entitlements.policy.benefits import read_benefits
from entitlements.policy.cards import read_card
from entitlements.policy.credit import read_credit
from entitlements.policy.membership import read_membership
from entitlements.policy.reactivation import read_reactivation, read_verification
from entitlements.policy.reader import Node, Source
from entitlements.policy.routing import read_routing
from entitlements.policy.schema import LevelName, Policy, Rating, Transition
from entitlements.policy.sms import read_sms
from entitlements.policy.star import read_star
from entitlements.policy.workorders import read_work_orders

#: The rating section each scheme's policy carries.
RATING_SECTION: Final[dict[str, str]] = {
    "star": "star",
    "vip_card": "card",
    "membership": "membership",
    "credit_star": "credit_star",
}


def read_level_names(node: Node, scheme: str) -> dict[str, LevelName]:
    """``[levels.<scheme>]``: the zh/en display name of every level of ``scheme``."""
    sub = node.table(scheme)
    sub.rule()
    names: dict[str, LevelName] = {}
    for level in LEVELS[scheme]:
        if not sub.has(level):
            sub.fail(level, f"missing level {level!r} of scheme {scheme!r}")
        entry = sub.table(level)
        names[level] = LevelName(zh=entry.text("zh"), en=entry.text("en"))
        entry.done()
    sub.done()
    return names


def read_document(doc: Mapping[str, object], src: Source, expected_name: str | None) -> Policy:
    """Validate a whole (merged) document into a ``Policy``; ``PolicyError`` on the first fault."""
    top = Node(doc, (), src)
    name = top.text("name")
    if expected_name is not None and name != expected_name:
        top.fail("name", f"expected {expected_name!r}, the file's policy name")
    version = top.text("version")
    title_node = top.table("title")
    title = LevelName(title_node.text("zh"), title_node.text("en"))
    title_node.done()
    scheme = top.text("scheme", choices=SCHEMES)
    top.rule("T")
    effective_from = top.day("effective_from")
    effective_until = top.day("effective_until", optional=True)
    assert effective_from is not None  # required key: day() raised otherwise
    if effective_until is not None and effective_until < effective_from:
        top.fail("effective_until", "ends before effective_from")
    source = top.text("source")
    top.raw("province", None)

    transition = None
    trans = top.optional_table("transition")
    if trans is not None:
        legacy = trans.text("legacy_scheme", choices=("vip_card",))
        transition = Transition(legacy, trans.rule("T1"))
        trans.done()
        if scheme != "star":
            trans.fail(None, "a legacy-card transition (T1.11) belongs to a star policy")

    schemes = [scheme] + ([transition.legacy_scheme] if transition else [])
    levels_node = top.table("levels")
    level_names = {s: read_level_names(levels_node, s) for s in schemes}
    levels_node.done()

    section = RATING_SECTION[scheme]
    for other in RATING_SECTION.values():
        if other != section and top.has(other):
            top.fail(other, f"a {scheme} policy has no [{other}] section")
    rating_node = top.table(section)
    rating: Rating
    if scheme == "star":
        rating = read_star(rating_node)
    elif scheme == "vip_card":
        rating = read_card(rating_node)
    elif scheme == "membership":
        rating = read_membership(rating_node)
    else:
        rating = read_credit(rating_node)

    routing = read_routing(top.table("routing"), schemes)
    benefits, service_benefits = read_benefits(top.table("benefits"), schemes)
    reactivation = read_reactivation(top.table("reactivation"), benefits)
    verification = read_verification(top.table("verification"))
    work_orders = read_work_orders(top.table("work_orders"))
    sms = read_sms(top.table("sms"))
    agents = read_agents(top.table("agents"), schemes)
    top.done()
    files = (src.base,) if src.override is None else (src.base, src.override)
    return Policy(
        name=name,
        version=version,
        title=title,
        scheme=scheme,
        effective_from=effective_from,
        effective_until=effective_until,
        source=source,
        files=files,
        level_names=level_names,
        rating=rating,
        transition=transition,
        routing=routing,
        benefits=benefits,
        service_benefits=service_benefits,
        reactivation=reactivation,
        verification=verification,
        work_orders=work_orders,
        sms=sms,
        agents=agents,
        document=doc,
    )
