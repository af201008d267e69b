"""Predictive coding as a credit-assignment rule (Whittington & Bogacz 2017, Neural
Computation 29:1229; docs/references.md §9), an ``AbstractMLPRule`` (``dynlearn.rules._rule``).

Per minibatch (x, y): clamp x_1 = x and the output to y, start the free states at the
feedforward pass (x_{l+1} = mu_{l+1}, every hidden eps_l = 0), and relax them with T Euler
steps at rate gamma on the energy
``F = sum_{l<L} 1/2 ||eps_l||^2 + beta * sum_rows loss(f_L(mu_{L+1}), y)``,

    x_l <- x_l + gamma (-eps_{l-1} + f'(x_l) * (W_l^T eps_l)),   eps_l = x_{l+1} - W_l f(x_l) - b_l,

(``dynlearn.rules.pc.inference.relax`` over ``PredictiveCoding.vector_field``), then read the
weight gradient of the energy at the relaxed states, batch mean, divided by the clamping
strength beta:

    d(W_l) = -eps_l f(x_l)^T / (beta B),   d(b_l) = -sum_rows eps_l / (beta B),

plus lambda W. The output error is eps_L = -beta dLoss/dmu_{L+1}, so the division by beta puts
d on the scale of backprop's batch-mean gradient: at the feedforward start eps_L / beta is
exactly -B times backprop's output delta, and as beta -> 0 at the equilibrium of the relaxation
every eps_l / beta -> -B delta_l (backprop's deltas), so d -> dLoss/dtheta (Whittington & Bogacz
2017; Millidge, Tschantz & Buckley 2022). With ``fixed_prediction=True`` (predictions and gains
frozen at the feedforward pass; Millidge et al. 2022), gamma = 1 and T >= L - 1 steps, d equals
backprop's gradient exactly, for any beta.

The descent step state <- state - eta d is the PC learning rule Delta W_l = (eta / beta)
eps_l f(x_l)^T (batch mean); under ``dynlearn.solve`` with Euler at dt = eta it is the flow
d theta/dt = -d on minibatch n = step_index(t, eta). The relaxation is deterministic, so the
key passed to ``direction`` is unused.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import check_number, hyperparameter
from dynlearn.nn.mlp import MLP
from dynlearn.nn.optim import add_weight_decay
from dynlearn.rules._rule import AbstractMLPRule, AbstractParamsRule
from dynlearn.rules.pc.energy import INITS, Clamped, PredictiveCoding
from dynlearn.rules.pc.inference import relax, relax_until
from dynlearn.types import Params


class Relaxation(NamedTuple):
    """What ``PredictiveCodingRule(report=True).loss_and_direction`` returns in place of the
    loss (``train`` stacks it per step): the minibatch loss at the parameters, the energy
    F / (beta B) after relaxation, whether the relaxation raised F (Euler unstable: gamma above
    2 / curvature) and the number of relaxation steps taken."""

    loss: jax.Array
    energy: jax.Array
    raised: jax.Array
    steps: jax.Array


class PredictiveCodingRule(AbstractMLPRule, AbstractParamsRule):
    """Discriminative PC: relax the free states with Euler steps at rate gamma, then
    d = (dF/dtheta) / (beta B) + lambda W.

    ``T``: relaxation steps (with ``tol``: the most steps). ``tol``: None for the truncated rule
    (exactly T steps); a number for equilibrium PC, relaxing until rms(dx/dt) < tol
    (``relax_until``). ``start``: where the states start, "feedforward" (every hidden error
    zero) or "zeros". ``beta``: output clamping strength (small: weak clamping, d close to
    backprop's gradient). ``fixed_prediction``: relax under the fixed prediction assumption (not a
    gradient flow). ``report``: ``loss_and_direction`` returns a ``Relaxation`` (loss, energy,
    raised, steps) in place of the loss.
    """

    mlp: MLP = eqx.field(static=True)
    T: int = eqx.field(static=True, default=20)
    gamma: jax.Array = hyperparameter(default=0.1)
    beta: jax.Array = hyperparameter(default=0.1)
    fixed_prediction: bool = eqx.field(static=True, default=False)
    start: str = eqx.field(static=True, default="feedforward", kw_only=True)
    tol: float | None = eqx.field(static=True, default=None, kw_only=True)
    report: bool = eqx.field(static=True, default=False, kw_only=True)
    weight_decay: jax.Array = hyperparameter(default=0.0, kw_only=True)

    def __check_init__(self):
        if isinstance(self.T, bool) or not isinstance(self.T, int) or self.T < 0:
            raise ValueError(f"T (relaxation steps) must be an integer >= 0, got {self.T!r}")
        check_number("gamma (relaxation rate)", self.gamma, "a number > 0", lambda v: v > 0)
        check_number("beta (output clamping strength)", self.beta, "> 0", lambda v: v > 0)
        if self.start not in INITS:
            raise ValueError(f"unknown start {self.start!r}; valid: {', '.join(INITS)}")
        if self.tol is not None:
            check_number("tol (residual rms(dx/dt))", self.tol, "> 0 or None", lambda v: v > 0)

    def _relaxed(self, state: Params, x: jax.Array, y: jax.Array):
        pc = PredictiveCoding(
            self.mlp, state, beta=self.beta, fixed_prediction=self.fixed_prediction
        )
        args = Clamped(x, y)
        xs0 = pc.initial_states(x, self.start)
        if self.tol is None:
            xs, steps = relax(pc, xs0, args, self.gamma, self.T), jnp.asarray(self.T)
        else:
            xs, steps, _ = relax_until(pc, xs0, args, self.gamma, self.tol, self.T)
        grads = jax.tree_util.tree_map(lambda g: g / self.beta, pc.weight_gradient(xs, args))
        return pc, args, xs0, xs, steps, add_weight_decay(grads, state, self.weight_decay)

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        return self._relaxed(state, x, y)[-1]

    def loss_and_direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array):
        """(loss, d), or with ``report`` (Relaxation(loss, energy, raised, steps), d)."""
        pc, args, xs0, xs, steps, d = self._relaxed(state, x, y)
        loss = self.mlp.loss_value(state, x, y)
        if not self.report:
            return loss, d
        energy = pc.energy(xs, args)
        raised = energy > pc.energy(xs0, args)
        return Relaxation(loss, energy / (self.beta * x.shape[0]), raised, steps), d
