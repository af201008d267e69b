"""Quick-mode `mnist`: accuracy on the bundled digits, and the MNIST-file path end to end on a
tiny synthetic IDX directory (a linearly separable task: class k lights rows 2k+4, 2k+5)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _budget import check_compile_budget

from dynlearn.app.scenario import load_scenario
from dynlearn.data.idx import write_idx

SCENARIO = "mnist"
COMPILE_BUDGET = 40  # quick run, fresh process: 36 compilations measured (69 before issue 19)
QUICK_OVERRIDES = {"data": "digits"}


def test_digits_quick(quick):
    cfg, results = quick.config, quick.results
    m = quick.metrics
    assert m["dataset"] == "digits" and m["sizes"] == [64, 128, 64, 10]
    assert m["n_train"] + m["n_test"] == 1797
    assert m["test_accuracy"] >= 0.95  # full run (100 epochs): >= 0.97
    C = results["confusion"]
    assert C.sum() == m["n_test"]
    assert np.trace(C) / C.sum() == pytest.approx(m["test_accuracy"])
    # cross-entropy fell from about ln 10 (near-uniform softmax at init) by a factor > 10
    assert results["test_loss"][-1] < 0.1 * results["test_loss"][0]
    assert results["filters"].shape == (cfg.n_filters, 64)


def synthetic_mnist(directory, n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, size=(n, 28, 28))
    for i, k in enumerate(labels):
        images[i, 2 * k + 4 : 2 * k + 6, 4:24] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def test_mnist_files_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv("DYNLEARN_DATA", raising=False)
    data = tmp_path / "data" / "mnist"
    data.mkdir(parents=True)
    x_tr, y_tr = synthetic_mnist(data, 300, seed=0)
    x_te, y_te = synthetic_mnist(data, 100, seed=1)
    write_idx(data / "train-images-idx3-ubyte.gz", x_tr)
    write_idx(data / "train-labels-idx1-ubyte.gz", y_tr)
    write_idx(data / "t10k-images-idx3-ubyte", x_te)
    write_idx(data / "t10k-labels-idx1-ubyte", y_te)
    overrides = {"data_dir": str(tmp_path / "data"), "epochs": 5, "batch_size": 50}
    record = load_scenario("mnist").execute(tmp_path / "out", quick=True, overrides=overrides)
    m = record["metrics"]
    assert m["dataset"] == "mnist" and m["sizes"] == [784, 128, 64, 10]
    assert m["n_train"] == 300 and m["n_test"] == 100 and m["batch_size"] == 50
    assert m["test_accuracy"] >= 0.95
    assert (tmp_path / "out" / "mnist.png").stat().st_size > 10_000
    assert (
        json.loads((tmp_path / "out" / "mnist.json").read_text())["metrics"]["dataset"] == "mnist"
    )


def test_missing_files_named_before_the_run(tmp_path):
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):  # a ConfigError: exit 2
        load_scenario("mnist").make_config(
            quick=True, overrides={"data": "fashion-mnist", "data_dir": str(tmp_path)}
        )


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
