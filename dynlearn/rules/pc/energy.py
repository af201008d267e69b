"""Discriminative predictive coding (PC) on an MLP: energy, state relaxation, learning.

docs/references.md §9 (Whittington & Bogacz 2017; Millidge, Tschantz & Buckley 2022; Rosenbaum 2022;
Song et al. 2020). Value nodes x_1, ..., x_{L+1}; x_1 = input (clamped), x_2 .. x_L free,
the output clamped to the target. Predictions and errors

    mu_{l+1} = W_l f(x_l) + b_l,        eps_l = x_{l+1} - mu_{l+1},

energy (summed over the rows of a batch)

    F = sum_{l<L} 1/2 ||eps_l||^2  +  beta * loss(f_L(mu_{L+1}), y),

inference, the gradient flow on the free states (the fast flow),

    dx_l/dt = -dF/dx_l = -eps_{l-1} + f'(x_l) * (W_l^T eps_l),

and learning after relaxation (the slow flow), descent on F:

    Delta W_l = eta eps_l f(x_l)^T,     Delta b_l = eta eps_l.

Mistakes of common write-ups, corrected here (docs/references.md §9): the state update is
-eps_{l-1} + f'(x_l) * (W_l^T eps_l),
not "(-eps + f') * (W^T eps)"; the weight update has the sign above (descent on F).

How the states map onto ``dynlearn.nn.mlp.MLP`` (z_{l+1} = f_l(W_l z_l + b_l)): the state x_l
of a hidden layer is the MLP's pre-activation a_{l-1}, so f(x_l) = z_l; the input's
nonlinearity is the identity, f(x_1) = x. The output term is the MLP's loss, so the output
error is eps_L = -beta dLoss/dmu_{L+1} (per row: -beta B * MLP.output_delta). For the MSE loss
with an identity output this is exactly the clamped quadratic term 1/2 ||y - mu_{L+1}||^2
(x_{L+1} = y); ``beta`` < 1 is weak output clamping. f'(x) is computed as df(f(x)), the
activation's derivative written through its output (docs/references.md §1).

Fixed prediction assumption (FPA; Millidge et al. 2022): predictions mu and the gains f'(x_l)
are frozen at their feedforward values (x_bar = the MLP's forward pass),

    dx_l/dt = -(x_l - mu_bar_l) + f'(x_bar_l) * (W_l^T eps_l),   eps_l = x_{l+1} - mu_bar_{l+1},

and the weight update uses the feedforward presynaptic activity f(x_bar_l) = z_l. It is not a
gradient flow. Euler with gamma = 1 from the feedforward pass sets eps_{l-1} <- f'(x_bar_l) *
(W_l^T eps_l), one layer per step, so after L - 1 steps every eps_l is -beta B times backprop's
delta_l and the weight gradient below equals beta times backprop's gradient exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn._hyperparameters import check_number, hyperparameter
from dynlearn.nn import activations as _act
from dynlearn.nn import losses as _losses
from dynlearn.nn.mlp import MLP
from dynlearn.types import Nodes, Params

INITS = ("feedforward", "zeros")


class Clamped(NamedTuple):
    """The clamped ends of discriminative PC: input ``x`` (B, n_1) and target ``y`` (B, n_{L+1})."""

    x: jax.Array
    y: jax.Array


def check_clamped(args) -> Clamped:
    """``args`` must be ``Clamped(x, y)``; a plain tuple or dict gets a message saying so."""
    if not isinstance(args, Clamped):
        raise TypeError(
            f"args must be Clamped(x, y) (the clamped input and target), got "
            f"{type(args).__name__}; write args=Clamped(x, y)"
        )
    return args


def state_nonlinearity(mlp: MLP, k: int) -> _act.Activation:
    """f applied to state k (0-based: k = 0 is x_1): identity for the first layer, else the MLP's
    activation of layer k (so that f(x_{k+1}) = z_{k+1})."""
    return _act.get("identity") if k == 0 else _act.get(mlp.activations[k - 1])


def predictions(mlp: MLP, params: Params, xs_all: list[jax.Array]) -> list[jax.Array]:
    """mu_{l+1} = W_l f(x_l) + b_l for l = 1..L, given all states xs_all = [x_1, ..., x_L]."""
    return [
        state_nonlinearity(mlp, k).f(x) @ p["W"].T + p["b"]
        for k, (x, p) in enumerate(zip(xs_all, params, strict=True))
    ]


def output_error(mlp: MLP, mu_out: jax.Array, y: jax.Array, beta) -> jax.Array:
    """eps_L = -beta dLoss/dmu_{L+1} per row, Loss summed over rows: -beta B * MLP.output_delta.

    For MSE with an identity output: eps_L = beta (y - mu_{L+1})."""
    y_hat = _act.get(mlp.activations[-1]).f(mu_out)
    return -beta * mu_out.shape[0] * mlp.output_delta(y_hat, y)


def output_energy(mlp: MLP, mu_out: jax.Array, y: jax.Array, beta) -> jax.Array:
    """beta * sum over rows of the loss of f_L(mu_{L+1}) against y (MLP loss is a batch mean)."""
    y_hat = _act.get(mlp.activations[-1]).f(mu_out)
    return beta * mu_out.shape[0] * _losses.get(mlp.loss_name).value(y_hat, y)


def state_forces(
    mlp: MLP,
    params: Params,
    xs_all: list[jax.Array],
    eps: list[jax.Array],
    gain_states: list[jax.Array] | None = None,
) -> list[jax.Array]:
    """-dF/dx_l = -eps_{l-1} + f'(x_l) * (W_l^T eps_l) for every state x_1..x_L (eps_0 = 0).

    In rows: -eps_{l-1} + f'(x_l) * (eps_l @ W_l). ``gain_states`` (default ``xs_all``) are the
    states at which f' is evaluated (the feedforward states under the fixed prediction
    assumption)."""
    gain_states = xs_all if gain_states is None else gain_states
    forces = []
    for k, (x, p) in enumerate(zip(gain_states, params, strict=True)):
        f = state_nonlinearity(mlp, k)
        top_down = f.df(f.f(x)) * (eps[k] @ p["W"])
        forces.append(top_down if k == 0 else top_down - eps[k - 1])
    return forces


def energy_gradient_params(mlp: MLP, xs_all: list[jax.Array], eps: list[jax.Array]) -> Params:
    """Batch-mean energy gradient dF/dtheta / B (hand-written):

        dF/dW_l = -eps_l f(x_l)^T,   dF/db_l = -eps_l     (rows: -eps_l.T @ f(x_l) / B).

    Descent on it, W_l <- W_l - eta dF/dW_l / B, is the PC update Delta W_l = eta eps_l f(x_l)^T
    (batch mean)."""
    B = xs_all[0].shape[0]
    return [
        {"W": -(e.T @ state_nonlinearity(mlp, k).f(x)) / B, "b": -jnp.sum(e, axis=0) / B}
        for k, (x, e) in enumerate(zip(xs_all, eps, strict=True))
    ]


def check_params(mlp: MLP, params: Params) -> None:
    """ValueError unless ``params`` has the shapes of ``mlp.sizes``."""
    if len(params) != mlp.num_layers:
        raise ValueError(
            f"params has {len(params)} layers, the MLP {mlp.sizes} has {mlp.num_layers}"
        )
    for l, (p, n_in, n_out) in enumerate(zip(params, mlp.sizes[:-1], mlp.sizes[1:], strict=True)):
        if tuple(p["W"].shape) != (n_out, n_in) or tuple(p["b"].shape) != (n_out,):
            raise ValueError(
                f"layer {l + 1}: expected W {(n_out, n_in)} and b {(n_out,)}, got "
                f"W {tuple(p['W'].shape)} and b {tuple(p['b'].shape)}"
            )


class PredictiveCoding(eqx.Module):
    """Discriminative PC on ``mlp`` with weights ``params``: the relaxation vector field over
    the free states xs = [x_2, ..., x_L] (clamped ends passed as ``args = Clamped(x, y)``).

    ``beta``: output clamping strength (1: the loss as it is; small: weak clamping, then the
    weight gradient / beta approaches backprop's gradient at equilibrium).
    ``fixed_prediction``: freeze predictions and gains at the feedforward pass (FPA).
    """

    mlp: MLP = eqx.field(static=True)
    params: Params
    beta: jax.Array = hyperparameter(default=1.0)
    fixed_prediction: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_params(self.mlp, self.params)
        check_number("beta (output clamping strength)", self.beta, "> 0", lambda v: v > 0)

    # --- states -------------------------------------------------------------------------
    def feedforward(self, x: jax.Array) -> list[jax.Array]:
        """The feedforward pass as PC states: [x_1 = x, x_2 = a_1, ..., x_{L+1} = a_L] (pre-
        activations), at which every hidden eps_l is 0."""
        xs_all = [x]
        for k, p in enumerate(self.params):
            xs_all.append(state_nonlinearity(self.mlp, k).f(xs_all[-1]) @ p["W"].T + p["b"])
        return xs_all

    def initial_states(self, x: jax.Array, init: str = "feedforward") -> Nodes:
        """Free states to start inference from: the feedforward pass (``"feedforward"``), or
        all zeros (``"zeros"``, a common choice)."""
        if init == "feedforward":
            return self.feedforward(x)[1:-1]
        if init == "zeros":
            return [jnp.zeros((x.shape[0], n), x.dtype) for n in self.mlp.sizes[1:-1]]
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")

    # --- energy and errors ----------------------------------------------------------------
    def _predictions(self, xs: Nodes, x: jax.Array) -> list[jax.Array]:
        """[mu_2, ..., mu_{L+1}]: from the states, or from the feedforward pass under FPA."""
        if self.fixed_prediction:
            return self.feedforward(x)[1:]
        return predictions(self.mlp, self.params, [x, *xs])

    def errors(self, xs: Nodes, args: Clamped) -> list[jax.Array]:
        """[eps_1, ..., eps_L]: eps_l = x_{l+1} - mu_{l+1} for hidden layers, eps_L the output
        error -beta dLoss/dmu_{L+1}. Under FPA the predictions are the feedforward ones."""
        args = check_clamped(args)
        mu = self._predictions(xs, args.x)
        eps = [x_next - m for x_next, m in zip(xs, mu[:-1], strict=True)]
        return [*eps, output_error(self.mlp, mu[-1], args.y, self.beta)]

    def energy(self, xs: Nodes, args: Clamped) -> jax.Array:
        """F = sum_{l<L} 1/2 ||x_{l+1} - mu_{l+1}||^2 + beta * sum_rows loss(f(mu_{L+1}), y)."""
        args = check_clamped(args)
        mu = self._predictions(xs, args.x)
        hidden = sum(0.5 * jnp.sum((xn - m) ** 2) for xn, m in zip(xs, mu[:-1], strict=True))
        return hidden + output_energy(self.mlp, mu[-1], args.y, self.beta)

    # --- the two flows ----------------------------------------------------------------------
    def vector_field(self, t, xs: Nodes, args: Clamped) -> Nodes:
        """dx_l/dt = -eps_{l-1} + f'(x_l) * (W_l^T eps_l) for the free states l = 2..L
        (= -dF/dx_l; under FPA f' is taken at the feedforward states)."""
        args = check_clamped(args)
        del t
        eps = self.errors(xs, args)
        xs_all = [args.x, *xs]
        gains = self.feedforward(args.x)[:-1] if self.fixed_prediction else None
        return state_forces(self.mlp, self.params, xs_all, eps, gains)[1:]

    def weight_gradient(self, xs: Nodes, args: Clamped) -> Params:
        """dF/dtheta / B at the (relaxed) states: dF/dW_l = -eps_l f(x_l)^T, dF/db_l = -eps_l,
        batch mean. Under FPA f(x_l) is the feedforward activity z_l. With output clamping
        beta this approximates beta * dLoss/dtheta; the learning step is
        theta <- theta - (eta / beta) * weight_gradient."""
        args = check_clamped(args)
        eps = self.errors(xs, args)
        presyn = self.feedforward(args.x)[:-1] if self.fixed_prediction else [args.x, *xs]
        return energy_gradient_params(self.mlp, presyn, eps)
