"""The scan of the run's log for raw numbers and secrets: it finds them, and only them."""

from __future__ import annotations

import pytest

from tests.conftest import log_leaks


@pytest.mark.parametrize(
    "line",
    [
        '{"event":"request","caller":"13812345678"}',
        '{"event":"x","note":"tried 246810"}',
        '{"event":"x","service_password":"***"}',
        '{"event":"x","token":"cg_agent_abcdefghijklmnopqrstuvwxyz"}',
        '{"event":"x","caller":"١٣٨١٢٣٤٥٦٧٨"}',
    ],
)
def test_a_leak_is_found_and_shown(line: str) -> None:
    # §6: numbers are masked in logs; what must never be logged is caught, and the report shows where
    (leak,) = log_leaks([line])
    assert "»" in leak and "«" in leak


@pytest.mark.parametrize(
    "line",
    [
        '{"event":"request","ms":27.917,"timestamp":"2026-12-06T19:23:07.246810Z"}',
        '{"event":"request","timestamp":"2026-12-06T19:23:07.135790Z"}',
        '{"event":"request","caller":"138****5678","request_id":"3df82156-1d02"}',
    ],
)
def test_a_timestamp_or_a_masked_number_is_not_a_leak(line: str) -> None:
    # six digits of microseconds that happen to spell a test password are no leak
    assert log_leaks([line]) == []
