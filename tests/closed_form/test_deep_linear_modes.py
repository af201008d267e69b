"""Deep linear flows from a decoupled start against Saxe et al. (2014) closed forms.

The references are written out here from the equations (docs/references.md §5), not taken from
dynlearn.rules.linear.deep_linear:
  N = 2:  u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)
  N = 1:  b(t) = s + (b0 - s) e^{-t/tau}
  N >= 3: tau du/dt = N u^{2 - 2/N} (s - u), integrated by scipy solve_ivp (DOP853).
"""

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynlearn
from dynlearn.data.semantic import property_matrix, semantic_modes
from dynlearn.rules.linear.deep_linear import (
    DeepLinearFlow,
    balanced_mode_strength,
    decoupled_init,
    end_to_end,
    t_half_balanced,
    t_half_deep,
    t_half_shallow,
)

T1 = 8.0
TS = np.linspace(0.0, T1, 81)
SQRT = np.sqrt


def _simulate(Ws, tau=1.0):
    flow = DeepLinearFlow(property_matrix(), tau=tau)
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
    W0 = (jax.numpy.asarray(U * b0 @ V.T),)
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
