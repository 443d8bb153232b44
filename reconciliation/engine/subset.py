"""One payment for several invoices of one contact: bounded subset sum.

Stripe's rule, which the research notes recommend: groups of up to five invoices whose total
equals the payment, the smallest group first, then the oldest invoices; a machine settles a
group only when it is the only one that fits. The candidates are capped (the contact's most
recent open invoices), so every group of up to ``max_size`` of ``n`` is enumerated with numpy
from cached index tables: C(16, <=5) is 6,884 groups, a few hundred microseconds.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np


@lru_cache(maxsize=256)
def _groups(n: int, size: int) -> np.ndarray:
    if size > n:
        return np.empty((0, size), dtype=np.int16)
    return np.array(list(combinations(range(n), size)), dtype=np.int16).reshape(-1, size)


def fitting_groups(amounts: np.ndarray, low: int, high: int, *, min_size: int = 2, max_size: int = 5, limit: int = 4) -> list[tuple[int, ...]]:
    """Groups (positions into ``amounts``, ascending) of ``min_size``..``max_size`` amounts whose
    total lies in [low, high], smallest groups first; at most ``limit`` (enough to know whether
    one is unique and to suggest a few). ``amounts`` are integers, in the caller's order of
    preference (oldest first)."""
    amounts = np.asarray(amounts, dtype=np.int64)
    found: list[tuple[int, ...]] = []
    n = len(amounts)
    if n < min_size:
        return found
    # Enough small amounts to reach ``low`` must exist at all.
    ordered = np.sort(amounts)
    for size in range(min_size, min(max_size, n) + 1):
        if ordered[-size:].sum() < low:
            continue
        if ordered[:size].sum() > high:
            break
        groups = _groups(n, size)
        totals = amounts[groups].sum(axis=1)
        hits = np.nonzero((totals >= low) & (totals <= high))[0]
        for hit in hits[: limit - len(found)]:
            found.append(tuple(int(i) for i in groups[hit]))
        if len(found) >= limit:
            break
    return found
