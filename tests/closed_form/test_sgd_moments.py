"""Exact SGD and SME moments on least squares, and stationary covariances (docs/references.md §13).

Evidence: brute-force enumeration of every minibatch sequence (SGD's second moments), the
eigen-decomposition of the gradient flow, the elementwise closed forms of the Lyapunov
equations in the eigenbasis of H, and (statistics) Monte Carlo of ``solve_sde`` on the SME.
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynlearn import solve_sde
from dynlearn.analysis.sgd_moments import (
    least_squares_expectations,
    least_squares_sgd_moments,
    least_squares_sme_moments,
    stationary_covariances,
)
from dynlearn.nn.batches import Minibatches
from dynlearn.rules.optimiser.sgd_sme import StochasticModifiedEquation

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 2))
Y = RNG.normal(size=3)
THETA0 = np.array([1.0, -0.5])

# compute-bound (Monte Carlo of the SME): full XLA optimisation is faster overall
pytestmark = pytest.mark.optimized


def _sgd_step(theta, batch, eta):
    g = np.mean([X[i] * (X[i] @ theta - Y[i]) for i in batch], axis=0)
    return theta - eta * g


def test_sgd_second_moments_equal_the_enumeration_of_every_minibatch_sequence():
    eta, B, steps = 0.3, 2, 3
    batches = list(itertools.product(range(3), repeat=B))  # with replacement: 9 equally likely
    Z = np.zeros((3, 3))
    for seq in itertools.product(batches, repeat=steps):
        theta = THETA0
        for batch in seq:
            theta = _sgd_step(theta, batch, eta)
        z = np.append(theta, 1.0)
        Z += np.outer(z, z) / len(batches) ** steps
    np.testing.assert_allclose(
        least_squares_sgd_moments(X, Y, THETA0, eta, B, steps)[-1], Z, rtol=1e-12
    )


def test_noiseless_order_one_moments_are_the_gradient_flow():
    H = X.T @ X / 3
    theta_star = np.linalg.solve(H, X.T @ Y / 3)
    lam, V = np.linalg.eigh(H)
    ts = np.array([0.0, 0.7, 2.0])
    Z = least_squares_sme_moments(X, Y, THETA0, 0.1, 2, ts, order=1, noise=False)
    for t, Zt in zip(ts, Z, strict=True):
        theta = theta_star + V @ (np.exp(-lam * t) * (V.T @ (THETA0 - theta_star)))
        z = np.append(theta, 1.0)
        np.testing.assert_allclose(Zt, np.outer(z, z), rtol=1e-10, atol=1e-13)
    ex = least_squares_expectations(X, Y, theta_star, Z)
    theta_t = theta_star + V @ (np.exp(-lam * 2.0) * (V.T @ (THETA0 - theta_star)))
    np.testing.assert_allclose(ex["dist2"][-1], np.sum((theta_t - theta_star) ** 2), rtol=1e-10)
    np.testing.assert_allclose(ex["loss"][-1], 0.5 * np.mean((X @ theta_t - Y) ** 2), rtol=1e-10)


def test_sgd_mean_follows_gd_and_sme2_mean_is_second_order_close():
    # the mean of SGD is GD's iterate; the SME2 mean follows exp(-(H + eta/2 H^2) t): their
    # gap at fixed t is O(eta^2) (the order-1 mean's is O(eta))
    H = X.T @ X / 3
    c = X.T @ Y / 3
    gaps1, gaps2 = [], []
    etas = np.array([0.1, 0.05, 0.025])
    for eta in etas:
        n = round(1.0 / eta)
        theta = THETA0.copy()
        for _ in range(n):
            theta = theta - eta * (H @ theta - c)
        sgd = least_squares_sgd_moments(X, Y, THETA0, eta, 2, n)[-1][:2, 2]
        np.testing.assert_allclose(sgd, theta, rtol=1e-12)
        m2 = least_squares_sme_moments(X, Y, THETA0, eta, 2, [1.0], order=2)[-1][:2, 2]
        m1 = least_squares_sme_moments(X, Y, THETA0, eta, 2, [1.0], order=1)[-1][:2, 2]
        gaps1.append(np.linalg.norm(m1 - theta))
        gaps2.append(np.linalg.norm(m2 - theta))
    assert abs(np.polyfit(np.log(etas), np.log(gaps1), 1)[0] - 1) < 0.1
    assert abs(np.polyfit(np.log(etas), np.log(gaps2), 1)[0] - 2) < 0.1


def test_stationary_covariances_match_the_eigenbasis_closed_forms():
    lam = np.array([2.0, 0.5, 0.1])
    Q, _ = np.linalg.qr(RNG.normal(size=(3, 3)))
    H = Q @ np.diag(lam) @ Q.T
    S = RNG.normal(size=(3, 3))
    Sigma = S @ S.T
    eta = 0.2
    C = stationary_covariances(H, Sigma, eta)
    s = Q.T @ Sigma @ Q
    lk, ll = lam[:, None], lam[None, :]
    closed = {
        "discrete": eta * s / (lk + ll - eta * lk * ll),
        "sme1": eta * s / (lk + ll),
        "sme2": eta * s / (lk + ll + 0.5 * eta * (lk**2 + ll**2)),
        # the order-2 drift with diffusion eta (Sigma + (eta/2)(H Sigma + Sigma H))
        "sme2_corrected": eta
        * s
        * (1 + 0.5 * eta * (lk + ll))
        / (lk + ll + 0.5 * eta * (lk**2 + ll**2)),
    }
    for name, c in closed.items():
        np.testing.assert_allclose(Q.T @ C[name] @ Q, c, rtol=1e-10, atol=1e-13)
    # the SGD fixed point: C = (I - eta H) C (I - eta H)^T + eta^2 Sigma
    M = np.eye(3) - eta * H
    np.testing.assert_allclose(M @ C["discrete"] @ M.T + eta**2 * Sigma, C["discrete"], rtol=1e-10)


def test_stationary_gaps_order_one_in_eta_and_two_with_the_diffusion_correction():
    # on a diagonal entry: -eta l/2 (order 1), -eta l/(1 + eta l/2) (order 2), and
    # -(eta l)^2/2/(1 + eta l/2) with the matching diffusion (sgd_moments docstring)
    lam = np.array([1.0, 0.25])
    Q, _ = np.linalg.qr(RNG.normal(size=(2, 2)))
    H = Q @ np.diag(lam) @ Q.T
    S = RNG.normal(size=(2, 2))
    Sigma = S @ S.T
    etas = np.array([0.2, 0.1, 0.05, 0.025])
    gaps = {k: [] for k in ("sme1", "sme2", "sme2_corrected")}
    for eta in etas:
        C = stationary_covariances(H, Sigma, eta)
        exact = np.diag(Q.T @ C["discrete"] @ Q)
        for k in gaps:
            rel = np.diag(Q.T @ C[k] @ Q) / exact - 1
            gaps[k].append(rel)
        x = eta * lam
        np.testing.assert_allclose(gaps["sme1"][-1], -x / 2, rtol=1e-10)
        np.testing.assert_allclose(gaps["sme2"][-1], -x / (1 + x / 2), rtol=1e-10)
        np.testing.assert_allclose(gaps["sme2_corrected"][-1], -(x**2) / 2 / (1 + x / 2), rtol=1e-9)
    slope = {
        k: np.polyfit(np.log(etas), np.log(np.abs(np.asarray(v)[:, 0])), 1)[0]
        for k, v in gaps.items()
    }
    assert abs(slope["sme1"] - 1) < 0.01 and abs(slope["sme2"] - 1) < 0.1
    assert abs(slope["sme2_corrected"] - 2) < 0.1
    # the exact per-time contraction rate of SGD's mean, -ln(1 - eta l)/eta, against the drifts
    eta = 0.05
    rate = -np.log1p(-eta * lam) / eta
    assert np.all(np.abs(lam + eta * lam**2 / 2 - rate) < np.abs(lam - rate) / 10)


class _LeastSquares(eqx.Module):
    """-grad L and per-batch gradients of L = mean (x theta - y)^2 / 2 (a test double)."""

    def direction(self, theta, x, y, key):
        return x.T @ (x @ theta - y[:, 0]) / x.shape[0]

    def vector_field(self, t, theta, args):
        return -self.direction(theta, args.x, args.y, None)


def test_sme_monte_carlo_by_solve_sde_matches_the_exact_moment_ode():
    eta, B, t1 = 0.2, 1, 1.0
    sme = StochasticModifiedEquation(_LeastSquares(), eta, B, order=2)
    args = Minibatches(jnp.asarray(X), jnp.asarray(Y)[:, None])
    # S S^T = eta Sigma, Sigma the covariance of one minibatch (B = 1) gradient
    S = np.asarray(sme.diffusion(0.0, jnp.asarray(THETA0), args))
    g_i = X * (X @ THETA0 - Y)[:, None]
    np.testing.assert_allclose(S @ S.T, eta * np.cov(g_i.T, bias=True) / B, rtol=1e-12)

    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    final = jax.vmap(
        lambda k: solve_sde(
            sme.drift, sme.diffusion, jnp.asarray(THETA0), t1, dt=0.01, key=k, args=args
        ).ys[-1]
    )(keys)
    final = np.asarray(final)
    Z = least_squares_sme_moments(X, Y, THETA0, eta, B, [t1], order=2)[-1]
    mean, cov = Z[:2, 2], Z[:2, :2] - np.outer(Z[:2, 2], Z[:2, 2])
    se = np.sqrt(np.diag(cov) / len(keys))
    assert np.all(np.abs(final.mean(0) - mean) < 4 * se + 0.01 * np.abs(mean))
    np.testing.assert_allclose(np.cov(final.T), cov, rtol=0.15, atol=1e-3)


def test_sme_built_from_a_traced_eta_is_the_same_field():
    # a sweep over learning rates builds the SME inside the compiled program (eta traced)
    args = Minibatches(jnp.asarray(X), jnp.asarray(Y)[:, None])
    theta = jnp.asarray(THETA0)

    def fields(eta):
        sme = StochasticModifiedEquation(_LeastSquares(), eta, 2, order=2)
        return sme.drift(0.0, theta, args), sme.diffusion(0.0, theta, args)

    for got, want in zip(jax.jit(fields)(0.2), fields(0.2), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
