"""Quick-mode `autoencoder` on the digits: it must beat the trivial model that outputs the mean
training image (computed here from the data) and can never beat the entropy of the pixels
(Gibbs' inequality: BCE(x_hat, x) >= BCE(x, x) for x in [0, 1])."""

from __future__ import annotations

import numpy as np
import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario
from dynlearn.data.digits import load_digits_split


def bce(x_hat, x):
    x_hat = np.clip(x_hat, 1e-12, 1 - 1e-12)  # the clip of dynlearn.nn.losses
    return float(np.mean(-np.sum(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat), axis=1)))


SCENARIO = "autoencoder"
COMPILE_BUDGET = 44  # quick run, fresh process: 40 compilations measured (73 before issue 19)
QUICK_OVERRIDES = {"data": "digits"}


def test_beats_mean_image(quick):
    cfg, results = quick.config, quick.results
    m = results["metrics"]
    split = load_digits_split(seed=cfg.seed)
    x_tr, x_te = np.asarray(split.x_train), np.asarray(split.x_test)
    mean_image = np.broadcast_to(x_tr.mean(axis=0), x_te.shape)
    bce_mean, mse_mean = bce(mean_image, x_te), float(np.mean((mean_image - x_te) ** 2))
    assert m["bce_mean_image"] == pytest.approx(bce_mean, rel=1e-9)
    assert m["mse_mean_image"] == pytest.approx(mse_mean, rel=1e-9)
    assert bce(x_te, x_te) <= m["test_bce"] < 0.9 * bce_mean
    assert m["test_mse"] < 0.7 * mse_mean
    assert m["sizes"] == [64, 128, 2, 128, 64]


def test_figure_data(quick):
    cfg, results = quick.config, quick.results
    labels, codes = results["labels"], results["codes"]
    assert codes.shape == (len(labels), 2)
    a, b = cfg.interpolate
    np.testing.assert_allclose(results["path"][0], codes[labels == a].mean(0), atol=1e-12)
    np.testing.assert_allclose(results["path"][-1], codes[labels == b].mean(0), atol=1e-12)
    decoded = results["decoded"]
    assert decoded.shape == (cfg.steps, 64) and decoded.min() >= 0 and decoded.max() <= 1
    # the 2-D code separates classes: class means are farther apart than within-class spread
    means = np.array([codes[labels == k].mean(0) for k in range(10)])
    spread = np.mean([codes[labels == k].std(0).mean() for k in range(10)])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(10, 1)]
    assert np.median(gaps) > spread


def test_bad_interpolate():
    sc = load_scenario("autoencoder")
    with pytest.raises(
        ValueError, match=r"interpolate=0,12 is not valid: each entry must be in \[0, 9\]"
    ):
        sc.make_config(quick=True, overrides={"data": "digits", "interpolate": (0, 12)})


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
