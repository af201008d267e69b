"""SGD as a time-dependent flow: minibatch n is active on [n eta, (n+1) eta) (docs/references.md
§8).

The mean of the SGD iterate over many shuffles, at a fixed flow time t, approaches the
full-batch gradient flow theta(t) as eta -> 0. Each shuffle's run is the Euler scheme of the
minibatch flow ``Backprop(mlp)`` over ``Minibatches(..., eta=eta)`` at dt = eta (checked
against ``dynlearn.solve``); the shuffles run in one ``vmap``. Random reshuffling makes each
epoch's minibatch gradients sum to the full gradient, so the mean's deviation from the flow
is a bias of order eta (Smith et al., ICLR 2021): halving eta halves it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import dynlearn
from dynlearn.nn.batches import Minibatches, minibatch_indices
from dynlearn.nn.mlp import MLP
from dynlearn.rules.credit.backprop import Backprop

NET = MLP((2, 8, 1), ("tanh", "identity"), "mse")
N, B, T = 32, 8, 1.6  # examples, batch size, flow time (a whole number of epochs below)
SHUFFLES = 256


def _data():
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (N, 2))
    y = jnp.sin(2.0 * x[:, :1]) + 0.5 * x[:, 1:] ** 2
    theta0 = NET.init(kw, "xavier_normal")
    return x, y, theta0


def _euler(rule, theta0, x, y, batches, eta, num_steps):
    """theta_{n+1} = theta_n + eta * f(n eta, theta_n), f the minibatch flow's field."""
    args = Minibatches(x, y, batches, eta=eta)

    def step(theta, n):
        dtheta = rule.vector_field(n * eta, theta, args)
        return jax.tree_util.tree_map(lambda p, d: p + eta * d, theta, dtheta), None

    return jax.lax.scan(step, theta0, jnp.arange(num_steps))[0]


def _tables(eta):
    epochs = round(T / eta) // (N // B)
    assert epochs * (N // B) * eta == pytest.approx(T)
    return np.stack([minibatch_indices(s, N, B, epochs) for s in range(SHUFFLES)])


def test_scanned_loop_is_solve_euler_of_the_minibatch_flow():
    x, y, theta0 = _data()
    eta = 0.1
    batches = _tables(eta)[0]
    rule = Backprop(NET)
    ours = _euler(rule, theta0, x, y, jnp.asarray(batches), eta, len(batches))
    sol = dynlearn.solve(
        rule,
        theta0,
        len(batches) * eta,
        method="euler",
        dt=eta,
        args=Minibatches(x, y, batches, eta=eta),
    )
    a = ravel_pytree(ours)[0]
    b = ravel_pytree(jax.tree_util.tree_map(lambda v: v[-1], sol.ys))[0]
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_mean_over_shuffles_approaches_the_full_batch_flow_as_eta_shrinks():
    x, y, theta0 = _data()
    flow = dynlearn.solve(Backprop(NET), theta0, T, args=Minibatches(x, y), rtol=1e-11, atol=1e-11)
    theta_T = ravel_pytree(jax.tree_util.tree_map(lambda v: v[-1], flow.ys))[0]

    etas = np.array([0.1, 0.05, 0.025])
    errors, std_errors = [], []
    for eta in map(float, etas):
        tables = jnp.asarray(_tables(eta))
        rule, num_steps = Backprop(NET), tables.shape[1]

        def final(b, rule=rule, eta=eta, num_steps=num_steps):
            return ravel_pytree(_euler(rule, theta0, x, y, b, eta, num_steps))[0]

        run = jax.vmap(final)
        thetas = np.asarray(run(tables))  # (SHUFFLES, P)
        mean = thetas.mean(0)
        errors.append(np.linalg.norm(mean - theta_T))
        # the Monte-Carlo error of the mean, sqrt(sum_i var_i / S)
        std_errors.append(np.sqrt(thetas.var(0, ddof=1).sum() / SHUFFLES))
    errors, std_errors = np.array(errors), np.array(std_errors)
    # the deviation is a bias, resolved well above the sampling error of the mean
    assert np.all(errors > 3 * std_errors)
    # error of the mean ~ C eta: exponent 1 (theory), each halving roughly halves it
    slope = np.polyfit(np.log(etas), np.log(errors), 1)[0]
    assert abs(slope - 1.0) < 0.25
    assert np.all(errors[1:] < 0.7 * errors[:-1])
