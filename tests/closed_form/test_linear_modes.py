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
Also: the random-start estimate ``effective_mode_strength`` against its closed forms, and the
elementary half-way time of every depth (``t_half_balanced``) against quadrature, the ODE and,
for N = 4, the atanh form derived with v = sqrt(u):
  du / (4 u^{3/2} (s - u)) = dv / (2 v^2 (s - v^2)) = dv/(2s) (1/v^2 + 1/(s - v^2)).
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
    crossover_u0,
    decoupled_init,
    end_to_end,
    small_random_init,
    t_half_balanced,
    t_half_balanced_quadrature,
    t_half_collapsed,
    t_half_deep,
    t_half_shallow,
)
from dynlearn.rules.linear.theory import theorem3_rates

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


def _t_half_by_quad(s, u0, N, tau=1.0):
    """tau int_{u0}^{s/2} du / (N u^{2-2/N} (s - u)), in ln u, written out here."""
    value, _ = quad(
        lambda y: tau * np.exp(y) / (N * np.exp(y) ** (2 - 2 / N) * (s - np.exp(y))),
        np.log(u0),
        np.log(s / 2),
        epsabs=0.0,
        epsrel=1e-13,
        limit=200,
    )
    return value


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6, 7, 8])
def test_elementary_half_time_equals_quadrature(depth):
    s = np.array([0.3, 1.0, 2.5, 8.0])[:, None]
    u0 = np.array([1e-7, 1e-4, 1e-2, 0.14])[None, :]
    S, U0 = np.broadcast_arrays(s, u0 * s)  # starts u0/s in (0, 1/2)
    closed = t_half_balanced(S, U0, depth, tau=0.7)
    ref = np.vectorize(lambda a, b: _t_half_by_quad(a, b, depth, 0.7))(S, U0)
    np.testing.assert_allclose(closed, ref, rtol=1e-11)
    # the library's own quadrature (kept as the check) agrees too
    np.testing.assert_allclose(
        t_half_balanced_quadrature(2.5, 1e-3, depth, 0.7),
        t_half_balanced(2.5, 1e-3, depth, 0.7),
        rtol=1e-11,
    )


def test_elementary_half_time_reaches_half_way_on_the_ode():
    s, u0 = 1.7, 2e-3
    for depth in (3, 5):
        th = float(t_half_balanced(s, u0, depth))
        sol = solve_ivp(
            lambda t, u, N: N * u ** (2 - 2 / N) * (s - u),
            (0.0, th),
            [u0],
            args=(depth,),
            method="DOP853",
            rtol=1e-12,
            atol=1e-16,
        )
        np.testing.assert_allclose(sol.y[0, -1], s / 2, rtol=1e-8)


def test_half_times_for_depths_one_two_four_in_their_known_forms():
    s, u0 = np.array([0.5, 3.0, 8.0]), np.array([1e-4, 0.01, 0.2])
    np.testing.assert_allclose(t_half_balanced(s, u0, 1), np.log(2 * (1 - u0 / s)), rtol=1e-13)
    np.testing.assert_allclose(t_half_balanced(s, u0, 2), np.log(s / u0 - 1) / (2 * s), rtol=1e-13)
    v0, v1, r = SQRT(u0), SQRT(s / 2), SQRT(s)
    n4 = (1 / v0 - 1 / v1 + (np.arctanh(v1 / r) - np.arctanh(v0 / r)) / r) / (2 * s)
    np.testing.assert_allclose(t_half_balanced(s, u0, 4), n4, rtol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_half_time_collapses_onto_one_function_of_u0_over_s(depth):
    # u = s v: tau dv/dt = N s^{2-2/N} v^{2-2/N} (1 - v), so t_half s^{2-2/N} depends on u0/s only
    ratio = np.array([1e-5, 1e-3, 0.1, 0.4])
    for s in (0.5, 2.0, 8.0):
        np.testing.assert_allclose(
            t_half_balanced(s, ratio * s, depth) * s ** (2 - 2 / depth),
            t_half_collapsed(ratio, depth),
            rtol=1e-12,
        )


def test_depth_to_shallow_ratio_falls_monotonically_to_the_half_way_slope_ratio():
    # the premise of crossover_u0's uniqueness (F_N checked against quadrature above)
    r = np.geomspace(1e-12, 0.5 * (1 - 1e-6), 4000)
    for depth in range(2, 9):
        ratio = t_half_collapsed(r, depth) / t_half_collapsed(r, 1)
        assert np.all(np.diff(ratio) < 0)
        np.testing.assert_allclose(ratio[-1], 2 ** (2 - 2 / depth) / depth, rtol=1e-5)


@pytest.mark.parametrize("depth", [2, 3, 4, 6])
def test_crossover_start_is_where_depth_and_shallow_tie(depth):
    s = np.array([1.2, 2.0, 4.0, 8.0, 30.0])
    u_star = crossover_u0(s, depth)
    for s_i, u_i in zip(s, u_star, strict=True):
        assert 0 < u_i < s_i / 2
        # tie, by the quadrature written here and the shallow closed form
        np.testing.assert_allclose(
            _t_half_by_quad(s_i, u_i, depth), np.log(2 * (1 - u_i / s_i)), rtol=1e-9
        )
        # deeper slower just below, faster just above
        for factor, slower in ((0.99, True), (1.01, False)):
            u = u_i * factor
            assert (_t_half_by_quad(s_i, u, depth) > np.log(2 * (1 - u / s_i))) == slower


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_crossover_none_below_the_slope_ratio_at_half_way(depth):
    # near u0 = s/2 both times vanish; their slopes in u0 are 1/(N u^{2-2/N}(s - u)) and
    # 1/(s - u) at u = s/2, so depth N can win only if s^{2-2/N} > 2^{2-2/N} / N
    s_limit = (2 ** (2 - 2 / depth) / depth) ** (1 / (2 - 2 / depth))
    below = np.array([0.3, 0.5, 0.98 * s_limit])
    assert np.all(np.isnan(crossover_u0(below, depth)))
    for s_i in below:  # and indeed the deeper net is slower over the whole range of starts
        u = s_i * np.array([1e-6, 1e-3, 0.1, 0.3, 0.45, 0.499])
        deep = [_t_half_by_quad(s_i, u_k, depth) for u_k in u]
        assert np.all(np.asarray(deep) > np.log(2 * (1 - u / s_i)))
    assert np.isfinite(crossover_u0(1.05 * s_limit, depth))
    if depth == 2:
        np.testing.assert_allclose(s_limit, 1.0)


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
