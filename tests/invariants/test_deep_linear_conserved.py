"""Conserved quantities of the deep linear gradient flow (Saxe et al. 2014; Arora et al. 2018).

W_{i+1}^T W_{i+1} - W_i W_i^T is constant along the full flow from any start, any Sigma_x;
a^2 - b^2 is constant per mode of a decoupled (aligned, unbalanced) two-matrix flow.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.data.semantic import property_matrix, semantic_modes
from dynlearn.rules.linear.deep_linear import DeepLinearFlow, balance_gaps, small_random_init


def _random_statistics(seed, n_in=4, n_out=7, P=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(P, n_in))
    Y = X @ rng.normal(size=(n_in, n_out)) + 0.3 * rng.normal(size=(P, n_out))
    return Y.T @ X / P, X.T @ X / P  # Sigma_yx, Sigma_x (not the identity)


@pytest.mark.parametrize("sizes", [(4, 16, 7), (4, 5, 6, 7)])
def test_balance_gaps_conserved_along_random_start(sizes):
    Sigma_yx, Sigma_x = _random_statistics(len(sizes))
    flow = DeepLinearFlow(Sigma_yx, Sigma_x, tau=1.0)
    Ws = small_random_init(jax.random.PRNGKey(0), sizes, scale=0.3, distribution="normal")
    ts = np.linspace(0.0, 10.0, 41)
    sol = dynlearn.solve(flow, Ws, 10.0, saveat=ts, rtol=1e-11, atol=1e-13)
    losses = np.asarray(jax.vmap(flow.loss)(sol.ys))
    assert losses[-1] < losses[0] - 1.0  # it learned something, so the check is not vacuous
    assert np.all(np.diff(losses) <= 1e-12)  # gradient flow: the loss never increases
    for D in balance_gaps(sol.ys):
        D = np.asarray(D)
        assert np.max(np.abs(D - D[0])) < 1e-8


def test_balance_gaps_have_zero_derivative_along_the_field():
    """d/dt D_i = jvp(balance_gaps, Ws, f(Ws)) = 0 exactly, at an arbitrary point."""
    Sigma_yx, Sigma_x = _random_statistics(3)
    flow = DeepLinearFlow(Sigma_yx, Sigma_x, tau=0.7)
    Ws = small_random_init(jax.random.PRNGKey(1), (4, 6, 5, 3, 7), scale=1.0, distribution="normal")
    dWs = flow.vector_field(0.0, Ws, None)
    _, dD = jax.jvp(balance_gaps, (Ws,), (dWs,))
    scale = max(float(jnp.max(jnp.abs(dW))) for dW in dWs)
    for d in dD:
        assert float(jnp.max(jnp.abs(d))) < 1e-12 * scale * 100


def test_per_mode_a2_minus_b2_conserved_unbalanced_decoupled():
    U, s, V = semantic_modes()
    a0 = np.array([0.5, 0.02, 0.3, 0.01])
    b0 = np.array([0.01, 0.4, 0.05, 0.2])
    R = np.eye(6, 4)  # hidden frame: mode r lives on hidden unit r
    Ws = (jnp.asarray((R * a0) @ V.T), jnp.asarray((U * b0) @ R.T))
    flow = DeepLinearFlow(property_matrix())
    ts = np.linspace(0.0, 12.0, 49)
    sol = dynlearn.solve(flow, Ws, 12.0, saveat=ts, rtol=1e-11, atol=1e-13)
    W1, W2 = (np.asarray(W) for W in sol.ys)
    a = np.einsum("hr,thi,ir->tr", R, W1, V)
    b = np.einsum("or,toh,hr->tr", U, W2, R)
    np.testing.assert_allclose(a**2 - b**2, np.broadcast_to(a0**2 - b0**2, a.shape), atol=1e-8)
    np.testing.assert_allclose(a[-1] * b[-1], s, rtol=1e-4)  # every mode got learned
