"""Linear-network flows from aligned, balanced starts against closed forms.

The references are written out here from the equations (docs/references.md §5-6), not taken
from dynlearn.rules.linear.theory:
  N = 2:  u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)          (Saxe et al. 2014)
  N = 1:  b(t) = s + (b0 - s) e^{-t/tau}
  N >= 3: tau du/dt = N u^{2 - 2/N} (s - u), integrated by scipy solve_ivp (DOP853), or the
          time to reach u, t(u) = int_{u0}^{u} dx / (N x^{2-2/N} (s - x)), by scipy quad.
Two routes to the same dynamics: the regression loss from statistics on the semantic data
with ``decoupled_init`` (modes given), and Arora et al. 2019's aligned case of Theorem 3,
l = 1/2||W - S||^2 with S = U diag(s) V^T, from ``balanced_factors`` of an aligned W0.
Also: the random-start estimate ``effective_mode_strength`` against its closed forms.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

import dynlearn
from dynlearn.analysis.modes import effective_mode_strength, first_crossing_time
from dynlearn.data.semantic import property_matrix, semantic_modes
from dynlearn.rules.linear import (
    DeepLinearFlow,
    QuadraticLoss,
    balanced_factors,
    balanced_mode_strength,
    decoupled_init,
    end_to_end,
    small_random_init,
    t_half_balanced,
    t_half_deep,
    t_half_shallow,
    theorem3_rates,
)

T1 = 8.0
TS = np.linspace(0.0, T1, 81)
SQRT = np.sqrt


def _simulate(Ws, tau=1.0):
    flow = DeepLinearFlow.from_statistics(property_matrix(), tau=tau)
    sol = dynlearn.solve(flow, Ws, T1, saveat=TS, method="tsit5", rtol=1e-10, atol=1e-13)
    W = np.asarray(end_to_end(sol.ys))
    modes = semantic_modes()
    return np.einsum("ir,tij,jq->trq", modes.U, W, modes.V)  # (T, 4, 4): U^T W(t) V


def test_semantic_modes_are_an_svd_with_singular_values_sqrt7_sqrt3_1_1():
    Y = property_matrix()
    U, s, V = semantic_modes()
    np.testing.assert_allclose(s, [SQRT(7), SQRT(3), 1, 1], rtol=1e-15)
    np.testing.assert_allclose(np.linalg.svd(Y, compute_uv=False), s, rtol=1e-12)
    np.testing.assert_allclose(U @ np.diag(s) @ V.T, Y, atol=1e-14)
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-14)
    np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-14)


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_two_matrix_decoupled_flow_matches_closed_form(tau):
    U, s, V = semantic_modes()
    u0 = 1e-3
    M = _simulate(decoupled_init(U, V, u0, depth=2, hidden=16), tau=tau)
    e = np.exp(2 * s * TS[:, None] / tau)
    u_closed = s * e / (e - 1 + s / u0)
    u_sim = np.diagonal(M, axis1=1, axis2=2)
    np.testing.assert_allclose(u_sim, u_closed, rtol=1e-6)
    off_diagonal = M - np.einsum("tr,rq->trq", u_sim, np.eye(4))
    assert np.max(np.abs(off_diagonal)) < 1e-10  # the flow stays decoupled


@pytest.mark.parametrize("b0", [0.0, 0.2])
def test_shallow_flow_matches_closed_form(b0):
    U, s, V = semantic_modes()
    W0 = [jnp.asarray(U * b0 @ V.T)]
    M = _simulate(W0)
    b_closed = s + (b0 - s) * np.exp(-TS[:, None])
    np.testing.assert_allclose(np.diagonal(M, axis1=1, axis2=2), b_closed, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("depth", [3, 4])
def test_deeper_decoupled_flow_matches_balanced_mode_ode(depth):
    U, s, V = semantic_modes()
    u0 = 1e-2
    Ws = decoupled_init(U, V, u0, depth=depth, hidden=6, key=jax.random.PRNGKey(depth))
    u_sim = np.diagonal(_simulate(Ws), axis1=1, axis2=2)

    def rate(t, u, s_r):
        return depth * u ** (2 - 2 / depth) * (s_r - u)

    for r in range(4):
        ref = solve_ivp(
            rate, (0, T1), [u0], method="DOP853", t_eval=TS, args=(s[r],), rtol=1e-12, atol=1e-16
        )
        np.testing.assert_allclose(u_sim[:, r], ref.y[0], rtol=1e-6)


def test_half_times_solve_the_closed_forms():
    s = np.array([SQRT(7), SQRT(3), 1.0])
    u0, tau = 1e-3, 0.7
    th = t_half_deep(s, u0, tau)
    e = np.exp(2 * s * th / tau)
    np.testing.assert_allclose(s * e / (e - 1 + s / u0), s / 2, rtol=1e-12)
    np.testing.assert_allclose(t_half_shallow(s, 0.0, tau), tau * np.log(2), rtol=1e-15)
    tb = t_half_shallow(s, 0.1, tau)
    np.testing.assert_allclose(s + (0.1 - s) * np.exp(-tb / tau), s / 2, rtol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_quadrature_half_time_agrees_with_mode_strength(depth):
    s, u0, tau = SQRT(3), 1e-3, 1.3
    th = t_half_balanced(s, u0, depth, tau)
    if depth == 1:
        np.testing.assert_allclose(th, tau * np.log(2 * (1 - u0 / s)), rtol=1e-10)
    if depth == 2:
        np.testing.assert_allclose(th, tau / (2 * s) * np.log(s / u0 - 1), rtol=1e-10)
    u_at = balanced_mode_strength(np.array([0.0, th]), s, u0, depth, tau, rtol=1e-12)[-1]
    np.testing.assert_allclose(u_at, s / 2, rtol=1e-8)


# ------------------------------------------------- Arora et al. 2019, Theorem 3, aligned case

S_VALUES = np.array([3.0, 2.0, 1.0])
SIGMA0 = np.array([0.05, 0.03, 0.08])
TS_ALIGNED = np.linspace(0.0, 6.0, 25)


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
        DeepLinearFlow(QuadraticLoss(S)),
        Ws0,
        float(TS_ALIGNED[-1]),
        rtol=1e-11,
        atol=1e-13,
        saveat=TS_ALIGNED,
    )
    W_t = jax.vmap(end_to_end)(sol.ys)
    modes = np.asarray(jnp.einsum("ir,tij,jr->tr", U, W_t, V))  # sigma_r(t) = u_r^T W v_r
    off = W_t - jnp.einsum("ir,tr,jr->tij", U, modes, V)
    assert float(jnp.max(jnp.abs(off))) < 1e-9  # W stays aligned with U, V
    if N in (1, 2):
        np.testing.assert_allclose(modes, _closed_form(N, TS_ALIGNED), rtol=1e-7)
    else:
        checked = 0
        for i, t in enumerate(TS_ALIGNED[1:], start=1):
            for r in range(3):
                if modes[i, r] < 0.98 * S_VALUES[r]:  # away from the plateau, t(sigma) is sharp
                    t_theory = _time_to_reach(modes[i, r], S_VALUES[r], SIGMA0[r], N)
                    assert abs(t_theory - t) < 1e-6 * max(t, 1.0)
                    checked += 1
        assert checked >= 10
        assert np.all(modes[-1] > 0.9 * S_VALUES)  # every mode learned by t = 6


# ------------------------------------------------- the random-start estimate u0_eff


def test_effective_strength_of_an_aligned_balanced_start_is_its_mode_strength():
    """a = W1 v_r = b = W2^T u_r, so |a + b|^2 / 4 = a.b = u_r(0) exactly."""
    U, s, V = semantic_modes()
    u0 = np.array([1e-3, 4e-3, 2e-2, 0.3])
    Ws = decoupled_init(U, V, u0, depth=2, hidden=9, key=jax.random.PRNGKey(3))
    np.testing.assert_allclose(effective_mode_strength(Ws, U, V), u0, rtol=1e-12)


def test_effective_strength_of_a_gaussian_start_has_mean_hidden_scale2_over_2():
    """W1, W2 i.i.d. N(0, scale^2): W1 v_r + W2^T u_r ~ N(0, 2 scale^2 I_h) for unit v_r,
    u_r, so E u0_eff = 2 h scale^2 / 4 = h scale^2 / 2."""
    U, s, V = semantic_modes()
    h, scale = 16, 0.01
    draws = [
        effective_mode_strength(small_random_init(key, (4, h, 7), scale), U, V)
        for key in jax.random.split(jax.random.PRNGKey(0), 400)
    ]
    # |.|^2 / (2 scale^2) is chi-square with h degrees of freedom: s.e. of the mean over
    # 400 x 4 draws is sqrt(2 / h / 1600) = 0.9 %; allow 4 s.e.
    np.testing.assert_allclose(np.mean(draws), h * scale**2 / 2, rtol=0.036)


def test_effective_strength_predicts_the_half_way_time_of_an_unbalanced_mode():
    """One mode, aligned but unbalanced (a0 != b0): tau da/dt = b (s - ab), tau db/dt = a (s - ab)
    integrated by scipy; its half-way time approaches the N = 2 logistic's from
    u0_eff = (a0 + b0)^2 / 4 as u0 -> 0, unlike the logistic from u(0) = a0 b0."""
    s, a0, b0 = 2.0, 3e-3, 1e-4
    U, V = np.array([[1.0]]), np.array([[1.0]])
    Ws = [np.array([[a0]]), np.array([[b0]])]
    u0_eff = effective_mode_strength(Ws, U, V)[0]
    np.testing.assert_allclose(u0_eff, (a0 + b0) ** 2 / 4, rtol=1e-15)

    def field(t, y):
        a, b = y
        return [b * (s - a * b), a * (s - a * b)]

    ts = np.linspace(0.0, 6.0, 60_001)
    sol = solve_ivp(field, (0, 6.0), [a0, b0], t_eval=ts, method="DOP853", rtol=1e-12, atol=1e-16)
    t_sim = first_crossing_time(ts, sol.y[0] * sol.y[1], s / 2)
    t_eff = np.log(s / u0_eff - 1) / (2 * s)
    np.testing.assert_allclose(t_sim, t_eff, rtol=2e-3)
    assert abs(t_sim - np.log(s / (a0 * b0) - 1) / (2 * s)) > 0.3  # u(0) itself is far off
