"""Arrears (SPEC §6, used by R7/R8): payments settle the oldest unpaid bill first; a
bill month still not fully paid is a month in arrears."""

from __future__ import annotations

from collections.abc import Sequence


def arrears_months(billed_fen: Sequence[int], total_paid_fen: int) -> int:
    """Bill months (oldest first) not fully covered by everything paid, oldest settled first."""
    remaining = total_paid_fen
    unpaid = 0
    for amount in billed_fen:
        if remaining >= amount:
            remaining -= amount
        else:
            remaining = 0
            unpaid += 1
    return unpaid


def outstanding_fen(billed_fen: Sequence[int], total_paid_fen: int) -> int:
    """What is still owed (0 when everything billed is paid)."""
    return max(0, sum(billed_fen) - total_paid_fen)
