"""Momentum and Adam as flows whose discrete schemes they are (docs/references.md §13).

A 2-16-2 tanh/softmax MLP on the 2-armed spiral, full batch, cross-entropy loss L, one start
theta0. For each learning rate eta in ``etas``:

* heavy ball (``nn.optim.sgd(eta, momentum=beta)``, checked against optax) with
  beta = 1 - a h, h = sqrt(eta), against the damped flow theta' = v, v' = -a v - grad L
  (``MomentumFlow``, tsit5 at rtol 1e-10). Heavy ball *is* the semi-implicit Euler scheme with
  dt = h (v = -h m): ``momentum_euler_max_rel_error`` compares it with
  ``solve(method="semi-implicit-euler")`` at every step. Error at flow time ``t1_momentum``:
  O(h).
* heavy ball at fixed ``beta`` against the rescaled flow d theta/dt = -grad L / (1 - beta) at
  t = n eta (Kovachki & Stuart 2021): O(eta).
* Adam (``nn.optim.adam``, checked against optax) with beta1 = 1 - a eta, beta2 = 1 - b eta
  against the Adam ODE of Barakat & Bianchi (``AdamFlow``, tsit5): O(eta). Its moment updates
  are exactly Euler steps of dm/dt = a(g - m), dv/dt = b(g^2 - v):
  ``adam_moments_euler_max_rel_error``. The flow's Lipschitz constant in theta grows like
  1 / (sqrt(v) + eps) where a gradient component is near zero, and the O(eta) regime starts
  at eta well below its inverse: with the default eps = 0.01 the fit is clean. With
  ``eps_small`` = 1e-8 (``etas_small_eps``, flow time ``t1_small_eps``) the largest learning
  rates are pre-asymptotic (the error barely falls from eta = 0.02 to 0.005) and the first
  order recovers at smaller eta: ``local_slopes_adam_small_eps`` between neighbouring etas
  approach 1 (``errors_adam_small_eps_vs_flow``; the flow itself is fine).
* Adam at fixed betas (``fixed_beta1``, ``fixed_beta2``) and the small learning rates
  ``etas_sign`` against the sign-like flow d theta/dt = -g / (|g| + eps) (the documented
  comparison; the error is O(eta / (1 - beta2)), so the fit needs eta << 1 - beta2). It is
  made on the 2-D quadratic L = theta^T H theta / 2 from theta0 = (1, 1), where the sign-like
  flow is exactly theta0 - t (1, 1) for t < 1: on the network some gradient components cross
  zero, where the sign-like flow is discontinuous (it slides along g_i = 0).

Figure: (a) heavy ball (dots, t = n h) over the damped flow; (b) Adam (dots, t = n eta) over
its flow and the sign-like flow; (c) the errors against the step with fitted slopes; (d) the
step-for-step identities (relative differences per step, at rounding level).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import dynlearn
from dynlearn import train
from dynlearn.analysis import fit_order
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    euler_steps,
    in_range,
    nonnegative,
    positive,
    size,
    tolerance,
)
from dynlearn.data import make_spiral
from dynlearn.nn import MLP, Minibatches, adam, sgd
from dynlearn.rules.credit import Backprop
from dynlearn.rules.linear import QuadraticBowl
from dynlearn.rules.optimiser import (
    AdamFlow,
    MomentumFlow,
    RescaledGradientFlow,
    SignLikeFlow,
    adam_hyperparameters,
    heavy_ball_hyperparameters,
    velocity_from_momentum,
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    n_per_class: Annotated[int, size(max=100_000)] = 50
    noise: Annotated[float, nonnegative()] = 0.2
    hidden: Annotated[int, size(max=4096)] = 16
    etas: Annotated[tuple[float, ...], positive(max=1.0)] = (0.04, 0.01, 0.0025, 0.000625)
    # momentum damping, and Adam's first-moment rate (beta1 = 1 - a eta)
    a: Annotated[float, positive()] = 1.0
    b: Annotated[float, positive()] = 2.0  # Adam's second-moment rate (beta2 = 1 - b eta)
    # Adam's epsilon (see the module docstring for eps = 1e-8)
    eps: Annotated[float, positive()] = 0.01
    # heavy ball's fixed momentum for the rescaled-flow limit
    beta: Annotated[float, in_range(0, 1)] = 0.9
    # flow time of the damped flow (heavy ball: n h)
    t1_momentum: Annotated[float, positive()] = 4.0
    # flow time of Adam and of the fixed-beta heavy ball (n eta)
    t1: Annotated[float, positive()] = 2.0
    # fixed-beta Adam against the sign-like flow (with eps_sign)
    fixed_beta1: Annotated[float, in_range(0, 1)] = 0.9
    fixed_beta2: Annotated[float, in_range(0, 1)] = 0.99
    etas_sign: Annotated[tuple[float, ...], positive(max=1.0)] = (1e-4, 5e-5, 2.5e-5, 1.25e-5)
    t1_sign: Annotated[float, positive()] = 0.5
    eps_sign: Annotated[float, positive()] = 1e-8
    # Adam (beta1 = 1 - a eta, beta2 = 1 - b eta) with Adam's default eps against its flow
    eps_small: Annotated[float, positive()] = 1e-8
    etas_small_eps: Annotated[tuple[float, ...], positive(max=1.0)] = (
        0.02,
        0.01,
        0.005,
        0.0025,
        0.00125,
        0.000625,
        0.0003125,
        0.00015625,
        7.8125e-05,
    )
    t1_small_eps: Annotated[float, positive()] = 0.5
    rtol: Annotated[float, tolerance()] = 1e-10
    atol: Annotated[float, positive(max=1.0)] = 1e-10

    def __post_init__(self):
        super().__post_init__()  # the declared ranges; below, those between fields
        if len(self.etas) < 2:
            raise ValueError(f"etas must hold at least two learning rates: {self.etas}")
        if not self.a * max(self.etas) < 1:
            raise ValueError(f"need a * max(etas) < 1 (beta1 > 0), got a={self.a}")
        if self.b * max(self.etas) >= 1:
            raise ValueError(f"need b * max(etas) < 1 (beta2 > 0), got b={self.b}")
        if not (self.beta < 1 and self.fixed_beta1 < 1 and 0 < self.fixed_beta2 < 1):
            raise ValueError("beta, fixed_beta1 must lie in [0, 1) and fixed_beta2 in (0, 1)")
        for eta in self.etas:  # whole numbers of steps, within the step budget
            euler_steps(self.t1, eta, "t1, etas", max_steps=MAX_STEPS)
            euler_steps(
                self.t1_momentum, np.sqrt(eta), "t1_momentum, sqrt(etas)", max_steps=MAX_STEPS
            )
        if len(self.etas_sign) < 2:
            raise ValueError(f"etas_sign must hold at least two learning rates: {self.etas_sign}")
        for eta in self.etas_sign:
            euler_steps(self.t1_sign, eta, "t1_sign, etas_sign")
        small = self.etas_small_eps
        if len(small) < 2:
            raise ValueError(f"etas_small_eps must hold at least two learning rates: {small}")
        for eta in small:
            euler_steps(self.t1_small_eps, eta, "t1_small_eps, etas_small_eps")
        if not (self.a * max(small) < 1 and self.b * max(small) < 1):
            raise ValueError(f"need a, b * max(etas_small_eps) < 1, got {max(small)}")


# The trajectories are recorded at every step (parameters and optimiser state).
MAX_STEPS = 10**6


def memory(config: Config) -> dict[str, float]:
    """Every step of the slowest trajectory is recorded: parameters and optimiser state."""
    params = 5 * config.hidden + 2  # the 2-hidden-2 MLP
    steps = max(max(config.t1 / eta, config.t1_momentum / np.sqrt(eta)) for eta in config.etas)
    steps = max(steps, *(config.t1_small_eps / eta for eta in config.etas_small_eps))
    return {
        "the recorded trajectories (t1 / min(etas) x hidden x 3)": 4 * steps * params,
        "the data and its activations (n_per_class x hidden)": 2
        * config.n_per_class
        * (4 + 3 * config.hidden),
    }


QUICK = {
    "etas": (0.04, 0.01, 0.0025),
    "t1_momentum": 2.0,
    "t1": 1.0,
    "etas_sign": (1e-4, 5e-5, 2.5e-5),
    "t1_sign": 0.2,
    "etas_small_eps": (0.01, 0.0025, 0.000625),
    "t1_small_eps": 0.25,
}


def _flat_and_state(theta, opt_state):
    return ravel_pytree(theta)[0], opt_state


def _trajectory(rule, opt, theta0, data, num_steps, max_steps):
    """theta_n (flat) and the optimiser state after each of ``num_steps`` full-batch steps of
    ``opt`` with the rule's gradient (the training loop, recording both at every step), on
    the host. The loop runs ``max_steps >= num_steps`` steps for every learning rate (one
    program: the hyperparameters are traced) and the steps past ``num_steps`` are cut off.
    (``train(num_steps=n, max_steps=N)`` would stop at n, but its select moves Adam's update
    by an ulp under XLA's fusion; running on and cutting keeps the numbers of n steps.)"""
    run = train(
        rule,
        theta0,
        data,
        opt,
        num_steps=max_steps,
        record_every=1,
        record=_flat_and_state,
        record_opt_state=True,
    )
    # entry 0 is the start
    return jax.tree.map(lambda r: np.asarray(r)[1 : num_steps + 1], run.records)


def _quadratic_field(t, theta, H):
    return -(H @ theta)


def _flat(tree):
    """ravel_pytree of every entry along the leading axis, on the host (NumPy)."""
    leaves = jax.tree.leaves(tree)
    return np.concatenate([np.asarray(a).reshape(len(a), -1) for a in leaves], axis=1)


def _max_rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)))


