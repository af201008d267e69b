"""Heavy ball as the semi-implicit Euler scheme of theta'' + a theta' = -grad L (docs/references.md
§13).

Evidence: the heavy-ball optimiser of ``dynlearn.nn.optim`` (checked against optax.sgd) against
``solve(MomentumFlow, method="semi-implicit-euler", dt=h)`` with eta = h^2, beta = 1 - a h,
v = -h m; and, on a quadratic, the exact flows from the matrix exponential (scipy.linalg.expm)
for the orders of convergence.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.linalg import expm

import dynlearn
from dynlearn.nn.batches import Minibatches
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import sgd
from dynlearn.rules.credit.backprop import Backprop
from dynlearn.rules.optimiser.momentum_flow import (
    MomentumFlow,
    RescaledGradientFlow,
    heavy_ball_hyperparameters,
    velocity_from_momentum,
)
from dynlearn.training import train

H = np.array([[1.0, 0.3], [0.3, 0.2]])
THETA0 = np.array([1.0, -1.0])


def _quadratic_field(t, theta, H):
    return -(H @ theta)


def test_heavy_ball_is_semi_implicit_euler_step_for_step():
    net = MLP((2, 6, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    kx, kp = jax.random.split(jax.random.PRNGKey(3))
    x = jax.random.normal(kx, (20, 2))
    y = jax.nn.one_hot(jnp.arange(20) % 2, 2)
    theta0 = net.init(kp, "xavier_normal")
    h, a, num_steps = 0.3, 1.5, 60
    eta, beta = heavy_ball_hyperparameters(h, a)
    assert eta == pytest.approx(0.09) and beta == pytest.approx(0.55)

    opt = sgd(eta, momentum=beta)
    one_step = Minibatches(x, y, jnp.tile(jnp.arange(20), (1, 1)))  # full batch, one step
    thetas, ms = [], []
    params, state = theta0, opt.init(theta0)
    for _ in range(num_steps):  # the optax-checked optimiser, one step at a time
        run = train(Backprop(net), params, one_step, opt, opt_state=state)
        params, state = run.state, run.opt_state
        thetas.append(ravel_pytree(params)[0])
        ms.append(ravel_pytree(state.m)[0])

    v0 = jax.tree.map(jnp.zeros_like, theta0)
    sol = dynlearn.solve(
        MomentumFlow(Backprop(net), a),
        (theta0, v0),
        num_steps * h,
        method="semi-implicit-euler",
        dt=h,
        saveat=h * np.arange(1, num_steps + 1),
        args=Minibatches(x, y),
    )
    theta_flow = np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(sol.ys[0]))
    v_flow = np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(sol.ys[1]))
    np.testing.assert_allclose(theta_flow, np.array(thetas), rtol=1e-12, atol=1e-14)
    v_expected = np.asarray(velocity_from_momentum(np.array(ms), h))
    np.testing.assert_allclose(v_flow, v_expected, rtol=1e-11, atol=1e-14)
    assert np.linalg.norm(theta_flow[-1] - theta_flow[0]) > 0.1  # it moved
    assert sol.stats["num_steps"] == num_steps


def test_explicit_euler_of_the_pair_is_not_heavy_ball():
    # the common mistake: explicit Euler moves theta with the old velocity v_0 = 0, so its
    # first step leaves theta in place; heavy ball's first step is theta_0 - eta g_0.
    h, a = 0.1, 1.0
    flow = MomentumFlow(_quadratic_field, a)
    y0 = (jnp.asarray(THETA0), jnp.zeros(2))
    semi = dynlearn.solve(flow, y0, h, method="semi-implicit-euler", dt=h, args=jnp.asarray(H))
    explicit = dynlearn.solve(flow, y0, h, method="euler", dt=h, args=jnp.asarray(H))
    np.testing.assert_allclose(np.asarray(semi.ys[0][-1]), THETA0 - h**2 * H @ THETA0, rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(explicit.ys[0][-1]), THETA0)


def _exact_damped(a, t):
    """(theta(t), v(t)) of theta'' + a theta' + H theta = 0, v(0) = 0: expm of the 4x4 system."""
    d = len(THETA0)
    A = np.block([[np.zeros((d, d)), np.eye(d)], [-H, -a * np.eye(d)]])
    z = expm(A * t) @ np.concatenate([THETA0, np.zeros(d)])
    return z[:d]


def test_semi_implicit_global_error_is_first_order_in_h():
    a, t1 = 1.5, 4.0
    hs = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = []
    for h in hs:
        sol = dynlearn.solve(
            MomentumFlow(_quadratic_field, a),
            (jnp.asarray(THETA0), jnp.zeros(2)),
            t1,
            method="semi-implicit-euler",
            dt=h,
            args=jnp.asarray(H),
        )
        errors.append(np.linalg.norm(np.asarray(sol.ys[0][-1]) - _exact_damped(a, t1)))
    slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.05


def test_fixed_beta_heavy_ball_tracks_the_rescaled_flow_at_first_order():
    beta, t1 = 0.9, 5.0
    etas = np.array([0.02, 0.01, 0.005, 0.0025])
    lam, V = np.linalg.eigh(H)
    exact = V @ (np.exp(-lam * t1 / (1 - beta)) * (V.T @ THETA0))
    errors = []
    for eta in etas:
        h = np.sqrt(eta)  # heavy ball at (eta, beta) is the scheme with dt = h, a = (1-beta)/h
        sol = dynlearn.solve(
            MomentumFlow(_quadratic_field, (1 - beta) / h),
            (jnp.asarray(THETA0), jnp.zeros(2)),
            round(t1 / eta) * h,
            method="semi-implicit-euler",
            dt=h,
            args=jnp.asarray(H),
        )
        errors.append(np.linalg.norm(np.asarray(sol.ys[0][-1]) - exact))
    slope = np.polyfit(np.log(etas), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.1
    # the rule's own field: the exact solution solves it
    flow = dynlearn.solve(
        RescaledGradientFlow(_quadratic_field, beta),
        jnp.asarray(THETA0),
        t1,
        args=jnp.asarray(H),
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(np.asarray(flow.ys[-1]), exact, atol=1e-8)


def test_split_method_needs_a_pair_and_a_step():
    flow = MomentumFlow(_quadratic_field, 1.0)
    with pytest.raises(ValueError, match="state split"):
        dynlearn.solve(flow, jnp.ones(2), 1.0, method="semi-implicit-euler", dt=0.1)
    with pytest.raises(ValueError, match="give dt"):
        dynlearn.solve(flow, (jnp.ones(2), jnp.zeros(2)), 1.0, method="semi-implicit-euler")
    with pytest.raises(ValueError, match="semi-implicit-euler"):
        dynlearn.solve(flow, (jnp.ones(2), jnp.zeros(2)), 1.0, method="symplectic")
    with pytest.raises(ValueError, match="a\\*h < 1"):
        heavy_ball_hyperparameters(0.5, 3.0)
