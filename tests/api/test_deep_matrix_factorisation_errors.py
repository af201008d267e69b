"""Bad input to the deep-matrix-factorisation rules and spectra helpers raises ValueError
saying what is valid."""

import jax
import jax.numpy as jnp
import pytest

from dynlearn.analysis.spectra import effective_rank, effective_rank_of_spectrum, latent_covariance
from dynlearn.rules.linear.matrix_factorisation import (
    MatrixCompletionLoss,
    QuadraticLoss,
    balanced_factors,
    balancedness,
    random_small_init,
)
from dynlearn.rules.linear.singular_values import SingularValueFlow, svd_state, theorem3_rates


def test_balanced_factors_reject_rank_above_narrowest_width():
    W0 = jnp.eye(4)
    with pytest.raises(ValueError, match="rank > 2"):
        balanced_factors(W0, (5, 2))
    with pytest.raises(ValueError, match="2-D"):
        balanced_factors(jnp.ones(3), (2,))
    with pytest.raises(ValueError, match="positive integers"):
        balanced_factors(W0, (0,))


def test_factors_must_chain():
    with pytest.raises(ValueError, match="do not chain"):
        balancedness((jnp.ones((3, 2)), jnp.ones((4, 5))))
    with pytest.raises(ValueError, match="at least one factor"):
        balancedness(())


def test_bad_depth_scale_and_shapes():
    with pytest.raises(ValueError, match="depth N must be a positive integer"):
        SingularValueFlow(QuadraticLoss(jnp.eye(2)), 0)
    with pytest.raises(ValueError, match="depth N must be a positive integer"):
        theorem3_rates(jnp.eye(2), jnp.eye(2), jnp.ones(2), jnp.eye(2), 1.5)
    with pytest.raises(ValueError, match="scale must be positive"):
        random_small_init(jax.random.PRNGKey(0), 3, 3, (3,), scale=0.0)
    with pytest.raises(ValueError, match="same shape"):
        MatrixCompletionLoss(jnp.ones((3, 3)), jnp.ones((3, 2)))


def test_svd_state_needs_square_matrix_with_distinct_singular_values():
    with pytest.raises(ValueError, match="square"):
        svd_state(jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="distinct positive"):
        svd_state(jnp.eye(3))


def test_spectra_reject_wrong_shapes():
    with pytest.raises(ValueError, match="2-D matrix"):
        effective_rank(jnp.ones(3))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        effective_rank_of_spectrum(jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        latent_covariance(jnp.ones((1, 3)))