def _adam_small_eps(config: Config, rule, theta0, args, tol) -> list[float]:
    """||theta_n - theta(t)|| at t = t1_small_eps of Adam (beta1 = 1 - a eta, beta2 = 1 - b eta,
    eps_small) against its flow, for each of ``etas_small_eps``."""
    zeros = jax.tree.map(jnp.zeros_like, theta0)
    flow = dynlearn.solve(
        AdamFlow(rule, config.a, config.b, config.eps_small),
        (theta0, (zeros, zeros)),
        config.t1_small_eps,
        args=args,
        **tol,
    )
    th1 = np.asarray(ravel_pytree(jax.tree.map(lambda l: l[-1], flow.ys[0]))[0])
    errors = []
    steps = [round(config.t1_small_eps / eta) for eta in config.etas_small_eps]
    for eta, n in zip(
        progress(config.etas_small_eps, desc=f"Adam eps={config.eps_small:g}"), steps, strict=True
    ):
        b1, b2 = adam_hyperparameters(eta, config.a, config.b)
        opt = adam(eta, b1, b2, config.eps_small)
        # one program for every learning rate: n of max(steps) steps act (traced count)
        theta = train(rule, theta0, args, opt, num_steps=n, max_steps=max(steps)).state
        errors.append(float(np.linalg.norm(np.asarray(ravel_pytree(theta)[0]) - th1)))
    return errors


