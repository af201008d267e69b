"""W_{j+1}^T W_{j+1} - W_j W_j^T is conserved by the factorised gradient flow (Arora, Cohen &
Hazan 2018, Theorem 1), and the loss never increases along it. Rectangular factors, depth 3,
matrix-completion loss; from an unbalanced random start (D_j != 0) and a balanced one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.rules.linear.matrix_factorisation import (
    DeepMatrixFactorisation,
    MatrixCompletionLoss,
    balanced_factors,
    balancedness,
    end_to_end,
    random_small_init,
)

D_IN, WIDTHS, D_OUT = 4, (6, 3), 5
TS = np.linspace(0.0, 4.0, 9)


def _loss():
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    target = jax.random.normal(k1, (D_OUT, D_IN))
    return MatrixCompletionLoss(target, (jax.random.uniform(k2, target.shape) < 0.6) * 1.0)


def _starts():
    unbalanced = random_small_init(jax.random.PRNGKey(1), D_OUT, D_IN, WIDTHS, scale=0.5)
    W0 = jax.random.normal(jax.random.PRNGKey(2), (D_OUT, 3)) @ jax.random.normal(
        jax.random.PRNGKey(3), (3, D_IN)
    )
    balanced = balanced_factors(0.3 * W0, WIDTHS, key=jax.random.PRNGKey(4))
    return {"unbalanced": unbalanced, "balanced": balanced}


@pytest.fixture(scope="module")
def trajectories():
    loss = _loss()
    rule = DeepMatrixFactorisation(loss)
    out = {}
    for name, Ws0 in _starts().items():
        sol = dynlearn.solve(rule, Ws0, float(TS[-1]), rtol=1e-11, atol=1e-12, saveat=TS)
        out[name] = (loss, sol)
    return out


@pytest.mark.parametrize("start", ["unbalanced", "balanced"])
def test_balancedness_is_conserved(trajectories, start):
    _, sol = trajectories[start]
    D0 = balancedness(tuple(W[0] for W in sol.ys))
    if start == "unbalanced":
        assert min(float(jnp.max(jnp.abs(D))) for D in D0) > 1e-2  # a non-trivial invariant
    else:
        assert max(float(jnp.max(jnp.abs(D))) for D in D0) < 1e-12
    moved = float(jnp.max(jnp.abs(sol.ys[0][-1] - sol.ys[0][0])))
    assert moved > 0.1
    for i in range(1, len(TS)):
        D = balancedness(tuple(W[i] for W in sol.ys))
        for D_j, D0_j in zip(D, D0, strict=True):
            np.testing.assert_allclose(D_j, D0_j, rtol=0, atol=1e-8)


@pytest.mark.parametrize("start", ["unbalanced", "balanced"])
def test_loss_never_increases(trajectories, start):
    loss, sol = trajectories[start]
    values = np.array(
        [float(loss(end_to_end(tuple(W[i] for W in sol.ys)))) for i in range(len(TS))]
    )
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
        for D in balancedness(Ws):
            np.testing.assert_allclose(D, 0.0, atol=1e-12)
