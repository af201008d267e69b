"""Effective rank and normalised spectra on spectra known in closed form (Roy & Vetterli 2007:
erank = exp(H(p)), p_r = sigma_r / sum sigma)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.analysis.spectra import (
    effective_rank,
    effective_rank_of_spectrum,
    latent_covariance,
    normalised_spectrum,
    singular_values,
    svd_modes,
)


def _matrix_with_spectrum(sigma, m=7, n=6, seed=0):
    k = len(sigma)
    U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, k)))
    V, _ = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((n, k)))
    return (U * np.asarray(sigma)) @ V.T


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_k_equal_singular_values_have_effective_rank_k(k):
    W = _matrix_with_spectrum([2.5] * k)
    assert float(effective_rank(W)) == pytest.approx(k, rel=1e-10)
    assert float(effective_rank_of_spectrum(np.r_[np.full(k, 0.3), np.zeros(4)])) == pytest.approx(
        k, rel=1e-12
    )


def test_two_unequal_values_match_the_entropy_formula():
    p = np.array([0.75, 0.25])
    expected = np.exp(-(p * np.log(p)).sum())  # sigma = (3, 1)
    assert float(effective_rank(_matrix_with_spectrum([3.0, 1.0]))) == pytest.approx(
        expected, rel=1e-10
    )
    # geometric spectrum 1, 1/2, 1/4, 1/8
    sigma = 0.5 ** np.arange(4)
    p = sigma / sigma.sum()
    assert float(effective_rank_of_spectrum(sigma)) == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_effective_rank_is_scale_invariant_and_bounded():
    W = np.random.default_rng(3).standard_normal((8, 5))
    e = float(effective_rank(W))
    assert 1.0 < e < 5.0
    assert float(effective_rank(1e-6 * W)) == pytest.approx(e, rel=1e-10)


def test_singular_values_and_modes_reconstruct():
    sigma = [4.0, 2.0, 0.5]
    W = _matrix_with_spectrum(sigma)
    np.testing.assert_allclose(singular_values(W)[:3], sigma, rtol=1e-12)
    U, s, V = svd_modes(W)
    np.testing.assert_allclose((U * s) @ V.T, W, atol=1e-12)
    np.testing.assert_allclose(normalised_spectrum([0.5, 4.0, 2.0]), [1.0, 0.5, 0.125])


def test_latent_covariance_equals_numpy_cov():
    Z = jax.random.normal(jax.random.PRNGKey(0), (50, 4)) * jnp.array([3.0, 1.0, 0.2, 0.0])
    np.testing.assert_allclose(
        latent_covariance(Z), np.cov(np.asarray(Z), rowvar=False), atol=1e-12
    )
