"""One-to-one assignment of payments to invoices, per connected component, with a "no match"
option, and the test that keeps ties from being decided by a machine.

Each payment row gets a private dummy column worth the suggestion threshold, so a pair below
it is never chosen (scipy's ``linear_sum_assignment`` on a small dense matrix; components are
independent, so solving them one by one is exact and far cheaper than one global matching).
A chosen pair is *unique* when forbidding it lowers the best total by at least ``margin``
log-odds: two invoices of the same amount and contact, or two payments for one invoice, give
a drop of zero and are left to a person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

FORBIDDEN = 1e9
EXACT_UNIQUENESS_LIMIT = 40  # rows; above it a one-swap bound is used (components are rarely this big)


@dataclass(frozen=True, slots=True)
class Assigned:
    row: int
    col: int
    weight: float
    drop: float  # how much the best total loses without this pair (>= margin: unique)


def components(edges: Iterable[tuple[int, int, float]]) -> list[list[tuple[int, int, float]]]:
    """Split (row, col, weight) edges into connected components (union-find)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    edge_list = list(edges)
    for row, col, _ in edge_list:
        a, b = find(("r", row)), find(("c", col))
        if a != b:
            parent[a] = b
    grouped: dict[tuple[str, int], list[tuple[int, int, float]]] = defaultdict(list)
    for edge in edge_list:
        grouped[find(("r", edge[0]))].append(edge)
    return list(grouped.values())


def _solve(weights: np.ndarray, threshold: float) -> tuple[float, np.ndarray]:
    """Best total and the column of each row (-1 = no match) for a rows x cols weight matrix
    (``-inf`` where no edge)."""
    rows, cols = weights.shape
    cost = np.full((rows, cols + rows), FORBIDDEN)
    finite = np.isfinite(weights)
    cost[:, :cols][finite] = -weights[finite]
    cost[np.arange(rows), cols + np.arange(rows)] = -threshold
    row_ind, col_ind = linear_sum_assignment(cost)
    total = float(cost[row_ind, col_ind].sum())
    chosen = np.where(col_ind < cols, col_ind, -1)
    out = np.full(rows, -1)
    out[row_ind] = chosen
    return total, out


def assign(edges: Iterable[tuple[int, int, float]], *, threshold: float, margin_of_interest: float) -> list[Assigned]:
    """Solve every component; report each chosen pair with its uniqueness drop. The drop is
    computed exactly (one re-solve per pair) for pairs weighing at least ``margin_of_interest``
    in components up to ``EXACT_UNIQUENESS_LIMIT`` rows, by a one-swap bound above that, and
    not at all for lighter pairs (drop 0: they will not be decided automatically anyway)."""
    result: list[Assigned] = []
    for component in components(edges):
        rows = sorted({r for r, _, _ in component})
        cols = sorted({c for _, c, _ in component})
        if len(component) == 1:
            row, col, weight = component[0]
            if weight > threshold:
                result.append(Assigned(row, col, weight, weight - threshold))
            continue
        r_pos = {r: i for i, r in enumerate(rows)}
        c_pos = {c: j for j, c in enumerate(cols)}
        matrix = np.full((len(rows), len(cols)), -np.inf)
        for row, col, weight in component:
            matrix[r_pos[row], c_pos[col]] = max(matrix[r_pos[row], c_pos[col]], weight)
        total, chosen = _solve(matrix, threshold)
        exact = len(rows) <= EXACT_UNIQUENESS_LIMIT
        for i, j in enumerate(chosen):
            if j < 0:
                continue
            weight = float(matrix[i, j])
            drop = 0.0
            if weight >= margin_of_interest:
                if exact:
                    forbidden = matrix.copy()
                    forbidden[i, j] = -np.inf
                    drop = _solve(forbidden, threshold)[0] - total
                else:
                    drop = _one_swap_drop(matrix, chosen, i, j, threshold)
            result.append(Assigned(rows[i], cols[j], weight, drop))
    return result


def _one_swap_drop(matrix: np.ndarray, chosen: np.ndarray, i: int, j: int, threshold: float) -> float:
    weight = matrix[i, j]
    taken = set(int(c) for c in chosen if c >= 0)
    free = [c for c in range(matrix.shape[1]) if c not in taken and np.isfinite(matrix[i, c])]
    alternative = max([threshold] + [float(matrix[i, c]) for c in free])
    loss = weight - alternative
    gain = 0.0
    for other in range(matrix.shape[0]):
        if other == i or not np.isfinite(matrix[other, j]):
            continue
        current = matrix[other, chosen[other]] if chosen[other] >= 0 else threshold
        gain = max(gain, float(matrix[other, j] - current))
    return float(loss - gain)
