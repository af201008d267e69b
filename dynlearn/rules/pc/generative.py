"""Generative ("standard") predictive coding: only the data clamped, latents inferred.

docs/references.md §9 (Whittington & Bogacz 2017; Millidge, Tschantz & Buckley 2022; state decay
after
Sun & Orchard 2020). The network predicts the data from the latents, top down. With
``mlp.sizes = (n_1, ..., n_{L+1})`` the states x_1 (top latent), ..., x_L are all free and the
data y sits at the bottom, x_{L+1} = y. As in discriminative PC,

    mu_{l+1} = W_l f(x_l) + b_l,     eps_l = x_{l+1} - mu_{l+1}   (l < L),
    eps_L = m * (y - f_L(mu_{L+1})) * f_L'(mu_{L+1})     (the MSE data term),

with a mask m (1 = observed pixel, 0 = missing; completion infers from the observed part only),
and the energy with a state decay lambda (a Gaussian prior N(0, 1/lambda) on every state)

    F = sum_{l<L} 1/2 ||eps_l||^2 + 1/2 ||m * (y - f_L(mu_{L+1}))||^2 + lambda/2 sum_l ||x_l||^2.

Inference (the fast flow) on all L states, including the top latent (eps_0 = 0):

    dx_l/dt = -dF/dx_l = -eps_{l-1} + f'(x_l) * (W_l^T eps_l) - lambda x_l,

so at a steady state lambda x_l = -eps_{l-1} + f'(x_l) * (W_l^T eps_l). Learning after
relaxation is the same descent on F as in discriminative PC, Delta W_l = eta eps_l f(x_l)^T
(the decay does not involve the weights). The generated data are f_L(mu_{L+1}).

The data term is the MLP's MSE loss (``mlp.loss_name`` must be "mse"), so the output activation may
be the identity (a Gaussian generative model) or e.g. a sigmoid for pixels in [0, 1].

``GenerativePCRule`` is the learning step in the interface of the training loop
``dynlearn.training.train``: per minibatch of data y, start every state at 0, take T Euler
steps at rate gamma (``relax``), and return the relaxed energy per example F / B with the
weight gradient dF/dtheta / B as the direction (SGD on it is Delta W_l = eta eps_l f(x_l)^T,
batch mean; ``train`` may hand it to Adam instead).
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import check_number, hyperparameter
from dynlearn.nn import activations as _act
from dynlearn.nn.mlp import MLP
from dynlearn.rules._rule import AbstractParamsRule
from dynlearn.rules.pc.energy import (
    Params,
    check_params,
    energy_gradient_params,
    output_error,
    predictions,
    state_forces,
)
from dynlearn.rules.pc.inference import relax
from dynlearn.types import Nodes


class Observed(NamedTuple):
    """The clamped data ``y`` (B, n_{L+1}) and which entries are observed: ``mask`` of the same
    shape, 1 observed / 0 missing (``None``: all observed)."""

    y: jax.Array
    mask: jax.Array | None = None


class GenerativePC(eqx.Module):
    """Generative PC on ``mlp`` (latents -> data) with weights ``params`` and state decay
    ``decay`` (lambda >= 0): the relaxation vector field over all states xs = [x_1, ..., x_L],
    data passed as ``args = Observed(y, mask)``."""

    mlp: MLP = eqx.field(static=True)
    params: Params
    decay: jax.Array = hyperparameter(default=0.0)

    def __check_init__(self):
        check_params(self.mlp, self.params)
        if self.mlp.loss_name != "mse":
            raise ValueError(
                f"generative PC uses the Gaussian (MSE) data term: build the MLP with "
                f"loss='mse', got {self.mlp.loss_name!r}"
            )
        check_number("decay (lambda)", self.decay, ">= 0", lambda v: v >= 0)

    def initial_states(self, batch_size: int, dtype=jnp.float64) -> Nodes:
        """All states at 0, the mean of the decay prior."""
        return [jnp.zeros((batch_size, n), dtype) for n in self.mlp.sizes[:-1]]

    def errors(self, xs: Nodes, args: Observed) -> list[jax.Array]:
        """[eps_1, ..., eps_L] with eps_L = m * (y - f(mu_{L+1})) * f'(mu_{L+1})."""
        mu = predictions(self.mlp, self.params, xs)
        eps = [x_next - m for x_next, m in zip(xs[1:], mu[:-1], strict=True)]
        eps_out = output_error(self.mlp, mu[-1], args.y, 1.0)
        if args.mask is not None:
            eps_out = args.mask * eps_out
        return [*eps, eps_out]

    def energy(self, xs: Nodes, args: Observed) -> jax.Array:
        """F = sum_{l<L} 1/2||eps_l||^2 + 1/2||m*(y - f(mu_{L+1}))||^2 + lambda/2 sum||x_l||^2."""
        mu = predictions(self.mlp, self.params, xs)
        hidden = sum(0.5 * jnp.sum((xn - m) ** 2) for xn, m in zip(xs[1:], mu[:-1], strict=True))
        residual = args.y - _act.get(self.mlp.activations[-1]).f(mu[-1])
        if args.mask is not None:
            residual = args.mask * residual
        data = 0.5 * jnp.sum(residual**2)
        prior = 0.5 * self.decay * sum(jnp.sum(x**2) for x in xs)
        return hidden + data + prior

    def vector_field(self, t, xs: Nodes, args: Observed) -> Nodes:
        """dx_l/dt = -eps_{l-1} + f'(x_l) * (W_l^T eps_l) - lambda x_l for l = 1..L."""
        del t
        forces = state_forces(self.mlp, self.params, xs, self.errors(xs, args))
        return [g - self.decay * x for g, x in zip(forces, xs, strict=True)]

    def weight_gradient(self, xs: Nodes, args: Observed) -> Params:
        """dF/dtheta / B: dF/dW_l = -eps_l f(x_l)^T, dF/db_l = -eps_l (batch mean)."""
        return energy_gradient_params(self.mlp, xs, self.errors(xs, args))

    def generate(self, xs: Nodes) -> jax.Array:
        """The data the states predict, f_L(mu_{L+1}) (B, n_{L+1})."""
        mu_out = predictions(self.mlp, self.params, xs)[-1]
        return _act.get(self.mlp.activations[-1]).f(mu_out)

    def complete(self, xs: Nodes, args: Observed) -> jax.Array:
        """Observed entries kept, missing entries filled with the prediction f_L(mu_{L+1})."""
        y_hat = self.generate(xs)
        return y_hat if args.mask is None else jnp.where(args.mask > 0, args.y, y_hat)


