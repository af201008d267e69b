"""Conserved quantities of the linear-network gradient flow (Saxe et al. 2014; Arora, Cohen &
Hazan 2018, Theorem 1).

W_{i+1}^T W_{i+1} - W_i W_i^T is constant along the flow from any start, for any loss: the
regression loss with Sigma_x != I and the matrix-completion loss (rectangular factors, depth
3, from an unbalanced random start and a balanced one); a^2 - b^2 is constant per mode of a
decoupled (aligned, unbalanced) two-matrix flow. The loss never increases along the flow.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.data.semantic import property_matrix, semantic_modes
from dynlearn.rules.linear import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    balanced_factors,
    end_to_end,
    small_random_init,
)
from dynlearn.rules.linear.flow import balance_gaps


def _random_statistics(seed, n_in=4, n_out=7, P=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(P, n_in))
    Y = X @ rng.normal(size=(n_in, n_out)) + 0.3 * rng.normal(size=(P, n_out))
    return Y.T @ X / P, X.T @ X / P  # Sigma_yx, Sigma_x (not the identity)


@pytest.mark.parametrize("sizes", [(4, 16, 7), (4, 5, 6, 7)])
def test_balance_gaps_conserved_along_random_start(sizes):
    Sigma_yx, Sigma_x = _random_statistics(len(sizes))
    flow = DeepLinearFlow.from_statistics(Sigma_yx, Sigma_x, tau=1.0)
    Ws = small_random_init(jax.random.PRNGKey(0), sizes, scale=0.3, distribution="normal")
    ts = np.linspace(0.0, 10.0, 41)
    sol = dynlearn.solve(flow, Ws, 10.0, saveat=ts, rtol=1e-11, atol=1e-13)
    losses = np.asarray(jax.vmap(flow.objective)(sol.ys))
    assert losses[-1] < losses[0] - 1.0  # it learned something, so the check is not vacuous
    assert np.all(np.diff(losses) <= 1e-12)  # gradient flow: the loss never increases
    for D in balance_gaps(sol.ys):
        D = np.asarray(D)
        assert np.max(np.abs(D - D[0])) < 1e-8


def test_balance_gaps_have_zero_derivative_along_the_field():
    """d/dt D_i = jvp(balance_gaps, Ws, f(Ws)) = 0 exactly, at an arbitrary point."""
    Sigma_yx, Sigma_x = _random_statistics(3)
    flow = DeepLinearFlow.from_statistics(Sigma_yx, Sigma_x, tau=0.7)
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
    Ws = [jnp.asarray((R * a0) @ V.T), jnp.asarray((U * b0) @ R.T)]
    flow = DeepLinearFlow.from_statistics(property_matrix())
    ts = np.linspace(0.0, 12.0, 49)
    sol = dynlearn.solve(flow, Ws, 12.0, saveat=ts, rtol=1e-11, atol=1e-13)
    W1, W2 = (np.asarray(W) for W in sol.ys)
    a = np.einsum("hr,thi,ir->tr", R, W1, V)
    b = np.einsum("or,toh,hr->tr", U, W2, R)
    np.testing.assert_allclose(a**2 - b**2, np.broadcast_to(a0**2 - b0**2, a.shape), atol=1e-8)
    np.testing.assert_allclose(a[-1] * b[-1], s, rtol=1e-4)  # every mode got learned


# ---------------------------------------------------------------- matrix-completion loss

D_IN, WIDTHS, D_OUT = 4, (6, 3), 5
TS = np.linspace(0.0, 4.0, 9)


def _completion_loss():
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    target = jax.random.normal(k1, (D_OUT, D_IN))
    return MatrixCompletionLoss(target, (jax.random.uniform(k2, target.shape) < 0.6) * 1.0)


def _starts():
    sizes = (D_IN, *WIDTHS, D_OUT)
    unbalanced = small_random_init(jax.random.PRNGKey(1), sizes, 0.5, scaling="end_to_end")
    W0 = jax.random.normal(jax.random.PRNGKey(2), (D_OUT, 3)) @ jax.random.normal(
        jax.random.PRNGKey(3), (3, D_IN)
    )
    balanced = balanced_factors(0.3 * W0, WIDTHS, key=jax.random.PRNGKey(4))
    return {"unbalanced": unbalanced, "balanced": balanced}


@pytest.fixture(scope="module")
def trajectories():
    flow = DeepLinearFlow(_completion_loss())
    return {
        name: (flow, dynlearn.solve(flow, Ws0, float(TS[-1]), rtol=1e-11, atol=1e-12, saveat=TS))
        for name, Ws0 in _starts().items()
    }


@pytest.mark.parametrize("start", ["unbalanced", "balanced"])
def test_completion_balance_gaps_are_conserved(trajectories, start):
    _, sol = trajectories[start]
    D = balance_gaps(sol.ys)  # on the time axis
    D0 = [D_j[0] for D_j in D]
    if start == "unbalanced":
        assert min(float(jnp.max(jnp.abs(D_j))) for D_j in D0) > 1e-2  # a non-trivial invariant
    else:
        assert max(float(jnp.max(jnp.abs(D_j))) for D_j in D0) < 1e-12
    moved = float(jnp.max(jnp.abs(sol.ys[0][-1] - sol.ys[0][0])))
    assert moved > 0.1
    for D_j, D0_j in zip(D, D0, strict=True):
        np.testing.assert_allclose(D_j, np.broadcast_to(D0_j, D_j.shape), rtol=0, atol=1e-8)


@pytest.mark.parametrize("start", ["unbalanced", "balanced"])
def test_completion_loss_never_increases(trajectories, start):
    flow, sol = trajectories[start]
    values = np.asarray(jax.vmap(flow.objective)(sol.ys))
    assert np.all(np.diff(values) <= 1e-12)
    assert values[-1] < 0.5 * values[0]


def test_balanced_factors_are_exact():
    W0 = jax.random.normal(jax.random.PRNGKey(5), (5, 2)) @ jax.random.normal(
        jax.random.PRNGKey(6), (2, 4)
    )
    for widths, key in [((), None), ((3,), jax.random.PRNGKey(0)), ((2, 7, 3), None)]:
        Ws = balanced_factors(W0, widths, key=key)
        assert [W.shape for W in Ws] == list(zip((*widths, 5), (4, *widths), strict=True))
        np.testing.assert_allclose(end_to_end(Ws), W0, rtol=0, atol=1e-12)
        for D in balance_gaps(Ws):
            np.testing.assert_allclose(D, 0.0, atol=1e-12)
