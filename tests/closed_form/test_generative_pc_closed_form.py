"""Linear generative PC against its closed form (docs/references.md §9): an independent check of the
energy, its state flow and the relaxation, beyond jax.grad of the energy itself.

With one linear latent layer, mu = W x + b, observed entries m and state decay lambda,

    F(x) = ½ ||m * (y - W x - b)||² + lambda/2 ||x||²

is a ridge-regression objective: the equilibrium of dx/dt = -dF/dx is the posterior mean of
x under the prior N(0, I/lambda) and unit Gaussian noise,

    x* = (W^T M W + lambda I)^{-1} W^T M (y - b),     M = diag(m),

and with every entry observed the minimum is the Gaussian marginal's energy (Woodbury):
F(x*) = ½ (y - b)^T (I + W W^T / lambda)^{-1} (y - b). With two linear latent layers F is a
quadratic in (x_1, x_2), minimised by least squares on the stacked residuals.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn.nn.mlp import MLP
from dynlearn.rules.pc.generative import GenerativePC, Observed
from dynlearn.rules.pc.inference import infer

LAM = 0.3


def _relaxed(gpc, args, batch):
    eq = infer(gpc, gpc.initial_states(batch), args, method="euler", gamma=0.1, T=20_000, tol=1e-12)
    return eq.xs


@pytest.mark.parametrize("masked", [False, True])
def test_one_linear_layer_relaxes_to_the_ridge_posterior_mean(masked):
    mlp = MLP((4, 10), ("identity",), "mse")
    k = jax.random.split(jax.random.PRNGKey(7), 3)
    params = mlp.init(k[0], "xavier_normal")
    params = [{"W": 2.0 * params[0]["W"], "b": 0.1 * jnp.ones(10)}]
    y = jax.random.normal(k[1], (6, 10))
    mask = (jax.random.uniform(k[2], (6, 10)) > 0.4).astype(y.dtype) if masked else None
    gpc = GenerativePC(mlp, params, decay=LAM)
    args = Observed(y, mask)
    (x,) = _relaxed(gpc, args, 6)

    W, b = np.asarray(params[0]["W"]), np.asarray(params[0]["b"])
    m = np.ones((6, 10)) if mask is None else np.asarray(mask)
    for i in range(6):  # the ridge solution, row by row (M differs per row)
        M = np.diag(m[i])
        x_star = np.linalg.solve(W.T @ M @ W + LAM * np.eye(4), W.T @ M @ (np.asarray(y[i]) - b))
        np.testing.assert_allclose(np.asarray(x[i]), x_star, atol=1e-9)
    if not masked:
        r = np.asarray(y) - b
        C = np.eye(10) + W @ W.T / LAM
        F_star = 0.5 * np.einsum("bi,ij,bj->", r, np.linalg.inv(C), r)
        np.testing.assert_allclose(float(gpc.energy([x], args)), F_star, rtol=1e-10)
    # a decay the relaxation ignored would land elsewhere: the comparison has teeth
    (x_no_decay,) = _relaxed(GenerativePC(mlp, params, decay=LAM / 2), args, 6)
    assert float(jnp.max(jnp.abs(x_no_decay - x))) > 1e-2


def test_two_linear_layers_relax_to_the_least_squares_minimum():
    mlp = MLP((3, 5, 8), ("identity", "identity"), "mse")
    k = jax.random.split(jax.random.PRNGKey(8), 2)
    params = mlp.init(k[0], "xavier_normal")
    y = jax.random.normal(k[1], (4, 8))
    gpc = GenerativePC(mlp, params, decay=LAM)
    args = Observed(y)
    x1, x2 = _relaxed(gpc, args, 4)

    W1, b1 = np.asarray(params[0]["W"]), np.asarray(params[0]["b"])
    W2, b2 = np.asarray(params[1]["W"]), np.asarray(params[1]["b"])
    # F = ½||A z - c||² in z = (x_1, x_2): rows x_2 - W1 x_1 - b1, y - W2 x_2 - b2 (sign-flipped),
    # sqrt(lam) x_1, sqrt(lam) x_2
    A = np.block(
        [
            [-W1, np.eye(5)],
            [np.zeros((8, 3)), -W2],
            [np.sqrt(LAM) * np.eye(3), np.zeros((3, 5))],
            [np.zeros((5, 3)), np.sqrt(LAM) * np.eye(5)],
        ]
    )
    for i in range(4):
        c = np.concatenate([b1, b2 - np.asarray(y[i]), np.zeros(3), np.zeros(5)])
        z, *_ = np.linalg.lstsq(A, c, rcond=None)
        np.testing.assert_allclose(np.asarray(x1[i]), z[:3], atol=1e-9)
        np.testing.assert_allclose(np.asarray(x2[i]), z[3:], atol=1e-9)
        F_row = 0.5 * np.sum((A @ z - c) ** 2)
        F_code = gpc.energy([x1[i : i + 1], x2[i : i + 1]], Observed(y[i : i + 1]))
        np.testing.assert_allclose(float(F_code), F_row, rtol=1e-10)
