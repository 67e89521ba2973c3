"""Policies as data: every bundled file loads; bad files fail with the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entitlements.errors import PolicyError
from entitlements.policy import POLICY_NAMES, load_policy, parse_policy, policy_names

BUNDLED = Path(__file__).resolve().parents[2] / "entitlements" / "policies"


def text_of(name: str) -> str:
    """The bundled TOML of a policy."""
    return (BUNDLED / f"{name}.toml").read_text("utf-8")


def edit(name: str, old: str, new: str) -> str:
    """The bundled TOML with one exact edit (which must apply)."""
    text = text_of(name)
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_bundled_policies_load(name: str) -> None:
    # rule T1.7: policies are named, versioned data with effective dates.
    policy = load_policy(name)
    assert policy.name == name
    assert policy.version
    assert policy.effective_from.year >= 2010
    assert policy_names() == POLICY_NAMES


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_table_cites_a_rule(name: str) -> None:
    # rule T1.5: every value cites its SPEC rule ID (a `rule` key beside each table).
    import tomllib

    doc = tomllib.loads(text_of(name))

    def walk(node: object, path: str, cited: bool) -> None:
        # Every value below the top-level metadata sits in a table that (or whose
        # ancestor below the top level) carries a `rule`.
        if isinstance(node, dict):
            here = cited or (bool(path) and "rule" in node)
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key, here)
        elif isinstance(node, list) and any(isinstance(v, dict) for v in node):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]", cited)
        elif ("." in path or "[" in path) and not path.startswith("title."):
            assert cited, f"{name}: {path} cites no rule"

    walk(doc, "", False)
    rules = re.findall(r'rule = "([^"]+)"', text_of(name))
    # §1–§5 rule IDs, §9 agents (A), §10 (P, V), and the §13 corrections (C) that override them.
    assert rules and all(re.match(r"^(T\d(\.\d+)?|Q\d|E|R\d+|W\d|A\d|C\d|P\d|V\d)$", r) for r in rules)


def test_unknown_policy() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("unicom-1999")
    assert "unknown policy" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "old", "new", "key", "problem"),
    [
        pytest.param(
            "unicom-2015", "[star.tenure]\n", "[star.tenure]\ncolour = \"red\"\n",
            "star.tenure.colour", "unknown key", id="an unknown key is named",
        ),
        pytest.param(
            "unicom-2015", "{ from = 13, to = 24, score = 1.1 }",
            "{ from = 12, to = 24, score = 1.1 }",
            "star.tenure_score.bands[1].from", "overlaps", id="overlapping tenure bands",
        ),
        pytest.param(
            "unicom-2015", "{ from = 13, to = 24, score = 1.1 }",
            "{ from = 14, to = 24, score = 1.1 }",
            "star.tenure_score.bands[1].from", "gap", id="gapped tenure bands",
        ),
        pytest.param(
            "unicom-2015", "{ from = 97, score = 1.5 }", "{ from = 97, to = 200, score = 1.5 }",
            "star.tenure_score.bands[5].to", "open above", id="a closed last band",
        ),
        pytest.param(
            "unicom-2015", "{ from = 13, to = 24, score = 1.1 }",
            "{ from = 13, to = 24, score = 1.1234 }",
            "star.tenure_score.bands[1].score", "3 decimals", id="a score with too many decimals",
        ),
        pytest.param(
            "unicom-2015", "four_star = 140\n", "four_star = 270\n",
            "star.thresholds.sets[0].four_star", "must fall", id="non-monotonic thresholds",
        ),
        pytest.param(
            "unicom-2015", 'loyal = { zh = "忠诚客户", en = "loyal" }\n', "",
            "levels.star.loyal", "missing level", id="a missing level name",
        ),
        pytest.param(
            "unicom-2015", 'loyal = { queue = "vip", priority = 20 }\n', "",
            "routing.star.loyal", "missing level", id="a missing routing level",
        ),
        pytest.param(
            "unicom-2015", 'three_star = { queue = "vip", priority = 10 }',
            'three_star = { queue = "vip", priority = 25 }',
            "routing.star", "must not rise", id="priorities rising down the levels",
        ),
        pytest.param(
            "unicom-2015", 'rule = "T1.3"\nmin_months = 7', 'rule = "T9.9"\nmin_months = 7',
            "star.tenure.rule", "not a SPEC rule ID", id="an invalid rule ID",
        ),
        pytest.param(
            "unicom-2015", 'three_star = "silver"\n', "",
            "reactivation.levels.star.three_star", "needs terms",
            id="an entitled level without reactivation terms",
        ),
        pytest.param(
            "unicom-2015", 'credit_yuan = "50.00"', 'credit_yuan = "50.001"',
            "reactivation.terms.silver.credit_yuan", "2 decimals", id="an amount with 3 decimals",
        ),
        pytest.param(
            "unicom-vip", "diamond = 450\n", "diamond = 250\n",
            "card.segments[0].gold", "must fall", id="card thresholds out of order",
        ),
        pytest.param(
            "cmcc-credit", "{ from = 50, to = 80, points = 50 }",
            "{ from = 60, to = 80, points = 50 }",
            "credit_star.spend_points.bands[2].from", "gap", id="gapped spend bands",
        ),
        pytest.param(
            "unicom-cumulative", "gold = { cumulative_yuan = 3000, month_yuan = 500 }",
            "gold = { cumulative_yuan = 30000, month_yuan = 500 }",
            "membership.ladder.gold", "must not rise", id="membership conditions out of order",
        ),
        pytest.param(
            "unicom-2015", 'mode = "star"', 'mode = "card"',
            "star.validity.mode", "not one of", id="a star policy with card validity",
        ),
        pytest.param(
            "unicom-henan-2011", 'broadband = ["priority_access", "priority_hall"]',
            'satellite = ["priority_access", "priority_hall"]',
            "benefits.by_service_type.satellite", "unknown service type", id="a limit for an unknown service type",
        ),
        pytest.param(
            "unicom-henan-2011", 'broadband = ["priority_access", "priority_hall"]',
            'broadband = ["priority_access", "lounge"]',
            "benefits.by_service_type.broadband", "not one of", id="a limit keeping a row the table lacks",
        ),
        pytest.param(
            "unicom-henan-2011", 'networks = ["3g"]\nnetwork_rule = "C1"\n\n# T3.3',
            'networks = []\nnetwork_rule = "C1"\n\n# T3.3',
            "card.lucky_numbers.networks", "at least one network", id="lucky cards for no network at all",
        ),
        pytest.param(
            "unicom-2015", 'mode = "star"', 'mode = "star"\ndowngrade = false',
            "star.validity.downgrade", "monthly levels", id="downgrade = false on a star validity",
        ),
        pytest.param(
            "unicom-2015", 'county = ["remind", "paid"]', 'county = ["remind", "pay"]',
            "work_orders.branch_events.county", "not one of", id="a branch event the engine does not know",
        ),
        pytest.param(
            "unicom-2015", 'county = ["remind", "paid"]', 'district = ["remind", "paid"]',
            "work_orders.branch_events.district", "unknown branch level", id="an unknown branch level",
        ),
        pytest.param(
            "unicom-vip", 'county = ["remind", "paid"]', 'county = ["remind", "paid", "close"]',
            "work_orders.branch_events.county", "only an admin closes", id="a branch given the admin's close",
        ),
        pytest.param(
            "cmcc-credit", 'hotline = "10086"', 'hotline = "100-86"',
            "sms.hotline", "3 to 12 digits", id="a hotline that is not a number",
        ),
        pytest.param(
            "unicom-henan-2011", 'brand = "【中国联通】"\n', "",
            "sms.brand", "missing key", id="an SMS without a brand",
        ),
    ],
)  # fmt: skip
def test_validation_errors(name: str, old: str, new: str, key: str, problem: str) -> None:
    # rule T1.5 (bands), rule T1.7 (thresholds), rule Q2, rule R12, rule W5, rule T1.9: invalid data
    label = f"entitlements/policies/{name}.toml"
    with pytest.raises(PolicyError) as caught:
        parse_policy(edit(name, old, new), label=label)
    err = caught.value
    assert err.file == label
    assert err.key == key
    assert problem in err.problem
    assert err.code == "invalid_policy"
    assert str(err).startswith(f"{label}: {key}: ")


def test_benefit_values_are_a_fixed_vocabulary() -> None:
    # rule E
    text = edit("unicom-vip", 'silver = "once_a_year"', 'silver = "sometimes"')
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, label="vip.toml")
    assert caught.value.key == "benefits.vip_card.free_sim_replacement.silver"


def test_not_toml() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("name = ", label="broken.toml")
    assert caught.value.file == "broken.toml"


# ------------------------------------------------------------------------- overrides


def test_override_changes_a_subset(tmp_path: Path) -> None:
    # rule T1.7: a provincial override changes thresholds and nothing else.
    path = tmp_path / "henan.toml"
    path.write_text(
        'province = "HA"\n'
        "[[star.thresholds.sets]]\n"
        'valid_from = "2015-01"\nfive_star = 300\nfour_star = 140\nthree_star = 90\ntwo_star = 30\n'
        "[verification]\nmax_failures = 3\n",
        "utf-8",
    )
    policy = load_policy("unicom-2015", path)
    base = load_policy("unicom-2015")
    assert policy.version == "2015.1+henan"
    assert policy.files == ("entitlements/policies/unicom-2015.toml", str(path))
    assert policy.verification.max_failures == 3
    assert policy.verification.lock_minutes == base.verification.lock_minutes
    assert policy.rating.threshold_sets[0].ladder.bounds[0] == 300_000  # type: ignore[union-attr]


def test_override_errors_name_the_override_file(tmp_path: Path) -> None:
    # rule R9: the override is validated the same way, and its errors point at it.
    path = tmp_path / "typo.toml"
    path.write_text("[verification]\nmax_failurs = 3\n", "utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy("unicom-2015", path)
    assert caught.value.file == str(path)
    assert caught.value.key == "verification.max_failurs"


def test_override_errors_in_merged_arrays_name_the_override(tmp_path: Path) -> None:
    # rule T1.7
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[star.thresholds.sets]]\nvalid_from = "2015-01"\n'
        "five_star = 100\nfour_star = 140\nthree_star = 90\ntwo_star = 30\n",
        "utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        load_policy("unicom-2015", path)
    assert caught.value.file == str(path)
    assert caught.value.key == "star.thresholds.sets[0].four_star"


def test_override_cannot_rename(tmp_path: Path) -> None:
    path = tmp_path / "rename.toml"
    path.write_text('name = "unicom-2099"\n', "utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy("unicom-2015", path)
    assert caught.value.key == "name"


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("unicom-2015", tmp_path / "absent.toml")
    assert "cannot read" in str(caught.value)
