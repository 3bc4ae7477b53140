"""Gradient-boosted trees as plain arrays: a learned policy's nonlinear part, live and shipped as data.

The default router (benchmarks/heldout/log.md, candidates 17 and 18) adds small trees to its weights, over the same
standardised, bounded values: trees over the signals and trees over the answer's token features, no tree mixing
the two. Each tree's output is counted from its root's value (the count-weighted mean of its leaves over the
training answers: its average output), and the roots go into the policy's bias. A decision is explained feature
by feature: along the path a row takes through a tree, each split's change of node value is that split's
feature's push (the pushes of a row add up to its trees' output). Evaluation walks all trees at once, level by
level (numpy): no Python loop per tree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEAF = -1  # `feature` of a leaf (and of the padding after a tree's last node)


@dataclass
class Trees:
    """One row per tree, one column per node (padded): the column a split reads (LEAF at a leaf), its threshold
    (at or below: left), its children, and each node's value (a leaf's output; a split's, the count-weighted mean
    of its leaves)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int

    def __post_init__(self) -> None:
        # flat views for the walk: a node is tree * width + column; children as flat indices too
        width = self.feature.shape[1]
        offsets = (np.arange(len(self.feature)) * width)[:, None]
        self._feature, self._threshold, self._value = (a.ravel() for a in (self.feature, self.threshold, self.value))
        self._left, self._right = (np.ravel(a + offsets) for a in (self.left, self.right))
        self._roots = offsets.ravel()

    def _paths(self, Z: np.ndarray):
        """For each level: (rows x trees) flat node reached before the level, the node after it, whether it split,
        and the column it read."""
        rows, node = np.arange(len(Z))[:, None], np.broadcast_to(self._roots, (len(Z), len(self._roots)))
        for _ in range(self.depth):
            column = self._feature[node]
            split = column != LEAF
            goes_left = Z[rows, np.where(split, column, 0)] <= self._threshold[node]
            after = np.where(split, np.where(goes_left, self._left[node], self._right[node]), node)
            yield node, after, split, column
            node = after

    def output(self, Z: np.ndarray) -> np.ndarray:
        """Each row's summed output over the trees, counted from the roots (rows of standardised, bounded values)."""
        Z = np.atleast_2d(np.asarray(Z, dtype=float))
        *_, (_, leaf, _, _) = self._paths(Z)
        return (self._value[leaf] - self._value[self._roots]).sum(axis=1)

    def pushes(self, z: np.ndarray, columns: int) -> np.ndarray:
        """One row's output split among its `columns` (each split's change of node value to the column it read)."""
        push = np.zeros(columns)
        for before, after, split, column in self._paths(np.asarray(z, dtype=float)[None, :]):
            change = self._value[after] - self._value[before]
            push += np.bincount(column[split], weights=change[split], minlength=columns)
        return push

    @property
    def roots(self) -> float:
        """The summed root values: what a policy's bias holds of these trees."""
        return float(self._value[self._roots].sum())

    def data(self) -> dict:
        return {"depth": self.depth, "feature": self.feature.tolist(), "threshold": self.threshold.tolist(),
                "left": self.left.tolist(), "right": self.right.tolist(), "value": self.value.tolist()}

    @classmethod
    def from_data(cls, data: dict) -> Trees:
        def rows(key: str, dtype) -> np.ndarray:  # no trees: `[]`, back to 0 rows of one padded node
            return np.array(data[key], dtype=dtype).reshape(len(data[key]), -1 if data[key] else 1)
        return cls(rows("feature", int), rows("threshold", float), rows("left", int), rows("right", int),
                   rows("value", float), int(data["depth"]))


def from_nodes(node_lists: list[list[dict]], depth: int) -> Trees:
    """Trees from nodes given as dicts (feature: a column or LEAF, threshold, left, right, value, count), root
    first; a split's value is recomputed as the count-weighted mean of its children (bottom-up)."""
    width = max((len(nodes) for nodes in node_lists), default=1)  # no trees: an empty sum
    shape = (len(node_lists), width)
    feature, left, right = np.full(shape, LEAF), np.zeros(shape, dtype=int), np.zeros(shape, dtype=int)
    threshold, value = np.zeros(shape), np.zeros(shape)
    for t, nodes in enumerate(node_lists):
        counts = np.array([float(n["count"]) for n in nodes])
        values = np.array([float(n["value"]) for n in nodes])
        for i in reversed(range(len(nodes))):  # children come after their parent
            n = nodes[i]
            if n["feature"] != LEAF:
                low, high = n["left"], n["right"]
                counts[i] = counts[low] + counts[high]
                values[i] = (counts[low] * values[low] + counts[high] * values[high]) / max(counts[i], 1.0)
                feature[t, i], threshold[t, i], left[t, i], right[t, i] = n["feature"], n["threshold"], low, high
        value[t, :len(nodes)] = values
    return Trees(feature, threshold, left, right, value, depth)


def joined(first: Trees | None, second: Trees) -> Trees:
    """Both groups of trees as one (their outputs add up): rows padded to the wider, walked to the deeper."""
    if first is None:
        return second
    width = max(first.feature.shape[1], second.feature.shape[1])

    def padded(a: np.ndarray, fill) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

    parts = [(padded(t.feature, LEAF), padded(t.threshold, 0.0), padded(t.left, 0), padded(t.right, 0),
              padded(t.value, 0.0)) for t in (first, second)]
    return Trees(*(np.vstack(pair) for pair in zip(*parts)), max(first.depth, second.depth))
