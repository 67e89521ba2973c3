"""The hotline services' pure rules (SPEC §8): hash formats (H2), initial passwords on
self-service channels (H3), password strength (H4), emergency stop and restart (H5), the
levels that are owed a customer manager (H7, Q3) and the cards to issue (H8)."""

from __future__ import annotations

import bcrypt
import pytest
from argon2 import PasswordHasher, Type

from entitlements.policy import load_policy
from entitlements.servicing import (
    card_to_issue,
    hash_format,
    initial_password_refused,
    manager_levels,
    restart_refusal,
    stop_refusal,
    weak_password,
)

NUMBER = "18612345678"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(PasswordHasher().hash("246810"), "argon2", id="rule H2: argon2id is accepted"),
        pytest.param(PasswordHasher(type=Type.I).hash("246810"), "argon2", id="rule H2: argon2i is accepted"),
        pytest.param(bcrypt.hashpw(b"246810", bcrypt.gensalt(rounds=4)).decode(), "bcrypt", id="rule H2: bcrypt $2b$ is accepted"),
        pytest.param("$2y$04$" + "a" * 53, "bcrypt", id="rule H2: bcrypt $2y$ is accepted"),
        pytest.param("246810", None, id="rule H2: a plain password is no hash"),
        pytest.param("$1$salt$abcdefghijklmnop", None, id="rule H2: md5-crypt is refused"),
        pytest.param("$2b$04$short", None, id="rule H2: a truncated bcrypt hash is refused"),
        pytest.param("", None, id="rule H2: empty is refused"),
    ],
)  # fmt: skip
def test_hash_formats(value: str, expected: str | None) -> None:
    assert hash_format(value) == expected


@pytest.mark.parametrize(
    ("channel", "initial", "refused"),
    [
        pytest.param("ivr", True, True, id="rule H3: the IVR refuses an initial password"),
        pytest.param("sms", True, True, id="rule H3: the SMS path refuses an initial password"),
        pytest.param("web", True, True, id="rule H3: the web path refuses an initial password"),
        pytest.param("agent", True, False, id="rule H3: an agent may accept an initial password"),
        pytest.param("ivr", False, False, id="rule H3: a changed password is fine on the IVR"),
    ],
)
def test_initial_passwords(channel: str, initial: bool, refused: bool) -> None:
    assert initial_password_refused(channel, initial) is refused


@pytest.mark.parametrize(
    ("password", "weak"),
    [
        pytest.param("135792", False, id="rule H4: six mixed digits are fine"),
        pytest.param("12345", True, id="rule H4: five digits are too short"),
        pytest.param("1234567", True, id="rule H4: seven digits are too long"),
        pytest.param("12a456", True, id="rule H4: a letter is refused"),
        pytest.param("１３５７９２", True, id="rule H4: full-width digits are refused"),
        pytest.param("000000", True, id="rule H4: one repeated digit is refused"),
        pytest.param("234567", True, id="rule H4: an ascending run is refused"),
        pytest.param("987654", True, id="rule H4: a descending run is refused"),
        pytest.param("345678", True, id="rule H4: the number's last six digits are refused"),
        pytest.param("123465", False, id="rule H4: an almost-run is fine"),
    ],
)
def test_password_strength(password: str, weak: bool) -> None:
    assert (weak_password(password, NUMBER) is not None) is weak


@pytest.mark.parametrize(
    ("status", "stop", "restart"),
    [
        pytest.param("active", None, "not_stopped", id="rule H5: an active number stops"),
        pytest.param("suspended", None, "not_stopped", id="rule H5: an arrears-suspended number stops"),
        pytest.param("stopped", "already_stopped", None, id="rule H5: a stopped number restarts"),
        pytest.param("cancelled", "cancelled", "cancelled", id="rule H5: a cancelled number does neither"),
    ],
)
def test_stop_and_restart(status: str, stop: str | None, restart: str | None) -> None:
    assert (stop_refusal(status), restart_refusal(status)) == (stop, restart)


def test_the_levels_owed_a_customer_manager_follow_the_e_table() -> None:
    # rule H7, rule Q3, rule H8: diamond, gold, five-star, VIP-guest (C2: no Henan fixed line)
    star = {(s, lv) for svc, s, lv in manager_levels(load_policy("unicom-2015")) if svc == "mobile"}
    assert ("star", "five_star") in star and ("star", "vip_guest") in star
    assert ("star", "four_star") not in star and ("vip_card", "silver") not in star
    henan = manager_levels(load_policy("unicom-henan-2011"))
    assert {svc for svc, _, _ in henan} == {"mobile"}


@pytest.mark.parametrize(
    ("scheme", "level", "change", "issue"),
    [
        pytest.param("vip_card", "gold", "new", True, id="rule H8: a new card is issued"),
        pytest.param("vip_card", "diamond", "raised", True, id="rule H8: a raised card is issued"),
        pytest.param("vip_card", "gold", "renewed", False, id="rule H8: a renewed card is not re-issued"),
        pytest.param("vip_card", "none", "new", False, id="rule H8: no card, nothing to issue"),
        pytest.param("star", "five_star", "new", False, id="rule H8: stars are no cards"),
    ],
)
def test_cards_to_issue(scheme: str, level: str, change: str, issue: bool) -> None:
    assert card_to_issue(scheme, level, change) is issue
