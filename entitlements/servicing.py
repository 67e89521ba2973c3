"""H2–H8: the hotline's other services as pure rules — service-password formats and
strength, initial passwords on self-service channels, emergency stop and restart, and
who the monthly evaluation owes a customer manager or a VIP card.

Identity itself (own number bound to the call, H1; the password with the R9 lockout) is
checked by the gateway's identity service before any of these answers is given, so a
wrong password is refused the same way whatever the account's state.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Final

from entitlements.benefits import benefit_value
from entitlements.model import SERVICE_TYPES, Tier, bottom_level
from entitlements.policy import MANAGER_BENEFIT, Policy

#: H2: accepted hash formats of imported service passwords (argon2 and bcrypt, as the BSS
#: exports them). Anything else is refused with the row and the reason.
_ARGON2 = re.compile(
    r"^\$argon2(id|i)\$v=[0-9]+\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
)
_BCRYPT = re.compile(r"^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$")

#: H3: channels on which the customer serves themselves; an initial password is refused there.
SELF_SERVICE_CHANNELS: Final[frozenset[str]] = frozenset({"ivr", "sms", "web"})
#: H4: a new service password is exactly this many digits.
PASSWORD_DIGITS: Final = 6
#: H5: statuses an emergency stop may be put on, and what a restart returns to.
STOPPABLE: Final[frozenset[str]] = frozenset({"active", "suspended"})
#: H8: evaluation changes that mean a card is new or raised (a card to issue).
CARD_CHANGES: Final[frozenset[str]] = frozenset({"new", "raised"})
CARD_SCHEMES: Final[frozenset[str]] = frozenset({"vip_card"})


def hash_format(value: str) -> str | None:
    """H2: ``argon2`` or ``bcrypt`` for an accepted hash, None for anything else (a plain
    password included)."""
    if _ARGON2.match(value):
        return "argon2"
    if _BCRYPT.match(value):
        return "bcrypt"
    return None


def weak_password(password: str, msisdn: str) -> str | None:
    """H4: why a new service password is refused (``weak_password``), or None if it is fine.

    Exactly six ASCII digits; not one repeated digit (``888888``); not an ascending or
    descending run (``123456``, ``654321``); not the number's last six digits.
    """
    if len(password) != PASSWORD_DIGITS or not password.isascii() or not password.isdigit():
        return f"a service password is exactly {PASSWORD_DIGITS} digits"
    if len(set(password)) == 1:
        return "a service password is not one repeated digit"
    steps = {int(b) - int(a) for a, b in pairwise(password)}
    if steps in ({1}, {-1}):
        return "a service password is not an ascending or descending run"
    if msisdn.endswith(password):
        return "a service password is not the number's last six digits"
    return None


def initial_password_refused(channel: str, initial: bool) -> bool:
    """H3: an initial password is refused on self-service channels (an agent may accept it)."""
    return initial and channel in SELF_SERVICE_CHANNELS


def stop_refusal(status: str) -> str | None:
    """H5: why an emergency stop is refused, or None (active and arrears-suspended numbers)."""
    if status == "cancelled":
        return "cancelled"
    if status == "stopped":
        return "already_stopped"
    return None if status in STOPPABLE else "not_stoppable"


def restart_refusal(status: str) -> str | None:
    """H5: why an emergency restart is refused, or None (only a stopped number restarts)."""
    if status == "cancelled":
        return "cancelled"
    return None if status == "stopped" else "not_stopped"


def manager_levels(policy: Policy) -> list[tuple[str, str, str]]:
    """H8, Q3: (service type, scheme, level) of every level whose E row grants a customer
    manager under ``policy`` (C2: per service type)."""
    out = []
    for scheme in policy.schemes:
        for level in policy.level_names.get(scheme, {}):
            if level == bottom_level(scheme):
                continue
            for service in SERVICE_TYPES:
                if benefit_value(policy, Tier(scheme, level), MANAGER_BENEFIT, service) == "yes":
                    out.append((service, scheme, level))
    return out


def card_to_issue(scheme: str, level: str, change: str) -> bool:
    """H8 (T2, T3): a new or raised VIP card is a card to issue."""
    return scheme in CARD_SCHEMES and change in CARD_CHANGES and level != bottom_level(scheme)
