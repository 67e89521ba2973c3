"""Arrears (SPEC §6, used by R7/R8) from folded bill months (sql/053): the same count as
over every month held, whatever the history and wherever the fold cuts it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from entitlements.arrears import arrears_months, arrears_months_folded

# Coarse amounts (whole hundreds of fen, zeros often), so payments meet running totals exactly.
amounts = st.integers(min_value=0, max_value=4).map(lambda n: n * 100)
months = st.lists(st.tuples(amounts, amounts), max_size=30)


@given(
    months,
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=20).map(lambda n: n * 100),
)
def test_folded_months_in_arrears_are_those_of_every_month_held(
    history: list[tuple[int, int]], cut: int, paid_since: int
) -> None:
    # rule R7 rule R8: payments settle the oldest bill first; a month not fully settled is
    # in arrears. The months before `cut` are folded as sql/053 folds them: their sums, and
    # the running bill totals (months with a bill) that their own payments do not reach.
    folded, kept = history[:cut], history[cut:]
    folded_billed = sum(b for b, _ in folded)
    folded_paid = sum(p for _, p in folded)
    running, unpaid_upto = 0, []
    for billed, _ in folded:
        running += billed
        if billed and running > folded_paid:
            unpaid_upto.append(running)
    total = folded_paid + sum(p for _, p in kept) + paid_since
    billed_kept = [b for b, _ in kept]
    assert arrears_months_folded(billed_kept, total, folded_billed, unpaid_upto) == arrears_months(
        [b for b, _ in history], total
    )
