"""T1.9: the SMS that announces a changed level and its validity."""

from __future__ import annotations

import pytest

from entitlements.sms import needs_sms, sms_text
from entitlements.tiers import Evaluation
from tests.entitlements.helpers import P2015, PVIP, card, flat, joined_for_tenure, run, star, sub

RUN = "2026-11-06"
M = "2026-11"


def four_star_at_240() -> Evaluation:
    """Tenure 10 (score 1.0) and ARPU 240: four-star, 20 yuan short of five-star."""
    return run(P2015, RUN, sub(joined_for_tenure(M, 10)), flat(M, 24000))


def test_sms_announces_level_and_validity() -> None:
    # rule T1.9: the result is sent to the customer by SMS.
    ev = four_star_at_240()
    assert needs_sms(ev)
    text = sms_text(ev)
    assert "四星客户" in text
    assert "2026年12月1日起生效" in text
    assert "有效期至2027年11月30日" in text


def test_sms_for_a_card_names_the_8th() -> None:
    # rule T2.5
    ev = run(PVIP, RUN, sub(), flat(M, 30000))
    assert "有效期至2027年11月8日" in sms_text(ev)


def test_no_sms_for_a_held_level() -> None:
    # rule T1.9
    ev = run(P2015, RUN, sub(), flat(M, 0), star("four_star", "2026-06-01", "2027-05-31"))
    assert ev.change == "held"
    assert not needs_sms(ev)
    with pytest.raises(ValueError):
        sms_text(ev)


def test_sms_when_a_level_expires() -> None:
    # rule T2.5
    ev = run(PVIP, RUN, sub(), flat(M, 0), card("silver", "2025-12-05", "2026-12-08"))
    assert ev.change == "expired"
    assert "终止" in sms_text(ev)
