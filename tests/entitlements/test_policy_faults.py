"""A policy or override with several faults lists them all (O1, O2), and the VIP desk's
staffing figures are policy data (Q5, Q6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from entitlements.errors import PolicyError, PolicyErrors
from entitlements.policy import POLICY_NAMES, load_policy, parse_policy, read_policy

BUNDLED = Path(__file__).resolve().parents[2] / "entitlements" / "policies"


def test_an_override_with_faults_in_several_sections_lists_every_one(tmp_path: Path) -> None:
    # rule O1 and rule O2: every error, each with its file and key path
    override = tmp_path / "province.toml"
    override.write_text(
        """name = "unicom-2015"
[routing.star]
three_star = { queue = "vip", priority = 0 }
[sms]
hotline = "10-010"
[staffing]
service_level = 1.2
colour = "red"
shade = "dark"
""",
        "utf-8",
    )
    with pytest.raises(PolicyErrors) as caught:
        read_policy("unicom-2015", override)
    faults = [(e.file, e.key, e.problem) for e in caught.value.errors]
    # one fault per section, in reading order (a section stops at its first fault)
    assert [(key, problem) for _, key, problem in faults] == [
        ("routing.star.three_star.priority", "VIP desk priority must be above 0 (Q2)"),
        ("sms.hotline", "a hotline is 3 to 12 digits, got '10-010'"),
        ("staffing.service_level", "a share between 0 and 1 (0.85 is 85 %), got 1.2"),
    ]
    assert {file for file, _, _ in faults} == {str(override)}
    keys = [key for _, key, _ in faults]
    # the first fault is also the exception's own (callers that show one still show a true one)
    assert caught.value.key == keys[0] and caught.value.code == "invalid_policy"
    assert str(caught.value).startswith("3 faults: ")


def test_every_unknown_key_of_a_table_is_listed() -> None:
    # rule O2: an override with two misspelt keys names both
    text = (
        (BUNDLED / "unicom-vip.toml")
        .read_text("utf-8")
        .replace('hotline = "10010"', 'hotline = "10010"\nhotlines = "10011"\nsignature = "x"')
    )
    with pytest.raises(PolicyErrors) as caught:
        parse_policy(text, label="unicom-vip.toml")
    assert [(e.key, e.problem) for e in caught.value.errors] == [
        ("sms.hotlines", "unknown key"),
        ("sms.signature", "unknown key"),
    ]


def test_an_unknown_scheme_is_one_fault_not_one_per_section() -> None:
    # rule O1: sections that need the scheme are skipped, not reported as unknown keys
    text = (BUNDLED / "unicom-2015.toml").read_text("utf-8").replace('scheme = "star"', 'scheme = "stars"')
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, label="unicom-2015.toml")
    assert [e.key for e in caught.value.errors] == ["scheme"]


def test_a_single_fault_stays_a_plain_policy_error() -> None:
    text = (BUNDLED / "unicom-2015.toml").read_text("utf-8").replace("handling_s = 180", "handling_s = 0")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, label="unicom-2015.toml")
    assert not isinstance(caught.value, PolicyErrors)
    assert (caught.value.key, caught.value.problem) == ("staffing.handling_s", "must be at least 1, got 0")
    assert caught.value.errors == (caught.value,)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_the_vip_desk_target_is_policy_data(name: str) -> None:
    # rule Q5 and rule Q6: 85 % answered within 20 s; Erlang C plans with 180 s handling
    staffing = load_policy(name).staffing
    assert (staffing.service_level, staffing.answer_within_s, staffing.handling_s) == (0.85, 20, 180)
    assert (staffing.rule, staffing.target_rule) == ("Q6", "Q5")


def test_read_policy_reads_the_file_each_time(tmp_path: Path) -> None:
    # rule O2: a reload sees the edited file (load_policy caches per path)
    override = tmp_path / "o.toml"
    override.write_text(
        'name = "unicom-2015"\n[routing.star]\nfive_star = { queue = "vip", priority = 31 }\n'
    )
    assert read_policy("unicom-2015", override).routing.levels["star"]["five_star"].priority == 31
    override.write_text(
        'name = "unicom-2015"\n[routing.star]\nfive_star = { queue = "vip", priority = 33 }\n'
    )
    assert read_policy("unicom-2015", override).routing.levels["star"]["five_star"].priority == 33
    # the bytes a caller already read (and hashed) are the ones validated
    data = b'name = "unicom-2015"\n[routing.star]\nfive_star = { queue = "vip", priority = 35 }\n'
    assert read_policy("unicom-2015", override, data).routing.levels["star"]["five_star"].priority == 35
    with pytest.raises(PolicyError) as caught:
        read_policy("unicom-2015", override, b"\xff\xfe")
    assert "not UTF-8" in caught.value.problem
