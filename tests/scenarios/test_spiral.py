"""Quick-mode `spiral` (150 epochs instead of 1000): the 2-32-4 ReLU network must learn the
4-class spiral far beyond what a linear classifier can (multinomial logistic regression,
fitted here on the same data: about 0.5 test accuracy) and beyond chance (0.25), with a
cross-entropy well below its chance value ln 4; and the SGD loop must be Euler's method on
the backprop flow, exactly (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _budget import check_compile_budget
from sklearn.linear_model import LogisticRegression

from dynlearn.data.spiral import spiral_split

SCENARIO = "spiral"


def test_quick_accuracy_beats_linear_model(quick):
    cfg, results = quick.config, quick.results
    m = results["metrics"]
    x, y, xt, yt = spiral_split(
        cfg.seed, cfg.n_per_class, cfg.test_n_per_class, 0, cfg.num_classes, cfg.noise
    )
    linear = LogisticRegression(max_iter=1000).fit(np.asarray(x), np.asarray(y).argmax(1))
    linear_acc = linear.score(np.asarray(xt), np.asarray(yt).argmax(1))
    assert linear_acc < 0.7
    # test points the figure shows are the ones scored
    np.testing.assert_array_equal(results["x_test"], np.asarray(xt))
    assert m["test_accuracy"] >= 0.93
    assert m["train_accuracy"] >= 0.93
    assert m["test_accuracy"] > linear_acc + 0.3
    assert abs(m["train_accuracy"] - m["test_accuracy"]) < 0.05  # same distribution
    # accuracies are fractions of the 400 training / 1000 test points
    assert m["train_accuracy"] * 400 == pytest.approx(round(m["train_accuracy"] * 400), abs=1e-9)
    assert m["test_accuracy"] * 1000 == pytest.approx(round(m["test_accuracy"] * 1000), abs=1e-9)


def test_quick_losses(quick):
    results = quick.results
    m = results["metrics"]
    assert m["test_loss"] < 0.2 * math.log(4)
    assert m["train_loss"] < 0.2 * math.log(4)
    assert m["initial_train_loss"] > 0.5 * math.log(4)
    assert len(results["train_loss"]) == 150
    assert results["train_loss"][-1] < results["train_loss"][0]


def test_sgd_loop_is_euler_on_the_backprop_flow(quick):
    results = quick.results
    assert results["metrics"]["euler_vs_sgd_max_abs_diff"] < 1e-12
    assert results["metrics"]["num_steps"] == 150 * 40


def test_decision_regions_cover_every_class(quick):
    results = quick.results
    assert set(np.unique(results["regions"])) == {0, 1, 2, 3}


def test_seed_statistics_over_a_full_run_style_config(quick_run):
    run = quick_run("spiral", epochs=20, num_seeds=3)
    m = run.metrics
    acc = np.asarray(m["test_accuracy_per_seed"])
    assert len(acc) == 3
    mean = acc.sum() / 3
    assert m["test_accuracy_std_sample"] == pytest.approx(
        math.sqrt(((acc - mean) ** 2).sum() / 2), rel=1e-12
    )
    assert m["test_accuracy_max"] == acc.max() and m["test_accuracy_min"] == acc.min()


# quick run in a fresh process: 27 compilations measured (was 27 before issue 19)
COMPILE_BUDGET = 30


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
