"""Backprop: the exact gradient, as a flow and as the direction of the training loop.

    d theta/dt = -grad L_n(theta) - lambda * W        for t in [n eta, (n+1) eta)

theta = [{"W": W_l, "b": b_l}, ...] are the MLP's parameters, L_n the mean loss on minibatch
n of the schedule (``dynlearn.nn.batches.Minibatches``, rows ``index[n]``) and lambda the L2
weight decay, on the weights only (the gradient of L + (lambda/2) sum_l ||W_l||^2). Without an
index table L_n = L, the loss on the whole data set: the full-batch gradient flow. The gradient
is the hand-written backward pass ``MLP.backward`` (delta_l = (W_{l+1}^T delta_{l+1}) * f'(a_l),
docs/references.md §3), checked against jax.grad in the tests.

SGD at learning rate eta is Euler's method with dt = eta for this flow (docs/references.md §8):
the Euler step at t_n = n eta reads batch n = step_index(t_n, eta), so

    solve(Backprop(mlp), params0, t1=num_steps * eta, method="euler", dt=eta, args=data)

returns exactly the parameters of ``dynlearn.training.train(Backprop(mlp), params0, data)``
over the same schedule. Momentum and Adam are maps on an enlarged state, not Euler schemes of
this flow; their flows are ``MomentumFlow`` and ``AdamFlow`` over this one
(``dynlearn.rules.optimiser``); ``train`` runs them as optimisers with the same gradient.
"""

from __future__ import annotations

import equinox as eqx
import jax

from dynlearn._hyperparameters import hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules._rule import AbstractMLPRule, AbstractParamsRule
from dynlearn.types import Params


class Backprop(AbstractMLPRule, AbstractParamsRule):
    """The backprop gradient flow d theta/dt = -grad L_n(theta) - lambda W of an ``MLP``.

    ``weight_decay`` is lambda (weights only), a traced hyperparameter: a new value does not
    recompile. The time each minibatch is active (the SGD learning rate) belongs to the
    schedule, ``Minibatches(..., eta=...)``, not to the rule.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from dynlearn.nn import MLP
        >>> mlp = MLP((2, 3, 1), ("tanh", "identity"), "mse")
        >>> params = mlp.init(jax.random.key(0))
        >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
        >>> g = Backprop(mlp).direction(params, x, y, None)
        >>> jax.tree.map(jnp.shape, g[0])
        {'W': (3, 2), 'b': (3,)}
    """

    mlp: MLP = eqx.field(static=True)
    weight_decay: jax.Array = hyperparameter(default=0.0)

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        """grad L(theta) + lambda W on the batch (x, y), by the hand-written backward pass."""
        return add_weight_decay(self.mlp.grad(state, x, y), state, self.weight_decay)

    def loss_and_direction(
        self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, Params]:
        """The loss and grad L + lambda W from one forward and one backward pass."""
        loss, grads = self.mlp.loss_and_grad(state, x, y)
        return loss, add_weight_decay(grads, state, self.weight_decay)
