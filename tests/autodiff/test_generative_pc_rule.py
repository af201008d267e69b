"""GenerativePCRule: its direction is jax.grad of the energy F / B in the parameters at the
relaxed states, its loss is F / B there, and Euler at dt = eta over its flow is the loop."""

import jax
import jax.numpy as jnp
import numpy as np

import dynlearn
from dynlearn.nn import MLP, Minibatches, minibatch_indices
from dynlearn.rules.pc import GenerativePC, GenerativePCRule, Observed, relax
from dynlearn.training import train

NET = MLP((3, 5, 6), ("tanh", "identity"), "mse")


def test_direction_is_the_energy_gradient_at_the_relaxed_states():
    params = NET.init(jax.random.key(0))
    y = jax.random.normal(jax.random.key(1), (4, 6))
    rule = GenerativePCRule(NET, T=30, gamma=0.1, decay=0.01)
    loss, d = rule.loss_and_direction(params, None, y, None)
    gpc = GenerativePC(NET, params, decay=0.01)
    xs = relax(gpc, gpc.initial_states(4, y.dtype), Observed(y), 0.1, 30)
    energy = lambda p: GenerativePC(NET, p, decay=0.01).energy(xs, Observed(y)) / 4  # noqa: E731
    np.testing.assert_allclose(loss, energy(params), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(d), jax.tree.leaves(jax.grad(energy)(params)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_euler_over_the_flow_is_the_training_loop():
    params = NET.init(jax.random.key(0))
    images = jax.random.normal(jax.random.key(2), (12, 6))
    data = Minibatches(images, images, jnp.asarray(minibatch_indices(0, 12, 4, 2)), eta=0.05)
    rule = GenerativePCRule(NET, T=10)
    loop = train(rule, params, data).state
    sol = dynlearn.solve(rule, params, 6 * 0.05, method="euler", dt=0.05, args=data)
    for a, b in zip(jax.tree.leaves(loop), jax.tree.leaves(sol.y1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
