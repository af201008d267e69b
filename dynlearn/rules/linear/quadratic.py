"""A quadratic bowl as a training rule, for the loop ``dynlearn.training.train``.

    L_n(theta) = (1/B) sum_{i in batch n} 1/2 (theta - a_i)^T H (theta - a_i),
    grad L_n(theta) = H (theta - mean_{i in batch n} a_i),

theta a vector, H a fixed symmetric matrix and the centres a_i the rows of the schedule's x
(``Minibatches(a, y, index, eta)``; y is not read). With one centre at 0 it is the bowl
L = theta^T H theta / 2 of the optimiser-flow comparisons; with many centres and minibatches
its SGD noise H Cov(a) H / B is independent of theta, the stationary-covariance model of
``dynlearn.analysis.sgd_moments`` (docs/references.md §13).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.rules._rule import AbstractParamsRule


class QuadraticBowl(AbstractParamsRule):
    """L = mean over the batch rows a_i of 1/2 (theta - a_i)^T H (theta - a_i).

    Examples:
        >>> import jax.numpy as jnp
        >>> from dynlearn.nn import Minibatches
        >>> from dynlearn.training import train
        >>> bowl = QuadraticBowl(jnp.diag(jnp.array([1.0, 0.5])))
        >>> data = Minibatches(jnp.zeros((1, 2)), jnp.zeros((1, 1)), eta=0.1)
        >>> run = train(bowl, jnp.ones(2), data, num_steps=10)
        >>> bool(run.losses[-1] < run.losses[0])
        True
    """

    H: jax.Array = eqx.field(converter=jnp.asarray)

    def direction(self, theta: jax.Array, x: jax.Array, y: jax.Array, key: jax.Array):
        """grad L on the batch: H (theta - mean of the centres x)."""
        return self.H @ (theta - x.mean(0))

    def loss_and_direction(self, theta: jax.Array, x: jax.Array, y: jax.Array, key: jax.Array):
        r = theta - x
        loss = 0.5 * jnp.mean(jnp.einsum("bi,ij,bj->b", r, self.H, r))
        return loss, self.direction(theta, x, y, key)
