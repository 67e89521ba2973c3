"""A whole policy document: the top-level keys, then each section by its rule family."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import partial
from typing import Final, TypeVar

from entitlements.errors import PolicyError, PolicyErrors
from entitlements.model import LEVELS, SCHEMES
from entitlements.policy.agents import read_agents
from entitlements.policy.benefits import read_benefits
from entitlements.policy.cards import read_card
from entitlements.policy.credit import read_credit
from entitlements.policy.membership import read_membership
from entitlements.policy.points import read_points
from entitlements.policy.reactivation import read_reactivation, read_verification
from entitlements.policy.reader import Node, Source
from entitlements.policy.routing import read_routing
from entitlements.policy.schema import (
    AgentRules,
    BenefitRow,
    ClubRules,
    LevelName,
    Policy,
    QuotaRow,
    Rating,
    ReactivationRules,
    Routing,
    ServiceBenefits,
    Transition,
)
from entitlements.policy.services import read_clubs, read_quotas
from entitlements.policy.sms import read_sms
from entitlements.policy.staffing import read_staffing
from entitlements.policy.star import read_star
from entitlements.policy.workorders import read_work_orders

_T = TypeVar("_T")

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


class _Faults:
    """The faults found so far; each section is read even after another one failed (O1, O2:
    an operator sees every section's fault at once, not one per attempt)."""

    def __init__(self) -> None:
        self.found: list[PolicyError] = []

    def attempt(self, read: Callable[[], _T]) -> _T | None:
        """``read()``, or ``None`` with its fault(s) recorded."""
        try:
            return read()
        except PolicyError as exc:
            self.found.extend(exc.errors)
            return None


def read_document(doc: Mapping[str, object], src: Source, expected_name: str | None) -> Policy:
    """Validate a whole (merged) document into a ``Policy``.

    A fault stops the reading of its section only: every section is read, and a document
    with faults raises the one ``PolicyError`` or a ``PolicyErrors`` listing them all (the
    first fault of each section, every unknown key). Sections that need a valid scheme (or,
    for reactivation, valid benefits) are skipped when that is at fault.
    """
    top = Node(doc, (), src)
    faults = _Faults()

    def identity() -> tuple[str, str, LevelName]:
        name = top.text("name")
        if expected_name is not None and name != expected_name:
            top.fail("name", f"expected {expected_name!r}, the file's policy name")
        version = top.text("version")
        title_node = top.table("title")
        title = LevelName(title_node.text("zh"), title_node.text("en"))
        title_node.done()
        return name, version, title

    def dates() -> tuple[date, date | None, str]:
        top.rule("T")
        effective_from = top.day("effective_from")
        effective_until = top.day("effective_until", optional=True)
        assert effective_from is not None  # required key: day() raised otherwise
        if effective_until is not None and effective_until < effective_from:
            top.fail("effective_until", "ends before effective_from")
        source = top.text("source")
        top.raw("province", None)
        return effective_from, effective_until, source

    def transition_of(scheme: str) -> Transition | None:
        trans = top.optional_table("transition")
        if trans is None:
            return None
        legacy = trans.text("legacy_scheme", choices=("vip_card",))
        transition = Transition(legacy, trans.rule("T1"))
        trans.done()
        if scheme != "star":
            trans.fail(None, "a legacy-card transition (T1.11) belongs to a star policy")
        return transition

    def levels_of(schemes: list[str]) -> dict[str, dict[str, LevelName]]:
        levels_node = top.table("levels")
        found: dict[str, dict[str, LevelName]] = {}
        for scheme in schemes:
            names = faults.attempt(partial(read_level_names, levels_node, scheme))
            if names is not None:
                found[scheme] = names
        levels_node.done()
        return found

    def rating_of(scheme: str) -> Rating:
        section = RATING_SECTION[scheme]
        for other in RATING_SECTION.values():
            if other != section and top.has(other):
                top.used.add(other)  # reported as out of place, not also as unknown
                top.fail(other, f"a {scheme} policy has no [{other}] section")
        rating_node = top.table(section)
        if scheme == "star":
            return read_star(rating_node)
        if scheme == "vip_card":
            return read_card(rating_node)
        if scheme == "membership":
            return read_membership(rating_node)
        return read_credit(rating_node)

    head = faults.attempt(identity)
    scheme = faults.attempt(lambda: top.text("scheme", choices=SCHEMES))
    when = faults.attempt(dates)
    transition: Transition | None = None
    level_names: dict[str, dict[str, LevelName]] | None = None
    rating: Rating | None = None
    routing: Routing | None = None
    benefits: tuple[Mapping[str, tuple[BenefitRow, ...]], ServiceBenefits | None] | None = None
    reactivation: ReactivationRules | None = None
    if scheme is not None:
        transition = faults.attempt(partial(transition_of, scheme))
        if not top.has("transition") or transition is not None:
            schemes = [scheme] + ([transition.legacy_scheme] if transition else [])
            level_names = faults.attempt(partial(levels_of, schemes))
            rating = faults.attempt(partial(rating_of, scheme))
            routing = faults.attempt(lambda: read_routing(top.table("routing"), schemes))
            benefits = faults.attempt(lambda: read_benefits(top.table("benefits"), schemes))
    if benefits is not None:
        rows = benefits[0]
        reactivation = faults.attempt(lambda: read_reactivation(top.table("reactivation"), rows))
    elif faults.found:  # not read for want of a scheme or of benefits: not unknown keys either
        top.used.update(
            ("transition", "levels", "routing", "benefits", "reactivation", *RATING_SECTION.values())
        )
    verification = faults.attempt(lambda: read_verification(top.table("verification")))
    work_orders = faults.attempt(lambda: read_work_orders(top.table("work_orders")))
    sms = faults.attempt(lambda: read_sms(top.table("sms")))
    staffing = faults.attempt(lambda: read_staffing(top.table("staffing")))
    points = faults.attempt(lambda: read_points(top.table("points")))
    quotas: tuple[QuotaRow, ...] | None = None
    clubs: ClubRules | None = None
    if scheme is not None and benefits is not None:
        served = [scheme] + ([transition.legacy_scheme] if transition else [])
        rows = benefits[0]
        quotas = faults.attempt(lambda: read_quotas(top.table("quotas"), served, rows))
        clubs = faults.attempt(lambda: read_clubs(top.table("clubs"), served))
    elif faults.found:  # not read for want of a scheme or of benefits: not unknown keys either
        top.used.update(("quotas", "clubs"))
    agents: AgentRules | None = None
    if scheme is not None and (not top.has("transition") or transition is not None):
        staffed = [scheme] + ([transition.legacy_scheme] if transition else [])
        agents = faults.attempt(lambda: read_agents(top.table("agents"), staffed))
    elif faults.found:
        top.used.add("agents")
    faults.attempt(top.done)
    if len(faults.found) == 1:
        raise faults.found[0]
    if faults.found:
        raise PolicyErrors(faults.found)
    # No fault: every section was read (the checks below are for the type checker).
    assert head is not None and scheme is not None and when is not None and level_names is not None
    assert rating is not None and routing is not None and benefits is not None
    assert reactivation is not None and verification is not None and work_orders is not None
    assert sms is not None and staffing is not None
    assert points is not None and quotas is not None and clubs is not None and agents is not None
    name, version, title = head
    effective_from, effective_until, source = when
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
        benefits=benefits[0],
        service_benefits=benefits[1],
        reactivation=reactivation,
        verification=verification,
        work_orders=work_orders,
        sms=sms,
        staffing=staffing,
        points=points,
        quotas=quotas,
        clubs=clubs,
        agents=agents,
        document=doc,
    )
