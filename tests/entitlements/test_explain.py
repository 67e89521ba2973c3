"""Explanations: stored compactly, read back, rendered for agents (the SMS: test_sms)."""

from __future__ import annotations

import json

import pytest

from entitlements.errors import EntitlementsError
from entitlements.explain import Explanation
from tests.entitlements.helpers import (
    P2015,
    PCREDIT,
    PCUM,
    PHENAN,
    PVIP,
    card,
    flat,
    joined_for_tenure,
    run,
    star,
    sub,
)

RUN = "2026-11-06"
M = "2026-11"


def four_star_at_240() -> object:
    """Tenure 10 (score 1.0) and ARPU 240: four-star, 20 yuan short of five-star."""
    return run(P2015, RUN, sub(joined_for_tenure(M, 10)), flat(M, 24000))


def test_explanation_carries_inputs_figures_and_rules() -> None:
    # rule T1.4 and rule T1.6: ARPU, its months, tenure, scores and the threshold crossed.
    ev = four_star_at_240()
    e = ev.explanation  # type: ignore[attr-defined]  # Evaluation
    assert e.inputs["joined_on"] == "2026-02-15"
    assert e.figures["arpu_yuan"] == 240
    assert e.figures["n_months"] == 9
    assert e.figures["tenure_months"] == 10
    assert e.figures["tenure_score"] == "1"
    assert e.figures["value"] == "240"
    assert e.figures["threshold"] == "140"
    assert e.next == {"level": "five_star", "arpu_yuan": 260, "arpu_yuan_more": 20}
    assert e.rules == ("T1.2", "T1.3", "T1.4", "T1.5", "T1.6", "T1.7", "T1.9")


def test_round_trip_through_json() -> None:
    # rule T1.9: the explanation is stored with every evaluation.
    e = four_star_at_240().explanation  # type: ignore[attr-defined]  # Evaluation
    stored = json.loads(json.dumps(e.to_dict()))
    assert Explanation.from_dict(stored) == e


def test_stored_form_is_compact() -> None:
    # rule T1.9: ~1M explanations a month are stored; keep each small.
    e = four_star_at_240().explanation  # type: ignore[attr-defined]  # Evaluation
    assert len(json.dumps(e.to_dict(), separators=(",", ":"))) < 600


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({}, id="an empty object is not an explanation"),
        pytest.param({"v": 99}, id="an unknown format version is refused"),
        pytest.param({"v": 1, "rules": []}, id="missing fields are refused"),
    ],
)
def test_from_dict_refuses_garbage(bad: dict[str, object]) -> None:
    with pytest.raises(EntitlementsError):
        Explanation.from_dict(bad)


def test_render_in_english_says_what_it_takes() -> None:
    # rule T1.7: the agent can tell a customer what would make them five-star.
    text = four_star_at_240().explanation.render("en")  # type: ignore[attr-defined]
    assert "Level: four-star (newly rated)" in text
    assert "ARPU 240 yuan" in text
    assert "To reach five-star: ARPU 20 more yuan per month" in text
    assert "T1.7" in text


def test_render_in_chinese() -> None:
    # rule T1.7
    text = four_star_at_240().explanation.render("zh")  # type: ignore[attr-defined]
    assert "级别：四星客户（新评定）" in text
    assert "有效期至：2027年11月30日" in text
    assert "ARPU每月需再增加20元" in text


def test_render_refuses_other_languages() -> None:
    with pytest.raises(ValueError):
        four_star_at_240().explanation.render("fr")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("policy", "subscriber", "current", "legacy"),
    [
        pytest.param(P2015, sub(), None, None, id="a star explanation renders"),
        pytest.param(P2015, sub(flags=["data_card"]), None, None, id="an exclusion renders"),
        pytest.param(P2015, sub("2026-10-01"), None, None, id="a short tenure renders"),
        pytest.param(
            P2015,
            sub(),
            None,
            card("gold", "2026-03-05", "2027-03-08", source="import"),
            id="a deferred star under a legacy card renders",
        ),
        pytest.param(
            P2015,
            sub(status="cancelled"),
            star("four_star", "2026-06-01", "2027-05-31"),
            None,
            id="a cancellation renders",
        ),
        pytest.param(PVIP, sub(), None, None, id="a card explanation renders"),
        pytest.param(PHENAN, sub("2026-11-01", network="3g", lucky_class=1), None, None, id="a lucky card"),
        pytest.param(PCUM, sub(), None, None, id="a membership explanation renders"),
        pytest.param(PCREDIT, sub(brand="gotone"), None, None, id="a credit star renders"),
    ],
)
def test_every_kind_renders_in_both_languages(
    policy: object, subscriber: object, current: object, legacy: object
) -> None:
    # rule T1.9: every evaluation keeps an explanation an agent can read.
    ev = run(policy, RUN, subscriber, flat(M, 30000), current, legacy)  # type: ignore[arg-type]
    for lang in ("zh", "en"):
        text = ev.explanation.render(lang)
        assert ev.explanation.rules[0] in text
        assert len(text.splitlines()) >= 3