class GenerativePCRule(AbstractParamsRule):
    """Generative PC as a training rule: T Euler relaxation steps at rate gamma from the zero
    states with the minibatch y clamped at the bottom, then d = dF/dtheta / B.

    The state is the MLP's parameter list. ``loss_and_direction(state, x, y, key)`` returns
    (F / B at the relaxed states, d); only the data y is used (the generative model has no
    input: ``x`` and the deterministic relaxation's ``key`` are ignored), so the schedule is
    ``minibatches(images, images, ...)``.
    """

    mlp: MLP = eqx.field(static=True)
    T: int = eqx.field(static=True, default=50)
    gamma: jax.Array = hyperparameter(default=0.1)
    decay: jax.Array = hyperparameter(default=0.0)

    def __check_init__(self):
        if isinstance(self.T, bool) or not isinstance(self.T, int) or self.T < 0:
            raise ValueError(f"T (relaxation steps) must be an integer >= 0, got {self.T!r}")
        check_number("gamma (relaxation rate)", self.gamma, "a number > 0", lambda v: v > 0)
        check_number("decay (lambda)", self.decay, ">= 0", lambda v: v >= 0)

    def loss_and_direction(
        self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, Params]:
        """(F / B after T relaxation steps, dF/dtheta / B there) on the data batch y."""
        del x, key
        gpc = GenerativePC(self.mlp, state, decay=self.decay)
        args = Observed(y)
        xs = relax(gpc, gpc.initial_states(y.shape[0], y.dtype), args, self.gamma, self.T)
        return gpc.energy(xs, args) / y.shape[0], gpc.weight_gradient(xs, args)

    def direction(self, state: Params, x: jax.Array, y: jax.Array, key: jax.Array) -> Params:
        """dF/dtheta / B after T relaxation steps on the data batch y."""
        return self.loss_and_direction(state, x, y, key)[1]
