"""Adam as the ODE of Barakat & Bianchi (2021) (docs/references.md §13).

Evidence: the Adam optimiser of ``dynlearn.nn.optim`` (checked against optax.adam); closed
forms of Euler's step for the moment equations; on a quadratic, the flow solved by tsit5 at
rtol 1e-11, and the sign-like flow's closed form theta0 - t sign(g) while no g_i changes sign.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.nn.optim import adam
from dynlearn.rules.optimiser.adam_flow import AdamFlow, SignLikeFlow, adam_hyperparameters

H = jnp.array([[1.0, 0.3], [0.3, 0.2]])


def _field(t, theta, H):
    return -(H @ theta)


def _adam_iterates(eta, b1, b2, theta0, num_steps):
    """(theta_n, m_n, v_n), n = 0..num_steps, of the optax-checked Adam on L = theta^T H theta/2."""
    opt = adam(eta, b1, b2)

    def body(carry, _):
        theta, state = carry
        theta, state = opt.step(theta, H @ theta, state)
        return (theta, state), (theta, state.m, state.v)

    state0 = opt.init(theta0)
    _, (thetas, ms, vs) = jax.lax.scan(body, (theta0, state0), None, length=num_steps)
    prepend = lambda x0, xs: jnp.concatenate([x0[None], xs])  # noqa: E731
    return prepend(theta0, thetas), prepend(state0.m, ms), prepend(state0.v, vs)


def test_adam_moment_updates_are_euler_steps_of_the_moment_equations():
    eta, a, b = 0.05, 2.0, 5.0
    b1, b2 = adam_hyperparameters(eta, a, b)
    thetas, ms, vs = _adam_iterates(eta, b1, b2, jnp.array([1.0, -1.0]), 40)
    flow = AdamFlow(_field, a, b)
    for n in range(40):
        t = n * eta
        _, (dm, dv) = flow.vector_field(t, (thetas[n], (ms[n], vs[n])), H)
        np.testing.assert_allclose(ms[n + 1], ms[n] + eta * dm, rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(vs[n + 1], vs[n] + eta * dv, rtol=1e-13, atol=1e-16)
    assert float(jnp.linalg.norm(thetas[-1] - thetas[0])) > 0.5  # it moved


def test_bias_corrections_at_t0_are_the_limits_g_and_g_squared():
    flow = AdamFlow(_field, 1.0, 2.0, eps=0.0)
    theta0 = jnp.array([1.0, -1.0])
    g = H @ theta0
    dtheta0, _ = flow.vector_field(0.0, (theta0, (jnp.zeros(2), jnp.zeros(2))), H)
    np.testing.assert_allclose(dtheta0, -jnp.sign(g), rtol=1e-15)
    # a small t > 0 on the exact early moments m = (1 - e^{-at}) g gives the same value
    t = 1e-3
    m, v = -jnp.expm1(-1.0 * t) * g, -jnp.expm1(-2.0 * t) * g**2
    dtheta, _ = flow.vector_field(t, (theta0, (m, v)), H)
    np.testing.assert_allclose(dtheta, -jnp.sign(g), rtol=1e-12)


def test_adam_converges_to_the_flow_at_first_order_in_eta():
    a, b, t1 = 1.0, 2.0, 3.0
    theta0 = jnp.array([1.0, -1.0])
    ref = dynlearn.solve(
        AdamFlow(_field, a, b),
        (theta0, (jnp.zeros(2), jnp.zeros(2))),
        t1,
        args=H,
        rtol=1e-11,
        atol=1e-12,
    )
    etas = np.array([0.02, 0.01, 0.005, 0.0025])
    errors = []
    for eta in etas:
        b1, b2 = adam_hyperparameters(eta, a, b)
        thetas, _, _ = _adam_iterates(eta, b1, b2, theta0, round(t1 / eta))
        errors.append(float(jnp.linalg.norm(thetas[-1] - ref.ys[0][-1])))
    slope = np.polyfit(np.log(etas), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.05
    assert float(jnp.linalg.norm(ref.ys[0][-1] - theta0)) > 0.5


def test_fixed_beta_adam_approaches_the_sign_like_flow():
    # theta0 = (1, 1): g = H theta keeps its signs (+, +) until t = 1, so the sign-like flow
    # is theta0 - t (1, 1) on [0, 1]; Adam's error there is O(eta / (1 - beta2)).
    theta0, t1 = jnp.array([1.0, 1.0]), 0.5
    exact = np.asarray(theta0) - t1
    sign_flow = dynlearn.solve(SignLikeFlow(_field), theta0, t1, args=H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(sign_flow.ys[-1]), exact, atol=1e-7)
    etas = np.array([1e-4, 5e-5, 2.5e-5])
    errors = []
    for eta in etas:
        thetas, _, _ = _adam_iterates(eta, 0.9, 0.99, theta0, round(t1 / eta))
        errors.append(float(jnp.linalg.norm(thetas[-1] - exact)))
    np.testing.assert_allclose(np.array(errors[:-1]) / errors[1:], 2.0, rtol=0.1)


def test_bad_rates_are_rejected():
    with pytest.raises(ValueError, match="a\\*eta < 1"):
        adam_hyperparameters(0.5, 3.0, 1.0)
    with pytest.raises(ValueError, match="b must be a positive scalar"):
        AdamFlow(_field, 1.0, -1.0)
