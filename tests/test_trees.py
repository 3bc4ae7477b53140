"""router/trees.py: gradient-boosted trees as arrays (the default router's nonlinear part). Pure logic: a
hand-made tree, then scikit-learn's own trees against their arrays."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hybrid_magic.router.trees import LEAF, Trees, from_nodes


def _stump_then_split():
    """Column 0 at or below 0 -> leaf 1.0 (30 answers); above -> column 1 at or below 2 -> -1.0 (10), else 3.0 (20)."""
    nodes = [{"feature": 0, "threshold": 0.0, "left": 1, "right": 2, "value": 99.0, "count": 0},
             {"feature": LEAF, "threshold": 0.0, "left": 0, "right": 0, "value": 1.0, "count": 30},
             {"feature": 1, "threshold": 2.0, "left": 3, "right": 4, "value": 99.0, "count": 0},
             {"feature": LEAF, "threshold": 0.0, "left": 0, "right": 0, "value": -1.0, "count": 10},
             {"feature": LEAF, "threshold": 0.0, "left": 0, "right": 0, "value": 3.0, "count": 20}]
    return from_nodes([nodes], depth=2)


def test_a_tree_counts_from_its_root_and_splits_its_output_among_the_columns_it_read():
    trees = _stump_then_split()
    root = (30 * 1.0 + 10 * -1.0 + 20 * 3.0) / 60  # a split's value: the count-weighted mean of its leaves
    assert trees.roots == pytest.approx(root)
    rows = np.array([[-1.0, 9.0], [1.0, 2.0], [1.0, 5.0], [0.0, 0.0]])  # at the threshold: left
    assert trees.output(rows) == pytest.approx(np.array([1.0, -1.0, 3.0, 1.0]) - root)
    right_side = (10 * -1.0 + 20 * 3.0) / 30
    assert trees.pushes(rows[1], 3) == pytest.approx([right_side - root, -1.0 - right_side, 0.0])
    assert trees.pushes(rows[0], 3) == pytest.approx([1.0 - root, 0.0, 0.0])  # column 1 never read on its path
    again = Trees.from_data(trees.data())
    assert np.array_equal(again.output(rows), trees.output(rows))
    none = from_nodes([], depth=3)  # a group no tree split on: an empty sum, also once shipped as data
    for empty in (none, Trees.from_data(json.loads(json.dumps(none.data())))):
        assert not empty.output(rows).any() and not empty.pushes(rows[0], 3).any() and empty.roots == 0.0


def test_trees_as_arrays_compute_what_scikit_learn_computes():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from hybrid_magic.experiments.learned import _grouped_trees

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 5))
    y = X[:, 0] * X[:, 1] + X[:, 3] > 0
    model = HistGradientBoostingClassifier(max_depth=3, max_iter=40, early_stopping=False, random_state=0,
                                           interaction_cst=[[0, 1, 2], [3, 4]]).fit(X, y)
    first, second = _grouped_trees(model, 3)
    assert len(first.feature) + len(second.feature) == 40
    assert set(first.feature.ravel()) <= {LEAF, 0, 1, 2} and set(second.feature.ravel()) <= {LEAF, 0, 1}
    baseline = float(np.ravel(model._baseline_prediction)[0]) + first.roots + second.roots
    ours = baseline + first.output(X[:, :3]) + second.output(X[:, 3:])
    assert np.allclose(ours, model.decision_function(X))
    for row in X[:20]:  # the pushes of a row add up to its output
        assert first.pushes(row[:3], 3).sum() == pytest.approx(first.output(row[:3])[0])
        assert second.pushes(row[3:], 2).sum() == pytest.approx(second.output(row[3:])[0])


def test_joined_trees_add_their_outputs_pushes_and_roots_whatever_their_widths_and_depths():
    from hybrid_magic.router.trees import joined

    deep = _stump_then_split()  # five nodes, two levels
    stump = from_nodes([[{"feature": 1, "threshold": 0.5, "left": 1, "right": 2, "value": 0.0, "count": 0},
                         {"feature": LEAF, "threshold": 0.0, "left": 0, "right": 0, "value": -2.0, "count": 5},
                         {"feature": LEAF, "threshold": 0.0, "left": 0, "right": 0, "value": 4.0, "count": 15}]],
                       depth=1)
    rows = np.array([[-1.0, 9.0], [1.0, 0.0], [1.0, 5.0], [0.0, 0.5]])
    both = joined(deep, stump)
    assert both.feature.shape == (2, 5) and both.depth == 2
    assert both.output(rows) == pytest.approx(deep.output(rows) + stump.output(rows))
    assert both.roots == pytest.approx(deep.roots + stump.roots)
    assert both.pushes(rows[1], 2) == pytest.approx(deep.pushes(rows[1], 2) + stump.pushes(rows[1], 2))
    assert joined(None, stump) is stump
    again = Trees.from_data(json.loads(json.dumps(both.data())))
    assert np.array_equal(again.output(rows), both.output(rows))
