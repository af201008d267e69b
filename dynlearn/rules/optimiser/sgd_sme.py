"""SGD's stochastic modified equation (Li, Tai & E, ICML 2017; JMLR 2019; docs/references.md §13).

Minibatch SGD theta_{n+1} = theta_n - eta g_n, with g_n the mean gradient over B examples drawn
uniformly with replacement, is approximated in the weak sense at t = n eta by the Itô SDE

    dTheta = -grad(L + (eta/4) ||grad L||^2) dt + sqrt(eta Sigma(Theta)) dW      (order 2)
    dTheta = -grad L dt + sqrt(eta Sigma(Theta)) dW                              (order 1)

with Sigma(theta) = (1/B) (1/N) sum_i (grad l_i - grad L)(grad l_i - grad L)^T the covariance of
one minibatch gradient: |E phi(theta_n) - E phi(Theta(n eta))| = O(eta^2) (order 2), O(eta)
(order 1, and for the noiseless gradient flow). The drift's correction is the modified flow of
Barrett & Dherin (``ModifiedFlow``: -grad L - (eta/2) H grad L).

No matrix square root is needed: with the N centred per-example gradients as the columns of

    S(theta) = sqrt(eta / (B N)) [grad l_1 - grad L, ..., grad l_N - grad L],

S S^T = eta Sigma, so S dW with an N-dimensional W has the law of sqrt(eta Sigma) dW'. The noise
is multiplicative and not commutative: integrate with ``solve_sde(method="euler")``
(Euler–Maruyama, weak order 1 in its step).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.rules.optimiser.modified_flow import ModifiedFlow


class StochasticModifiedEquation(eqx.Module):
    """Drift and diffusion of SGD's SME for a full-batch rule with per-example gradients.

    ``rule`` has ``vector_field(t, theta, args) = -grad L`` and ``direction(theta, x, y, key)``
    = grad L on a batch (e.g. ``Backprop(mlp)``); ``args`` is the whole data set,
    ``Minibatches(x, y)``.
    ``eta`` the learning rate, ``batch_size`` B, ``order`` 1 or 2. Use as
    ``solve_sde(sme.drift, sme.diffusion, theta0, t1, dt=..., key=..., args=args)``.
    """

    rule: Any
    eta: jax.Array
    batch_size: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    flow: Any  # the drift: rule (order 1) or ModifiedFlow(rule, eta) (order 2)

    def __init__(self, rule: Any, eta: float, batch_size: int, order: int = 2):
        if not (hasattr(rule, "vector_field") and hasattr(rule, "direction")):
            raise ValueError(
                f"rule must have vector_field (-grad L) and direction(theta, x, y, key), e.g. "
                f"Backprop(mlp); got {type(rule).__name__}"
            )
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order!r}")
        if not isinstance(eta, jax.core.Tracer) and not float(eta) > 0:
            raise ValueError(f"eta must be a positive learning rate, got {eta!r}")
        self.rule = rule
        self.eta = jnp.asarray(eta)
        self.batch_size = batch_size
        self.order = order
        self.flow = rule if order == 1 else ModifiedFlow(rule, self.eta)

    def drift(self, t: jax.Array, theta: Any, args: Any) -> Any:
        """-grad L (order 1) or -grad L - (eta/2) H grad L (order 2)."""
        return self.flow.vector_field(t, theta, args)

    def diffusion(self, t: jax.Array, theta: Any, args: Any) -> Any:
        """S(theta): leaves shaped like theta's plus a trailing axis of N examples."""
        x, y = args.x, args.y
        per_example = jax.vmap(lambda xi, yi: self.rule.direction(theta, xi[None], yi[None], None))(
            x, y
        )
        scale = jnp.sqrt(self.eta / (self.batch_size * x.shape[0]))

        def columns(g):  # (N, *shape) -> (*shape, N), centred
            return jnp.moveaxis(scale * (g - g.mean(0)), 0, -1)

        return jax.tree.map(columns, per_example)
