"""Quick mode of arora-matrix-completion (30 x 30, rank 2, 250 observed entries, depths 1-3):
deeper factorisations reach lower effective rank and test error (Arora et al. 2019)."""

import numpy as np
import pytest
from _budget import check_compile_budget

SCENARIO = "arora-matrix-completion"
COMPILE_BUDGET = 26  # quick run, fresh process: 23 compilations measured (32 before issue 19)


def test_metrics_are_dicts_keyed_by_depth(quick):
    config, m = quick.config, quick.metrics
    for name in ("effective_rank", "test_rmse"):
        assert set(m[name]) == {str(N) for N in config.depths}


def test_depth_one_leaves_unobserved_entries_at_their_start(quick):
    # N = 1 is plain gradient flow: unobserved entries get no gradient and stay at the
    # O(scale / sqrt(n)) start, so the test RMSE is the RMS of W* over the unobserved entries.
    results = quick.results
    W_star, mask = results["W_star"], results["mask"]
    rms_unobserved = np.sqrt(np.mean(W_star[mask == 0] ** 2))
    assert results["metrics"]["test_rmse"]["1"] == pytest.approx(rms_unobserved, rel=2e-3)


def test_effective_rank_and_test_error_fall_with_depth(quick):
    m = quick.metrics
    erank, rmse = m["effective_rank"], m["test_rmse"]
    # every depth fits the observed entries: the differences are in generalisation
    assert max(m["train_rmse"].values()) < 0.05
    assert erank["1"] > erank["2"] > erank["3"]
    assert rmse["1"] > rmse["2"] > rmse["3"]
    assert erank["1"] > 5 * m["effective_rank_target"]  # shallow: nearly full rank
    assert erank["3"] == pytest.approx(m["effective_rank_target"], rel=0.1)  # depth 3: ~rank 2
    assert rmse["2"] < 0.5 * rmse["1"]
    assert rmse["3"] < 0.2 * rmse["1"]


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
