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


def arrears_months_folded(
    billed_fen: Sequence[int], total_paid_fen: int, folded_billed_fen: int, unpaid_upto: Sequence[int]
) -> int:
    """`arrears_months` over older months known only by their sums, then `billed_fen`.

    The older months are `folded_billed_fen` in all; `unpaid_upto` holds, for each of them
    with a bill that the payments made in those months do not settle, the running bill total
    through it. Settled oldest first, such a month is paid once everything paid reaches its
    running total; once one is not, nothing is left for any later month with a bill.
    `total_paid_fen` is everything paid, in the older months too. Equal to `arrears_months`
    over every month held (no amount is negative)."""
    if total_paid_fen >= folded_billed_fen:  # the older months are paid off
        return arrears_months(billed_fen, total_paid_fen - folded_billed_fen)
    unpaid = sum(1 for running in unpaid_upto if running > total_paid_fen)
    return unpaid + sum(1 for amount in billed_fen if amount)
