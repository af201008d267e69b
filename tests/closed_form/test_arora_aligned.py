"""Aligned case of Arora et al. 2019 Theorem 3 against closed forms (docs/references.md §5-6).

l = 1/2 ||W - S||^2 with S = U diag(s) V^T and a balanced start aligned with U, V: every
singular value obeys dsigma/dt = N sigma^{2-2/N} (s - sigma). N = 1: sigma(t) = s + (sigma0 - s)
e^{-t}; N = 2 (Saxe): sigma(t) = s e^{2st} / (e^{2st} - 1 + s/sigma0); N = 3: the time to reach
sigma is t(sigma) = int_{sigma0}^{sigma} dx / (3 x^{4/3} (s - x)), by scipy quad.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

import dynlearn
from dynlearn.rules.linear.matrix_factorisation import (
    DeepMatrixFactorisation,
    QuadraticLoss,
    balanced_factors,
    end_to_end,
)
from dynlearn.rules.linear.singular_values import theorem3_rates

S_VALUES = np.array([3.0, 2.0, 1.0])
SIGMA0 = np.array([0.05, 0.03, 0.08])
TS = np.linspace(0.0, 6.0, 25)


def _aligned():
    U, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(0), (4, 3)))
    V, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(1), (5, 3)))
    return U, V, (U * S_VALUES) @ V.T, (U * SIGMA0) @ V.T


def test_theorem3_rates_aligned_quadratic_give_saxe_for_depth_two():
    U, V, S, _ = _aligned()
    sigma = np.array([2.5, 0.4, 1.7])
    W = (U * sigma) @ V.T
    for N in (1, 2, 3, 4):
        rates = theorem3_rates(W - S, U, sigma, V, N)  # grad of 1/2||W - S||^2 is W - S
        np.testing.assert_allclose(rates, N * sigma ** (2 - 2 / N) * (S_VALUES - sigma), rtol=1e-13)
    np.testing.assert_allclose(
        theorem3_rates(W - S, U, sigma, V, 2), 2 * sigma * (S_VALUES - sigma), rtol=1e-13
    )
    # the common mistaken exponent sigma^{1-1/N} gives a different (wrong) rate
    wrong = 2 * sigma ** (1 - 1 / 2) * (S_VALUES - sigma)
    assert not np.allclose(theorem3_rates(W - S, U, sigma, V, 2), wrong, rtol=1e-2)


def _closed_form(N, t):
    s, u0, t = S_VALUES, SIGMA0, np.asarray(t)[:, None]
    if N == 1:
        return s + (u0 - s) * np.exp(-t)
    e = np.exp(2 * s * t)
    return s * e / (e - 1 + s / u0)


def _time_to_reach(sigma, s, sigma0, N):
    value, _ = quad(
        lambda x: 1.0 / (N * x ** (2 - 2 / N) * (s - x)),
        sigma0,
        sigma,
        epsabs=1e-13,
        epsrel=1e-12,
        limit=200,
    )
    return value


@pytest.mark.parametrize("N", [1, 2, 3])
def test_full_factorised_flow_from_aligned_start_follows_closed_form(N):
    U, V, S, W0 = _aligned()
    Ws0 = balanced_factors(W0, [3] * (N - 1), key=jax.random.PRNGKey(N))
    sol = dynlearn.solve(
        DeepMatrixFactorisation(QuadraticLoss(S)),
        Ws0,
        float(TS[-1]),
        rtol=1e-11,
        atol=1e-13,
        saveat=TS,
    )
    W_t = jax.vmap(end_to_end)(sol.ys)
    modes = np.asarray(jnp.einsum("ir,tij,jr->tr", U, W_t, V))  # sigma_r(t) = u_r^T W v_r
    off = W_t - jnp.einsum("ir,tr,jr->tij", U, modes, V)
    assert float(jnp.max(jnp.abs(off))) < 1e-9  # W stays aligned with U, V
    if N in (1, 2):
        np.testing.assert_allclose(modes, _closed_form(N, TS), rtol=1e-7)
    else:
        checked = 0
        for i, t in enumerate(TS[1:], start=1):
            for r in range(3):
                if modes[i, r] < 0.98 * S_VALUES[r]:  # away from the plateau, t(sigma) is sharp
                    t_theory = _time_to_reach(modes[i, r], S_VALUES[r], SIGMA0[r], N)
                    assert abs(t_theory - t) < 1e-6 * max(t, 1.0)
                    checked += 1
        assert checked >= 10
        assert np.all(modes[-1] > 0.9 * S_VALUES)  # every mode learned by t = 6
