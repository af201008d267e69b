"""Quick mode of irmae (60 epochs on the 8x8 digits): the extra linear layers collapse the
latent spectrum (Jing, Zbontar & LeCun 2020), at the error of a plain AE of that width."""

import numpy as np
import pytest
from _budget import check_compile_budget

SCENARIO = "irmae"
COMPILE_BUDGET = 58  # quick run, fresh process: 53 compilations measured (125 before issue 19)


def test_irmae_latent_rank_is_clearly_lower(quick):
    config, results = quick.config, quick.results
    m = results["metrics"]
    for name in ("ae", "irmae", "ae_small"):
        assert 1.0 <= m[f"effective_rank_{name}"] <= config.latent
    assert m["effective_rank_irmae"] < 0.7 * m["effective_rank_ae"]
    assert m["rank_99_irmae"] < 0.7 * m["rank_99_ae"]
    # IRMAE's spectrum falls off a cliff: its last latent directions carry ~no variance,
    # while the plain AE uses all of them
    assert results["spectra"]["irmae"][-1] < 1e-4
    assert results["spectra"]["ae"][-1] > 1e-3


def test_irmae_error_is_comparable(quick):
    results = quick.results
    m = results["metrics"]
    # both reconstruct far better than the mean training image (test MSE 0.074)
    assert max(m["test_mse_ae"], m["test_mse_irmae"]) < 0.02
    # comparable to a plain AE given only IRMAE's 99 %-variance rank as latent width
    assert m["test_mse_irmae"] < 1.25 * m["test_mse_ae_small"]
    assert m["effective_rank_irmae"] < 1.25 * m["effective_rank_ae_small"]
    # but not free: the wide plain AE fits better
    assert m["test_mse_ae"] < m["test_mse_irmae"]


def test_metrics_match_the_spectra(quick):
    results = quick.results
    spectrum = results["spectra"]["irmae"]
    p = spectrum / spectrum.sum()
    p = p[p > 0]
    assert results["metrics"]["effective_rank_irmae"] == pytest.approx(
        np.exp(-(p * np.log(p)).sum()), rel=1e-9
    )


def test_compiles_within_budget(quick):
    check_compile_budget(quick, COMPILE_BUDGET)
