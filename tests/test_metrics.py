"""Routing metrics against tables computed by hand (RouteLLM definitions)."""
from __future__ import annotations

import math

import pytest

from hybrid_magic.experiments.metrics import (
    achievable_gain_share,
    apgr,
    apgr_from_points,
    auroc,
    cpt,
    perfect_apgr,
    pgr,
    roc_points,
    router_summary,
    routing_curve,
)

LOCAL = [1, 1, 0, 0]  # the local model is wrong on items 2 and 3
ORACLE = [1, 1, 1, 1]


def test_auroc_counts_ordered_pairs_and_half_ties():
    # wrong items score 0.9 and 0.3, right ones 0.8 and 0.1: 3 of 4 pairs ordered
    assert auroc([0.9, 0.8, 0.3, 0.1], [True, False, True, False]) == 0.75
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.1, 0.9], [True, False]) == 0.0
    assert math.isnan(auroc([0.1, 0.2], [True, True]))


def test_auroc_ranks_missing_values_lowest():
    assert auroc([float("nan"), 0.2], [False, True]) == 1.0


def test_roc_points_run_from_origin_to_one_one():
    fpr, tpr = roc_points([0.9, 0.8, 0.3, 0.1], [True, False, True, False])
    assert list(fpr) == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert list(tpr) == [0.0, 0.5, 0.5, 1.0, 1.0]


def test_routing_curve_hands_off_riskiest_first():
    shares, quality = routing_curve([0.1, 0.2, 0.9, 0.8], LOCAL, ORACLE)
    assert list(shares) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(quality) == [0.5, 0.75, 1.0, 1.0, 1.0]


def test_apgr_of_perfect_random_and_reversed_routers():
    assert apgr([0.1, 0.2, 0.9, 0.8], LOCAL, ORACLE) == 0.75  # = 1 - error share / 2
    assert perfect_apgr(LOCAL, ORACLE) == 0.75
    assert apgr([0, 0, 0, 0], LOCAL, ORACLE) == 0.5  # one tie group = random
    assert apgr([0.9, 0.8, 0.1, 0.2], LOCAL, ORACLE) == 0.25


def test_perfect_router_when_the_cloud_is_sometimes_worse():
    # weak 0.5, strong 0.75; sending items 1 and 2 first reaches quality 1.0 (PGR 2)
    assert perfect_apgr([1, 0, 0, 1], [0, 1, 1, 1]) == pytest.approx(1.375)


def test_cpt_interpolates_along_the_curve():
    shares, pgrs = [0, 0.25, 0.5, 0.75, 1], [0, 0.5, 1, 1, 1]
    assert cpt(shares, pgrs, 0.5) == 0.25
    assert cpt(shares, pgrs, 0.8) == pytest.approx(0.4)
    assert cpt(shares, pgrs, 0.95) == pytest.approx(0.475)
    assert math.isnan(cpt([0, 1], [0, 0.4], 0.5))


def test_apgr_from_sweep_points_adds_the_end_points():
    assert apgr_from_points([0.5], [0.75], weak=0.5, strong=1.0) == 0.5
    assert apgr_from_points([0.25], [1.0], weak=0.5, strong=1.0) == pytest.approx(0.25 * 0.5 + 0.75)


def test_pgr_is_undefined_without_a_gap():
    assert math.isnan(float(pgr(0.7, weak=0.8, strong=0.8)))
    assert pgr(0.9, weak=0.8, strong=1.0) == pytest.approx(0.5)


def test_router_summary_and_share_of_achievable_gain():
    summary = router_summary([0.1, 0.2, 0.9, 0.8], LOCAL, ORACLE)
    assert summary["apgr"] == 0.75 and summary["auroc"] == 1.0 and summary["gain_share"] == 1.0
    assert summary["cpt50"] == 0.25
    assert achievable_gain_share(0.625, 0.75) == 0.5