class _Problem(NamedTuple):
    """The network problem every optimiser is run on: one start, full batch."""

    rule: Backprop
    theta0: list  # the MLP's parameters, one dict per layer
    flat0: np.ndarray  # theta0 flattened
    args: Minibatches
    tol: dict  # the adaptive solves' tolerances
    zeros: list  # zeros like theta0


def _problem(config: Config) -> tuple[_Problem, Callable, Callable]:
    """The spiral, the 2-hidden-2 MLP and its start, and one program each for the losses and
    the gradients of many flat parameter vectors."""
    x, y = make_spiral(config.seed, config.n_per_class, num_classes=2, noise=config.noise)
    net = MLP((2, config.hidden, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    theta0 = net.init(jax.random.PRNGKey(config.seed), "xavier_normal")
    flat0, unravel = ravel_pytree(theta0)
    flat0 = np.asarray(flat0)
    args = Minibatches(x, y)  # full batch
    rule = Backprop(net)
    tol = {"rtol": config.rtol, "atol": config.atol, "max_steps": 1_000_000}
    zeros = jax.tree.map(np.zeros_like, theta0)
    problem = _Problem(rule, theta0, flat0, args, tol, zeros)

    # one program each for the losses and the gradients of many flat parameter vectors
    batched_loss = jax.jit(jax.vmap(lambda f: net.loss_value(unravel(f), x, y)))
    batched_grad = jax.jit(jax.vmap(lambda f: ravel_pytree(net.grad(unravel(f), x, y))[0]))
    return problem, batched_loss, batched_grad


def _flows(config: Config, p: _Problem) -> tuple[np.ndarray, np.ndarray, dict]:
    """The damped, Adam and rescaled flows (tsit5), saved on 101 times each: the momentum
    times, the others' times, and the flat parameters along each flow."""
    fine_m = np.linspace(0.0, config.t1_momentum, 101)
    momentum_flow = dynlearn.solve(
        MomentumFlow(p.rule, config.a),
        (p.theta0, p.zeros),
        config.t1_momentum,
        saveat=fine_m,
        args=p.args,
        **p.tol,
    )
    fine = np.linspace(0.0, config.t1, 101)
    adam_flow = dynlearn.solve(
        AdamFlow(p.rule, config.a, config.b, config.eps),
        (p.theta0, (p.zeros, p.zeros)),
        config.t1,
        saveat=fine,
        args=p.args,
        **p.tol,
    )
    rescaled = dynlearn.solve(
        RescaledGradientFlow(p.rule, config.beta),
        p.theta0,
        config.t1,
        saveat=fine,
        args=p.args,
        **p.tol,
    )
    curve_thetas = {
        "momentum": _flat(momentum_flow.ys[0]),
        "adam": _flat(adam_flow.ys[0]),
        "rescaled": _flat(rescaled.ys),
    }
    return fine_m, fine, curve_thetas


def _heavy_ball(config: Config, p: _Problem, h: float, n_m: int, n_scheme: int, max_steps: int):
    """Heavy ball at beta = 1 - a h for ``n_m`` steps (flat parameters per step) and its
    largest relative difference per step from the semi-implicit Euler scheme of the damped
    flow with dt = h (parameters and velocity v = -h m)."""
    eta_m, beta_m = heavy_ball_hyperparameters(h, config.a)
    hb, hb_states = _trajectory(
        p.rule, sgd(eta_m, momentum=beta_m), p.theta0, p.args, n_m, max_steps
    )
    # the scheme runs n_scheme = max(n_ms) steps for every h (one program: the saved times have
    # one shape); its first n_m steps are the ones compared
    scheme = dynlearn.solve(
        MomentumFlow(p.rule, config.a),
        (p.theta0, p.zeros),
        n_scheme * h,
        method="semi-implicit-euler",
        dt=h,
        saveat=h * np.arange(1, n_scheme + 1),
        args=p.args,
    )
    rel = max(
        _max_rel(_flat(scheme.ys[0])[:n_m], hb),
        _max_rel(_flat(scheme.ys[1])[:n_m], _flat(velocity_from_momentum(hb_states.m, h))),
    )
    return hb, rel


def _adam(config: Config, p: _Problem, eta: float, n: int, max_steps: int, batched_grad):
    """Adam with beta1 = 1 - a eta, beta2 = 1 - b eta for ``n`` steps (flat parameters per
    step), and the largest relative differences per step of its moments m, v from Euler
    steps of dm/dt = a(g - m), dv/dt = b(g^2 - v)."""
    a, b = config.a, config.b
    b1, b2 = adam_hyperparameters(eta, a, b)
    ad, ad_states = _trajectory(
        p.rule, adam(eta, b1, b2, config.eps), p.theta0, p.args, n, max_steps
    )
    m_n, v_n = _flat(ad_states.m), _flat(ad_states.v)
    thetas_prev = np.concatenate([p.flat0[None], ad[:-1]])
    m_prev = np.concatenate([np.zeros_like(p.flat0)[None], m_n[:-1]])
    v_prev = np.concatenate([np.zeros_like(p.flat0)[None], v_n[:-1]])
    # the gradients in one program for every eta, padded to max_steps rows (one fused
    # program rounds like the training loop's, op-by-op JAX an ulp apart: the maximum
    # below is rounding either way, its last digits depend on how g is evaluated)
    padded = np.concatenate([thetas_prev, np.repeat(thetas_prev[-1:], max_steps - n, 0)])
    g = np.asarray(batched_grad(padded))[:n]
    rel_m = _max_rel(m_prev + eta * a * (g - m_prev), m_n)
    rel_v = _max_rel(v_prev + eta * b * (g * g - v_prev), v_n)
    return ad, rel_m, rel_v


def _learning_rates(config: Config, p: _Problem, curve_thetas: dict, batched_grad):
    """Heavy ball (beta = 1 - a h), fixed-beta heavy ball and Adam for every eta in ``etas``:
    the figure's time axes per eta (``runs``), the parameters at those times, the errors at
    the flows' end points and the per-step identities."""
    etas = np.asarray(config.etas, dtype=float)
    hs = np.sqrt(etas)
    n_ms = [round(config.t1_momentum / float(h)) for h in hs]  # heavy-ball steps per eta
    ns = [round(config.t1 / float(eta)) for eta in etas]  # Adam / fixed-beta steps per eta
    # one compiled training loop per optimiser, long enough for every learning rate
    max_steps = max(n_ms + ns)
    th_m1 = curve_thetas["momentum"][-1]
    th_a1 = curve_thetas["adam"][-1]
    th_r1 = curve_thetas["rescaled"][-1]

    runs, run_thetas = [], []
    err_mom, err_fixed, err_adam, rel_hb, rel_m, rel_v = [], [], [], [], [], []
    for eta, h, n_m, n in progress(
        list(zip(etas, hs, n_ms, ns, strict=True)), desc="learning rates"
    ):
        eta, h = float(eta), float(h)
        # heavy ball at beta = 1 - a h, and the semi-implicit Euler scheme of the damped flow
        hb, rel = _heavy_ball(config, p, h, n_m, max(n_ms), max_steps)
        rel_hb.append(rel)
        err_mom.append(float(np.linalg.norm(hb[-1] - th_m1)))

        # heavy ball at fixed beta against the rescaled flow
        opt = sgd(eta, momentum=config.beta)
        hb_fixed, _ = _trajectory(p.rule, opt, p.theta0, p.args, n, max_steps)
        err_fixed.append(float(np.linalg.norm(hb_fixed[-1] - th_r1)))

        # Adam with beta1 = 1 - a eta, beta2 = 1 - b eta against the Adam flow
        ad, rm, rv = _adam(config, p, eta, n, max_steps, batched_grad)
        err_adam.append(float(np.linalg.norm(ad[-1] - th_a1)))
        rel_m.append(rm)
        rel_v.append(rv)

        every_m = max(1, n_m // 25)
        every = max(1, n // 25)
        runs.append(
            {
                "eta": eta,
                "h": h,
                "t_hb": h * np.arange(1, n_m + 1)[every_m - 1 :: every_m],
                "t_adam": eta * np.arange(1, n + 1)[every - 1 :: every],
            }
        )
        run_thetas.append(
            {
                "loss_hb": hb[every_m - 1 :: every_m],
                "loss_adam": ad[every - 1 :: every],
                "loss_hb_fixed": hb_fixed[every - 1 :: every],
            }
        )
    errors = {"momentum": err_mom, "fixed": err_fixed, "adam": err_adam}
    rels = {"heavy ball vs scheme": rel_hb, "Adam m": rel_m, "Adam v": rel_v}
    return runs, run_thetas, errors, rels


def _adam_sign_flow(config: Config, tol: dict) -> tuple[float, list[float]]:
    """Fixed-beta Adam against the sign-like flow (the documented comparison) on the quadratic
    L = theta^T H theta / 2 from theta0 = (1, 1): g = H theta keeps its signs (+, +) for
    t < 1, so the sign-like flow is theta0 - t (1, 1) there. (On the network some g_i cross
    zero and the sign-like flow slides along g_i = 0: discontinuous, stiff for tsit5.)
    Returns the flow's error against that closed form and Adam's error per eta."""
    H = jnp.array([[1.0, 0.3], [0.3, 0.2]])
    th_sign0 = jnp.ones(2)
    th_s1 = np.asarray(th_sign0) - config.t1_sign
    sign_flow = dynlearn.solve(
        SignLikeFlow(_quadratic_field, config.eps_sign), th_sign0, config.t1_sign, args=H, **tol
    )
    sign_flow_error = float(np.linalg.norm(np.asarray(sign_flow.ys)[-1] - th_s1))
    bowl, centre = QuadraticBowl(H), Minibatches(jnp.zeros((1, 2)), jnp.zeros((1, 1)))
    n_signs = [round(config.t1_sign / eta) for eta in config.etas_sign]
    err_sign = []
    for eta, n_sign in zip(config.etas_sign, n_signs, strict=True):
        opt = adam(eta, config.fixed_beta1, config.fixed_beta2, config.eps_sign)
        th = train(bowl, th_sign0, centre, opt, num_steps=n_sign, max_steps=max(n_signs)).state
        err_sign.append(float(np.linalg.norm(np.asarray(th) - th_s1)))
    return sign_flow_error, err_sign


def _losses(batched_loss, curve_thetas: dict, runs: list, run_thetas: list) -> list:
    """Every loss of the figure in one batched evaluation: the three flows' curves (returned)
    and each run's points (written into ``runs``)."""
    pieces = [curve_thetas["momentum"], curve_thetas["adam"], curve_thetas["rescaled"]]
    pieces += [t for r in run_thetas for t in r.values()]
    all_losses = np.split(
        np.asarray(batched_loss(np.concatenate(pieces))), np.cumsum([len(p) for p in pieces])[:-1]
    )
    loss_m, loss_a, loss_r, *per_run = all_losses
    for k, (r, thetas) in enumerate(zip(runs, run_thetas, strict=True)):
        for j, key in enumerate(thetas):
            r[key] = per_run[3 * k + j]
    return [loss_m, loss_a, loss_r]


def _metrics(config: Config, errors: dict, rels: dict, sign: tuple, err_small: list) -> dict:
    """The fitted orders, the identities' largest rounding, and the errors behind them."""
    a, b = config.a, config.b
    etas = np.asarray(config.etas, dtype=float)
    hs = np.sqrt(etas)
    sign_flow_error, err_sign = sign
    etas_small = np.asarray(config.etas_small_eps, dtype=float)
    local_small = np.diff(np.log(err_small)) / np.diff(np.log(etas_small))
    s_mom, se_mom = fit_order(hs, errors["momentum"])
    s_fix, se_fix = fit_order(etas, errors["fixed"])
    s_adam, se_adam = fit_order(etas, errors["adam"])
    s_sign, se_sign = fit_order(config.etas_sign, err_sign)
    return {
        "slope_momentum_vs_flow": s_mom,
        "slope_momentum_vs_flow_stderr": se_mom,
        "slope_momentum_fixed_beta_vs_rescaled_flow": s_fix,
        "slope_momentum_fixed_beta_vs_rescaled_flow_stderr": se_fix,
        "slope_adam_vs_flow": s_adam,
        "slope_adam_vs_flow_stderr": se_adam,
        "slope_adam_fixed_beta_vs_sign_flow": s_sign,
        "slope_adam_fixed_beta_vs_sign_flow_stderr": se_sign,
        "sign_flow_vs_closed_form": sign_flow_error,
        "momentum_euler_max_rel_error": max(rels["heavy ball vs scheme"]),
        "adam_moments_euler_max_rel_error": max(max(rels["Adam m"]), max(rels["Adam v"])),
        "etas": list(config.etas),
        "hs": hs.tolist(),
        "errors_momentum_vs_flow": errors["momentum"],
        "errors_momentum_fixed_beta_vs_rescaled_flow": errors["fixed"],
        "errors_adam_vs_flow": errors["adam"],
        "etas_sign": list(config.etas_sign),
        "errors_adam_fixed_beta_vs_sign_flow": err_sign,
        "momentum_betas": [1.0 - a * h for h in hs],
        "adam_beta1s": [1.0 - a * e for e in etas],
        "adam_beta2s": [1.0 - b * e for e in etas],
        "etas_small_eps": etas_small.tolist(),
        "errors_adam_small_eps_vs_flow": err_small,
        "local_slopes_adam_small_eps": local_small.tolist(),
    }


def run(config: Config) -> dict:
    p, batched_loss, batched_grad = _problem(config)
    # the flows (one each; Adam's and the rescaled flow on the finest grid for the figure)
    fine_m, fine, curve_thetas = _flows(config, p)
    runs, run_thetas, errors, rels = _learning_rates(config, p, curve_thetas, batched_grad)
    sign = _adam_sign_flow(config, p.tol)
    err_small = _adam_small_eps(config, p.rule, p.theta0, p.args, p.tol)
    loss_m, loss_a, loss_r = _losses(batched_loss, curve_thetas, runs, run_thetas)
    curves = {
        "t_momentum": fine_m,
        "loss_momentum_flow": loss_m,
        "t": fine,
        "loss_adam_flow": loss_a,
        "loss_rescaled_flow": loss_r,
        "per_step_rel": rels,
    }
    return {
        "metrics": _metrics(config, errors, rels, sign, err_small),
        "runs": runs,
        "curves": curves,
    }


def _plot_heavy_ball(ax, c: dict, runs: list, colors: list, config: Config) -> None:
    """(a) heavy ball (dots, t = n h) over the damped flow."""
    ax.plot(
        c["t_momentum"], c["loss_momentum_flow"], "k-", lw=2, label=f"damped flow, a = {config.a:g}"
    )
    for r, col in zip(runs, colors, strict=True):
        ax.plot(
            r["t_hb"],
            r["loss_hb"],
            "o",
            ms=3,
            color=col,
            label=f"heavy ball h={r['h']:.3g} (beta={1 - config.a * r['h']:.3g})",
        )
    ax.set(
        xlabel="flow time t = n h  (h = sqrt(eta))",
        ylabel="training loss L",
        title="(a) heavy ball = semi-implicit Euler of θ'' + aθ' = -∇L",
    )
    ax.legend()


def _plot_adam(ax, c: dict, runs: list, colors: list, config: Config) -> None:
    """(b) Adam and fixed-beta heavy ball (dots, crosses, t = n eta) over their flows."""
    ax.plot(
        c["t"],
        c["loss_adam_flow"],
        "k-",
        lw=2,
        label=f"Adam flow, a = {config.a:g}, b = {config.b:g}",
    )
    ax.plot(
        c["t"],
        c["loss_rescaled_flow"],
        "k:",
        lw=1.5,
        label=f"rescaled flow -∇L/(1-β), β = {config.beta:g}",
    )
    for r, col in zip(runs, colors, strict=True):
        ax.plot(r["t_adam"], r["loss_adam"], "o", ms=3, color=col, label=f"Adam eta={r['eta']:g}")
        ax.plot(r["t_adam"], r["loss_hb_fixed"], "x", ms=3, color=col)
    ax.plot([], [], "kx", ms=3, label="heavy ball at fixed β (per eta)")
    ax.set(
        xlabel="flow time t = n eta",
        ylabel="training loss L",
        title="(b) Adam (β = 1 - rate·eta) and fixed-β heavy ball",
    )
    ax.legend()


def _plot_errors(ax, m: dict, config: Config) -> None:
    """(c) the errors at fixed flow time against the step, with fitted slopes."""
    series = (
        (
            m["hs"],
            m["errors_momentum_vs_flow"],
            m["slope_momentum_vs_flow"],
            "o",
            "heavy ball vs damped flow (step h)",
        ),
        (
            m["etas"],
            m["errors_momentum_fixed_beta_vs_rescaled_flow"],
            m["slope_momentum_fixed_beta_vs_rescaled_flow"],
            "^",
            "fixed-β heavy ball vs rescaled flow (eta)",
        ),
        (
            m["etas"],
            m["errors_adam_vs_flow"],
            m["slope_adam_vs_flow"],
            "s",
            "Adam vs Adam flow (eta)",
        ),
        (
            m["etas_sign"],
            m["errors_adam_fixed_beta_vs_sign_flow"],
            m["slope_adam_fixed_beta_vs_sign_flow"],
            "D",
            f"Adam β=({config.fixed_beta1:g}, {config.fixed_beta2:g}) vs sign flow (quadratic)",
        ),
    )
    for steps, errs, slope, mark, name in series:
        steps, errs = np.asarray(steps), np.asarray(errs)
        line = ax.loglog(steps, errs, mark, ms=6, label=f"{name}: slope {slope:.3f}")[0]
        coef = np.polyfit(np.log(steps), np.log(errs), 1)
        grid = np.geomspace(steps.min(), steps.max(), 20)
        ax.loglog(grid, np.exp(np.polyval(coef, np.log(grid))), "-", lw=1, color=line.get_color())
    eps_small = f"{config.eps_small:g}".replace("e-0", "e-")
    steps, errs = np.asarray(m["etas_small_eps"]), np.asarray(m["errors_adam_small_eps_vs_flow"])
    local = m["local_slopes_adam_small_eps"]
    ax.loglog(
        steps,
        errs,
        "s--",
        ms=5,
        mfc="none",
        lw=0.8,
        color="C2",
        label=f"Adam vs Adam flow, ε = {eps_small}: local slope {local[0]:.2f} → {local[-1]:.2f}",
    )
    ax.loglog(  # slope 1 through the smallest learning rate
        steps, errs[-1] * steps / steps[-1], ":", lw=1, color="0.4", label="slope 1"
    )
    top = max(max(np.max(e) for _, e, _, _, _ in series), float(errs.max()))
    ax.set_ylim(top=100 * top)  # room for the legend above the data
    ax.set(
        xlabel="step (h or eta)",
        ylabel=r"$\|\theta_n - \theta(t_1)\|$",
        title=f"(c) global error at fixed flow time: first order (ε = {eps_small}: "
        "only at small eta)",
    )
    ax.legend(loc="upper left", fontsize=7)


def _plot_identities(ax, c: dict, runs: list) -> None:
    """(d) the step-for-step identities: relative differences per step, at rounding level."""
    x = np.arange(len(runs))
    width = 0.27
    floor = 1e-17  # exact zeros drawn at the floor
    for k, (name, vals) in enumerate(c["per_step_rel"].items()):
        ax.bar(x + (k - 1) * width, np.maximum(vals, floor), width, label=name)
    ax.axhline(np.finfo(float).eps, color="k", lw=0.8, ls="--", label="float64 eps")
    ax.set_yscale("log")
    ax.set_xticks(x, [f"eta={r['eta']:g}" for r in runs])
    ax.set(
        ylabel="max relative difference over all steps",
        title="(d) the discrete rules are the schemes, to rounding",
    )
    ax.legend(loc="upper left")


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    m, runs, c = results["metrics"], results["runs"], results["curves"]
    fig, axes = figure(2, 2, width=5.0, height=3.7)
    (ax_hb, ax_adam), (ax_err, ax_id) = axes
    colors = [f"C{i}" for i in range(len(runs))]
    _plot_heavy_ball(ax_hb, c, runs, colors, config)
    _plot_adam(ax_adam, c, runs, colors, config)
    _plot_errors(ax_err, m, config)
    _plot_identities(ax_id, c, runs)
    return fig


scenario = Scenario(
    name="optimiser-flows",
    description="heavy ball and Adam as first-order schemes of their flows (slopes, identities)",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    memory=memory,
    stability_keys=("etas", "etas_sign"),
)

if __name__ == "__main__":
    scenario.main()
