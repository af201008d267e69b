"""QuadraticBowl's hand-written gradient H (theta - mean a_i) against jax.grad of its loss, and
its flow's Euler scheme at dt = eta against the training loop."""

import jax
import jax.numpy as jnp
import numpy as np

import dynlearn
from dynlearn.nn import Minibatches, minibatch_indices
from dynlearn.rules.linear.quadratic import QuadraticBowl
from dynlearn.training import train


def test_direction_is_jax_grad_and_euler_is_the_loop():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    bowl = QuadraticBowl(A @ A.T + np.eye(3))
    centres = jnp.asarray(rng.standard_normal((12, 3)))
    theta = jnp.asarray(rng.standard_normal(3))
    loss, d = bowl.loss_and_direction(theta, centres[:4], None, None)
    expected = jax.grad(lambda th: bowl.loss_and_direction(th, centres[:4], None, None)[0])(theta)
    np.testing.assert_allclose(d, expected, rtol=1e-12)
    data = Minibatches(
        centres, jnp.zeros((12, 1)), jnp.asarray(minibatch_indices(1, 12, 4, 3)), eta=0.05
    )
    run = train(bowl, theta, data)
    sol = dynlearn.solve(bowl, theta, 9 * 0.05, method="euler", dt=0.05, args=data)
    np.testing.assert_allclose(sol.y1, run.state, rtol=1e-13)
