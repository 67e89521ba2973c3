"""Sums over a subscriber's monthly bills, in integer fen (hot path of the batch)."""

from __future__ import annotations

from entitlements.model import BillHistory


def billed_total(bills: BillHistory, first: int, last: int) -> int:
    """Billed fen over the months ``first``…``last`` (month indexes); no row counts 0."""
    if last < first:
        return 0
    seq = bills.billed_fen
    size = len(seq)
    hi = size - (int(bills.end) - last)
    lo = hi - (last - first + 1)
    lo = max(lo, 0)
    hi = min(hi, size)
    if hi <= lo:
        return 0
    part = seq[lo:hi]
    try:
        # Months without a bill row are rare; summing first and filtering only when one
        # shows up is the fast path of the batch.
        return sum(part)  # type: ignore[arg-type]  # None raises TypeError, handled below
    except TypeError:
        return sum(filter(None, part))  # drops the None months (and zeros, which add nothing)


def paid_in(bills: BillHistory, month: int) -> int:
    """Fen paid in ``month`` (0 without a row or outside the history)."""
    index = len(bills.paid_fen) - 1 - (int(bills.end) - month)
    if 0 <= index < len(bills.paid_fen):
        return bills.paid_fen[index] or 0
    return 0


def average_window(
    months: int, evaluation_month: int, join_month: int, skip_before_joining: bool
) -> tuple[int, int]:
    """The first and last month averaged for an evaluation (the months before it).

    With ``skip_before_joining`` the window starts no earlier than the joining month
    (fewer months when the tenure is shorter, T1.4 / T5.3); otherwise it is always
    ``months`` long and months before joining count as 0 (T2.1).
    """
    last = evaluation_month - 1
    first = evaluation_month - months
    if skip_before_joining and join_month > first:
        first = join_month
    return first, last
