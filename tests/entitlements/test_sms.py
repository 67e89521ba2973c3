"""T1.9: the SMS that announces a changed level and its validity."""

from __future__ import annotations

from pathlib import Path

import pytest

from entitlements.policy import Policy, load_policy
from entitlements.sms import needs_sms, sms_text
from entitlements.tiers import Evaluation
from tests.entitlements.helpers import P2015, PCREDIT, PVIP, card, flat, joined_for_tenure, run, star, sub

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


@pytest.mark.parametrize(
    ("policy", "brand", "hotline"),
    [
        pytest.param(
            P2015, "【中国联通】", "10010", id="a Unicom star SMS is signed China Unicom and names 10010"
        ),
        pytest.param(PVIP, "【中国联通】", "10010", id="a Unicom card SMS is signed China Unicom"),
        pytest.param(
            PCREDIT, "【中国移动】", "10086", id="a credit-star SMS is signed China Mobile and names 10086"
        ),
    ],
)
def test_brand_and_hotline_come_from_the_policy(policy: Policy, brand: str, hotline: str) -> None:
    # rule T1.9 and rule T5.5: [sms] brand and hotline are policy data.
    ev = run(policy, RUN, sub(brand="gotone", joined="2015-01-10"), flat(M, 60000))
    text = sms_text(ev, policy)
    assert text.startswith(f"{brand}尊敬的客户")
    assert text.endswith(f"详询{hotline}。")
    assert (policy.sms.brand, policy.sms.hotline) == (brand, hotline)


def test_an_override_resigns_the_sms(tmp_path: Path) -> None:
    # rule T1.9: a province changes the signature and hotline in its override file.
    path = tmp_path / "sms.toml"
    path.write_text('[sms]\nbrand = "【河南联通】"\nhotline = "10018"\n', "utf-8")
    policy = load_policy("unicom-2015", path)
    text = sms_text(four_star_at_240(), policy)
    assert text.startswith("【河南联通】")
    assert "详询10018" in text
