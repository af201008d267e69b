"""Target alignment against depth: one predictive-coding update moves the output toward the
target, one backprop step less so the deeper the network (Song et al. 2024, Nature
Neuroscience 27, "Inferring neural activity before plasticity as a foundation for learning
beyond backpropagation"; docs/references.md §14).

Target alignment of one update on one example (x, y): cos(ŷ' - ŷ, y - ŷ), ŷ the output before
and ŷ' after the weight step (``dynlearn.analysis.target_alignment``). The paper's setting:
deep linear networks (identity layers) of ``width`` 64, no biases (the MLP's biases stay 0 and
are never updated), Xavier-uniform weights, x, y ~ N(0, I), batch size 1, L = ``depths``
weight matrices; ``num_seeds`` seeds per depth, each its own weights, x and y (NumPy's
generator seeded with (seed, L)), measured in one ``dynlearn.sweep`` over the seeds per depth.

* BP: one SGD step on ½||ŷ - y||² at ``lr``. Next to it its first-order closed form
  cos(K e, e), K = sum_l ||h_{l-1}||² A_l A_l^T (derived in ``dynlearn.analysis.
  target_alignment``), which holds as lr -> 0: ``bp_closed_form_max_abs_error`` compares it
  with one BP step at lr = 1e-6 (float64), whatever ``lr`` is.
* PC (``dynlearn.rules.pc``): states start at the feedforward pass, the output clamped to y,
  ``T`` Euler steps at rate ``gamma`` on the energy (``dynlearn.solve(method="euler",
  dt=gamma)`` over ``PredictiveCoding.vector_field``), then one weight step
  ΔW_l = lr eps_l x_l^T (descent on F, ``PredictiveCoding.weight_gradient``). Hard clamping
  (``clamp=hard``): the output term ½||y - W_L x_L||² (x_{L+1} = y). Soft clamping
  (``clamp=soft``): the output node x_{L+1} is free with the term beta ½||x_{L+1} - y||²
  (built as one more layer with fixed weight I whose "loss" is that term; its weight is never
  updated). The alignment is also read along the relaxation (T = 0, 1, 2, 4, ...,
  ``T_curve``) and at the equilibrium: from the end of that path, Euler steps at
  ``gamma_equilibrium`` (the fixed points do not depend on the step; 0.2 takes half the steps
  of 0.1 and is still below 2 / largest curvature of F) with ``solve(...,
  until=steady_state(tol))`` until rms(dx/dt) < ``tol``. At T = 0 only the last
  layer has an error, so the step is the delta rule on W_L and the alignment is exactly 1.
  (The authors' code takes the weight step at the states after T - 1 = 127 steps, and halves
  the relaxation rate whenever the energy fails to fall; F is quadratic in the states here,
  and Euler at gamma < 2 / its largest curvature lowers it at every step, so that never
  happens at gamma = 0.1.)

Beyond the paper:

* Along training: the alignment of every update over ``train_epochs`` epochs of a nonlinear
  64-``train_hidden``-10 network (``train_activation``, identity output, MSE on one-hot
  targets, Xavier-normal init) on ``train_examples`` of scikit-learn's 8x8 digits, batch size
  1, SGD at ``train_eta``, for BP, PC (T, gamma, hard clamping: ``PredictiveCodingRule`` with
  beta = 1) and feedback alignment, through ``dynlearn.train`` and
  ``TargetAlignmentProbe``; ``train_seeds`` seeds (init, B, order) in one sweep per rule.
* Interference (after the paper's Fig. 1, the bear that stops hearing the river but should
  still expect the salmon; here a 1-1-2 linear network without biases, all weights 1,
  input 1): both outputs predict 1 ("hear the river", "smell the salmon"); the first
  output's target changes to 0 and the second's stays 1. ``interference_steps`` updates
  at ``interference_lr`` (weights only) by BP, PC (T, gamma, hard clamping) and FA. The
  disturbance is how far the second output moves: |Δŷ_2|/|Δŷ_1| of the first update,
  |ŷ_2 - 1| when ŷ_1 first reaches 1/2 (the new output half learned), and the largest
  |ŷ_2 - 1| over the run. First update in closed form: BP changes w_1 and w_2 by -lr, so
  Δŷ_2/Δŷ_1 = 1/(2 - lr); PC's hidden state relaxes to h = 2/3 (dF/dh = 3h - 2), the errors
  are -1/3 (hidden) and (-2/3, 1/3) (outputs), and Δŷ_2/Δŷ_1 = (3 + 2 lr)/(21 - 4 lr), 1/7 as
  lr -> 0. FA's hidden error is b_1 e_1 with b_1 ~ N(0, 2) (its default feedback scale), so
  its disturbance has the sign and size of b_1: median over ``num_seeds`` draws of B.

Figure: (a) alignment against depth, mean ± standard error over seeds, with the values read
from the paper's figure; (b) PC's alignment along the relaxation for each depth; (c) the
alignment of every update along training (running mean); (d) the interference example.
Metrics: per depth (lists aligned with ``depths``) ``target_alignment_bp``,
``target_alignment_pc``, ``target_alignment_pc_equilibrium``, their ``*_stderr``,
``target_alignment_bp_first_order``, ``bp_closed_form_max_abs_error``,
``target_alignment_pc_small_lr`` and ``target_alignment_pc_equilibrium_small_lr`` (PC's step
at lr = 1e-6: its lr -> 0 limit, beside BP's first order), ``pc_alignment_along_relaxation``,
``pc_equilibrium_relaxation_time_max`` (relaxation time t = sum of the Euler steps when
rms(dx/dt) < tol; T gamma for the T-step rule); ``training_*`` and
``interference_*`` (dicts bp / pc / fa).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn import SolveError, solve, steady_state, sweep, train
from dynlearn.analysis import TargetAlignmentProbe, bp_first_order_alignment, target_alignment
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    ConfigError,
    Scenario,
    ScenarioConfig,
    Seed,
    one_of,
    positive,
    size,
)
from dynlearn.data import load_digits_split
from dynlearn.nn import ACTIVATIONS, MLP, Minibatches, Optimizer, minibatch_indices
from dynlearn.rules.credit import Backprop, feedback_alignment
from dynlearn.rules.pc import Clamped, PredictiveCoding, PredictiveCodingRule, residual

CLOSED_FORM_LR = 1e-6  # the BP step compared with its first-order closed form
EQUILIBRIUM_MAX_STEPS = 400_000  # Euler steps allowed to reach rms(dx/dt) < tol

# Read by eye (to about ±0.02) from the figure of this experiment in the authors' code
# repository (YuhangSong/Prospective-Configuration, experiments/nature_target_alignment/
# plot-depth-width-linear-1.png: batch size 1, mean and error bars over 3 seeds), which shows
# what the paper reports: PC about 1 for L <= 4 and about 0.9 beyond, BP from 1 at L = 1 to
# about 0.55 at L = 12-14 and 0.4 at L = 15. Typed in, so never a metric: marked on the plot.
PAPER_FIGURE = {
    "depths": (1, 2, 4, 6, 8, 10, 12, 14, 15),
    "bp": (1.00, 0.91, 0.82, 0.72, 0.68, 0.57, 0.54, 0.54, 0.39),
    "pc": (1.00, 0.99, 0.98, 0.92, 0.95, 0.93, 0.91, 0.95, 0.89),
}
HIDDEN_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "softmax")
RULES = ("bp", "pc", "fa")
LABELS = {"bp": "backprop", "pc": "predictive coding", "fa": "feedback alignment"}
COLORS = {"bp": "tab:orange", "pc": "tab:blue", "fa": "tab:green"}


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    # depth experiment (Song et al. 2024)
    depths: Annotated[tuple[int, ...], size(max=64)] = (1, 2, 4, 6, 8, 10, 12, 15)  # L: weights
    num_seeds: Annotated[int, size(max=10_000)] = 32  # draws of (weights, x, y) per depth
    width: Annotated[int, size(max=1024)] = 64  # every layer's width
    lr: Annotated[float, positive()] = 1e-3  # the one weight step of BP and PC
    T: Annotated[int, positive(max=100_000)] = 128  # PC relaxation steps before the weight step
    gamma: Annotated[float, positive()] = 0.1  # PC relaxation rate (Euler step)
    clamp: Annotated[str, one_of("hard", "soft")] = "hard"  # PC output clamping
    beta: Annotated[float, positive()] = 1.0  # soft clamping strength (clamp=soft only)
    tol: Annotated[float, positive()] = 1e-6  # equilibrium: relax until rms(dx/dt) < tol
    # Euler step of the relaxation to equilibrium (same fixed point as gamma, fewer steps;
    # stable below 2 / largest curvature of F, about 0.2 for square Xavier layers)
    gamma_equilibrium: Annotated[float, positive()] = 0.2
    T_curve: Annotated[int, positive(max=100_000)] = 1024  # read PC's alignment up to this step
    # along training (BP, PC, FA on the digits, batch size 1)
    train_hidden: Annotated[tuple[int, ...], size(max=4096)] = (64, 64)  # digits net
    train_activation: Annotated[str, one_of(*HIDDEN_ACTIVATIONS)] = "tanh"  # digits net, hidden
    train_eta: Annotated[float, positive()] = 0.01  # SGD learning rate of the training run
    train_epochs: Annotated[int, size(max=1000)] = 1  # passes over the examples
    train_examples: Annotated[int, size(max=1347)] = 1347  # of the 1347 training digits
    train_seeds: Annotated[int, size(max=1000)] = 3  # init, feedback B and example order
    # interference example (1-1-2 linear net, the first output's target changes)
    interference_lr: Annotated[float, positive(max=1.0)] = 0.1  # SGD step, weights only
    interference_steps: Annotated[int, size(max=100_000)] = 40  # updates on its one example


QUICK = {
    "depths": (1, 4, 6),
    "num_seeds": 6,
    "T_curve": 256,
    "train_hidden": (32,),
    "train_examples": 150,
    "train_seeds": 1,
    "interference_steps": 15,
}


# ------------------------------------------------------------------------- depth experiment
def linear_mlp(depth: int, width: int) -> MLP:
    """L = ``depth`` identity layers of ``width`` units, loss ½||ŷ - y||² (batch of one)."""
    return MLP((width,) * (depth + 1), ("identity",) * depth, "mse")


def draw(config: Config, depth: int) -> dict:
    """Every seed's problem at one depth, stacked along a leading seed axis: Xavier-uniform
    weights W (num_seeds, L, n, n), entries U(+-sqrt(6 / (n + n))) (docs/references.md §2;
    biases 0, never updated), x and y (num_seeds, 1, n) ~ N(0, I). Drawn with NumPy from
    (seed, depth), outside the compiled sweep: a PRNG inside it costs more compile time than
    the rest of the draw's use."""
    rng = np.random.default_rng([config.seed, depth])
    S, n = config.num_seeds, config.width
    limit = np.sqrt(6.0 / (n + n))
    return {
        "W": rng.uniform(-limit, limit, (S, depth, n, n)),
        "x": rng.standard_normal((S, 1, n)),
        "y": rng.standard_normal((S, 1, n)),
    }


def member(problems: dict, i: int) -> dict:
    """Seed i's problem from ``draw``."""
    return {k: v[i] for k, v in problems.items()}


def pc_field(params, config: Config) -> PredictiveCoding:
    """PC on the linear network: hard clamping (output term ½||y - W_L x_L||², beta = 1), or
    soft clamping (a free output node x_{L+1} and the term beta ½||x_{L+1} - y||², as one more
    layer with fixed weight I)."""
    depth, n = len(params), config.width
    if config.clamp == "hard":
        return PredictiveCoding(linear_mlp(depth, n), params, beta=1.0)
    clamp_layer = {"W": jnp.eye(n), "b": jnp.zeros(n)}
    return PredictiveCoding(linear_mlp(depth + 1, n), [*params, clamp_layer], beta=config.beta)


def relaxation_grid(config: Config) -> np.ndarray:
    """Relaxation steps at which PC's alignment is read: 0, 1, 2, 4, ..., T_curve, and T."""
    top = max(config.T_curve, config.T)
    powers = [0] + [2**k for k in range(top.bit_length()) if 2**k <= top]
    return np.array(sorted(set(powers) | {config.T, top}))


def _stepped(params, dW, lr):
    """W_l <- W_l - lr dW_l; the biases stay 0."""
    return [{"W": p["W"] - lr * d, "b": p["b"]} for p, d in zip(params, dW, strict=True)]


def _alignment(mlp, params, dW, lr, x, y):
    after = _stepped(params, dW, lr)
    return target_alignment(mlp.predict(params, x), mlp.predict(after, x), y)[0]


def one_seed(problem: dict, depth: int, config: Config) -> dict:
    """Everything measured on one seed's problem (traceable; ``sweep`` maps it over the
    seeds)."""
    x, y, n = problem["x"], problem["y"], config.width
    params = [{"W": problem["W"][l], "b": jnp.zeros(n, x.dtype)} for l in range(depth)]
    mlp = linear_mlp(depth, n)
    bp_dW = [g["W"] for g in mlp.grad(params, x, y)]  # hand-written backprop, = jax.grad
    out = {
        "bp": _alignment(mlp, params, bp_dW, config.lr, x, y),
        "bp_small_lr": _alignment(mlp, params, bp_dW, CLOSED_FORM_LR, x, y),
        "bp_first_order": bp_first_order_alignment([p["W"] for p in params], x[0], y[0]),
    }

    pc, args = pc_field(params, config), Clamped(x, y)

    def pc_alignment(xs, lr=config.lr):  # one step Delta W_l = lr eps_l x_l^T at the states xs
        dW = [g["W"] for g in pc.weight_gradient(xs, args)[:depth]]
        return _alignment(mlp, params, dW, lr, x, y)

    grid = relaxation_grid(config)
    xs0 = pc.initial_states(x, "feedforward")
    if not xs0:  # one layer, hard clamping: no free state, nothing to relax
        a, a_small = pc_alignment(xs0), pc_alignment(xs0, CLOSED_FORM_LR)
        return out | {
            "pc_curve": jnp.full(len(grid), a),
            "pc": a,
            "pc_small_lr": a_small,
            "pc_equilibrium": a,
            "pc_equilibrium_small_lr": a_small,
            "equilibrium_time": jnp.asarray(0.0),
            "equilibrium_reached": jnp.asarray(True),
            "equilibrium_residual": jnp.asarray(0.0),
        }
    path = solve(
        pc,
        xs0,
        int(grid[-1]) * config.gamma,
        method="euler",
        dt=config.gamma,
        args=args,
        saveat=config.gamma * grid,
        max_steps=int(grid[-1]),
    )
    curve = jax.vmap(pc_alignment)(path.ys)
    # continued from the end of the path until rms(dx/dt) < tol (Euler at gamma_equilibrium:
    # any stable step has the same fixed points)
    eq = solve(
        pc,
        jax.tree.map(lambda a: a[-1], path.ys),
        EQUILIBRIUM_MAX_STEPS * config.gamma_equilibrium,
        method="euler",
        dt=config.gamma_equilibrium,
        args=args,
        until=steady_state(config.tol),
        max_steps=EQUILIBRIUM_MAX_STEPS,
    )
    xs_eq = jax.tree.map(lambda a: a[-1], eq.ys)
    at_T = int(np.flatnonzero(grid == config.T)[0])
    return out | {
        "pc_curve": curve,
        "pc": curve[at_T],
        "pc_small_lr": pc_alignment(jax.tree.map(lambda a: a[at_T], path.ys), CLOSED_FORM_LR),
        "pc_equilibrium": pc_alignment(xs_eq),
        "pc_equilibrium_small_lr": pc_alignment(xs_eq, CLOSED_FORM_LR),
        # relaxation time t = n gamma at which rms(dx/dt) < tol was seen (an upper bound
        # when the path had already settled: then eq took no step)
        "equilibrium_time": grid[-1] * config.gamma
        + eq.stats["num_steps"] * config.gamma_equilibrium,
        "equilibrium_reached": eq.stats["event"],
        "equilibrium_residual": residual(pc, xs_eq, args),
    }


def depth_experiment(config: Config) -> dict:
    """Per depth, every seed's measurements as NumPy arrays (one compiled sweep per depth)."""
    per_depth = {}
    for depth in progress(config.depths, desc="target-alignment depths"):
        out = sweep(lambda p, depth=depth: one_seed(p, depth, config), draw(config, depth))
        out = jax.tree.map(np.asarray, out)
        if not out["equilibrium_reached"].all():
            raise SolveError(
                f"depth {depth}: no steady state (rms(dx/dt) < {config.tol:g}) within "
                f"{EQUILIBRIUM_MAX_STEPS} Euler steps of gamma={config.gamma_equilibrium} for "
                f"{int((~out['equilibrium_reached']).sum())} of {config.num_seeds} seeds"
            )
        per_depth[depth] = out
    return per_depth


# ----------------------------------------------------------------------- along training
def training_experiment(config: Config) -> dict:
    """Per rule: the alignment of every update (train_seeds, steps) and the test accuracy."""
    split = load_digits_split(config.seed)
    n = config.train_examples
    # NumPy until the sweep: eager JAX ops here would each compile a program
    x, y = np.asarray(split.x_train)[:n], np.asarray(split.y_train)[:n]
    sizes = (x.shape[1], *config.train_hidden, y.shape[1])
    mlp = MLP(sizes, (config.train_activation,) * len(config.train_hidden) + ("identity",), "mse")
    members = {
        "seed": np.arange(config.train_seeds),
        "index": np.stack(
            [
                minibatch_indices(config.seed + s, n, 1, config.train_epochs)
                for s in range(config.train_seeds)
            ]
        ),
    }

    def one(name, seed):
        key = jax.random.fold_in(jax.random.key(config.seed + 1), seed["seed"])
        k_init, k_B = jax.random.split(key)
        rule = {
            "bp": lambda: Backprop(mlp),
            "pc": lambda: PredictiveCodingRule(mlp, T=config.T, gamma=config.gamma, beta=1.0),
            "fa": lambda: feedback_alignment(mlp, k_B),
        }[name]()
        data = Minibatches(x, y, seed["index"], eta=config.train_eta)
        run = train(
            TargetAlignmentProbe(rule, config.train_eta), mlp.init(k_init, "xavier_normal"), data
        )
        return {
            "alignment": run.losses.alignment[:, 0],
            "loss": run.losses.loss,
            "test_accuracy": mlp.accuracy(run.state, split.x_test, split.y_test),
        }

    return {
        name: jax.tree.map(np.asarray, sweep(lambda m, name=name: one(name, m), members))
        for name in progress(RULES, desc="target-alignment training")
    }


# --------------------------------------------------------------------------- interference
class WeightsOnlySGD(Optimizer):
    """theta <- theta - eta d on the weights; biases stay 0 (the example has none)."""

    eta: jax.Array

    def init(self, params):
        return None

    def step(self, params, d, state):
        return _stepped(params, [g["W"] for g in d], self.eta), state


INTERFERENCE_MLP = MLP((1, 1, 2), ("identity", "identity"), "mse")


def interference_experiment(config: Config) -> dict:
    """Per rule, the outputs (ŷ_1, ŷ_2) before and after each of the updates, (steps + 1, 2)
    (FA: one row per draw of B)."""
    mlp = INTERFERENCE_MLP
    params = [  # NumPy: eager JAX ops would each compile a program
        {"W": np.ones((1, 1)), "b": np.zeros(1)},
        {"W": np.ones((2, 1)), "b": np.zeros(2)},
    ]
    x, y = np.ones((1, 1)), np.array([[0.0, 1.0]])
    data = Minibatches(x, y)  # full batch, the one example; the optimiser holds the rate

    def outputs(rule):
        run = train(
            rule,
            params,
            data,
            WeightsOnlySGD(np.asarray(config.interference_lr)),
            num_steps=config.interference_steps,
            record=lambda p: mlp.predict(p, x)[0],
            record_every=1,
        )
        return run.records

    def fa_outputs(draw_index):
        key = jax.random.fold_in(jax.random.key(config.seed + 2), draw_index)
        return outputs(feedback_alignment(mlp, key))

    fa = sweep(fa_outputs, np.arange(config.num_seeds))
    return {
        "bp": np.asarray(outputs(Backprop(mlp))),
        "pc": np.asarray(
            outputs(PredictiveCodingRule(mlp, T=config.T, gamma=config.gamma, beta=1.0))
        ),
        "fa": np.asarray(fa),
    }


def _first_step_ratio(out: np.ndarray) -> np.ndarray:
    """|Δŷ_2| / |Δŷ_1| of the first update (out: (..., steps + 1, 2))."""
    d = out[..., 1, :] - out[..., 0, :]
    return np.abs(d[..., 1]) / np.abs(d[..., 0])


def _disturbance_at_half(out: np.ndarray) -> np.ndarray:
    """|ŷ_2 - 1| at the first update after which ŷ_1 <= 1/2 (the new output half learned);
    NaN where it never gets there (out: (..., steps + 1, 2))."""
    half = out[..., 0] <= 0.5
    first = np.argmax(half, axis=-1)
    at = np.take_along_axis(out[..., 1], first[..., None], axis=-1)[..., 0]
    return np.where(half.any(-1), np.abs(at - 1.0), np.nan)


def _summary(values: np.ndarray) -> float:
    """One number per rule: the value itself (BP, PC), the median over FA's draws of B (a mean
    would follow the draws whose first output barely moves)."""
    values = np.asarray(values, float)
    if values.ndim == 0:
        return float(values)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


# ------------------------------------------------------------------------------------ run
def _stderr(a: np.ndarray) -> float:
    return float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else 0.0


def run(config: Config) -> dict:
    per_depth = depth_experiment(config)
    training = training_experiment(config)
    interference = interference_experiment(config)

    def per(key, fn=lambda a: float(a.mean())):
        return [fn(per_depth[d][key]) for d in config.depths]

    grid = relaxation_grid(config)
    steps = {r: training[r]["alignment"] for r in RULES}
    decile = max(1, steps["bp"].shape[1] // 10)
    metrics = {
        "depths": list(config.depths),
        "target_alignment_bp": per("bp"),
        "target_alignment_bp_stderr": per("bp", _stderr),
        "target_alignment_bp_first_order": per("bp_first_order"),
        "target_alignment_bp_first_order_stderr": per("bp_first_order", _stderr),
        "target_alignment_pc": per("pc"),
        "target_alignment_pc_stderr": per("pc", _stderr),
        "target_alignment_pc_equilibrium": per("pc_equilibrium"),
        "target_alignment_pc_equilibrium_stderr": per("pc_equilibrium", _stderr),
        "target_alignment_pc_small_lr": per("pc_small_lr"),
        "target_alignment_pc_equilibrium_small_lr": per("pc_equilibrium_small_lr"),
        "bp_closed_form_max_abs_error": max(
            float(np.max(np.abs(per_depth[d]["bp_small_lr"] - per_depth[d]["bp_first_order"])))
            for d in config.depths
        ),
        "bp_closed_form_lr": CLOSED_FORM_LR,
        "pc_alignment_along_relaxation": {
            "T": grid.tolist(),
            "alignment": [per_depth[d]["pc_curve"].mean(0).tolist() for d in config.depths],
        },
        "pc_equilibrium_relaxation_time_max": per("equilibrium_time", lambda a: float(a.max())),
        "pc_equilibrium_residual_max": max(
            float(per_depth[d]["equilibrium_residual"].max()) for d in config.depths
        ),
        "training_alignment_mean": {r: float(steps[r].mean()) for r in RULES},
        "training_alignment_first_decile": {r: float(steps[r][:, :decile].mean()) for r in RULES},
        "training_alignment_last_decile": {r: float(steps[r][:, -decile:].mean()) for r in RULES},
        "training_fraction_away_from_target": {r: float((steps[r] < 0).mean()) for r in RULES},
        "training_test_accuracy": {r: float(training[r]["test_accuracy"].mean()) for r in RULES},
        "training_steps": int(steps["bp"].shape[1]),
        "interference_first_step_ratio": {
            r: _summary(_first_step_ratio(interference[r])) for r in RULES
        },
        "interference_disturbance_at_half": {
            r: _summary(_disturbance_at_half(interference[r])) for r in RULES
        },
        "interference_max_disturbance": {
            r: _summary(np.abs(interference[r][..., 1] - 1.0).max(-1)) for r in RULES
        },
        "interference_fa_draws_reaching_half": int(
            np.isfinite(_disturbance_at_half(interference["fa"])).sum()
        ),
        "interference_final_outputs": {
            r: [_summary(interference[r][..., -1, k]) for k in (0, 1)] for r in RULES
        },
    }
    example = {d: member(draw(config, d), 0) for d in config.depths}  # for independent checks
    return {
        "metrics": metrics,
        "per_depth": per_depth,
        "example_problem": example,
        "training": training,
        "interference": interference,
    }


# ----------------------------------------------------------------------------------- plot
def _running_mean(a: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, a.size))
    return np.convolve(a, np.ones(window) / window, mode="valid")


def _plot_depths(ax, m: dict, config: Config) -> None:
    """(a) target alignment against depth, per rule, with the paper's figure read off."""
    depths = np.array(config.depths)
    clamp = "" if config.clamp == "hard" else f", soft clamp beta={config.beta:g}"
    lines = [
        ("bp", COLORS["bp"], "-", "o", f"BP, lr={config.lr:g}"),
        ("bp_first_order", COLORS["bp"], ":", None, "BP, first order (lr → 0)"),
        ("pc", COLORS["pc"], "-", "o", f"PC, T={config.T}{clamp}, lr={config.lr:g}"),
        ("pc_small_lr", COLORS["pc"], ":", None, f"PC, T={config.T}, lr={CLOSED_FORM_LR:g}"),
        ("pc_equilibrium", COLORS["pc"], "--", "s", "PC at equilibrium"),
    ]
    for key, color, ls, marker, label in lines:
        ax.errorbar(
            depths,
            m[f"target_alignment_{key}"],
            yerr=m.get(f"target_alignment_{key}_stderr"),
            color=color,
            ls=ls,
            marker=marker,
            ms=4,
            capsize=2,
            label=label,
        )
    for rule, marker in (("bp", "X"), ("pc", "P")):
        ax.plot(
            PAPER_FIGURE["depths"],
            PAPER_FIGURE[rule],
            marker,
            color=COLORS[rule],
            mfc="white",
            ms=7,
            ls="none",
            label=f"{rule.upper()}, paper's figure (read off)",
        )
    ax.set(
        xlabel="depth L (weight matrices)",
        ylabel="target alignment cos(ŷ' − ŷ, y − ŷ)",
        ylim=(0.0, 1.05),
        title=f"(a) deepest, L={depths[-1]}: PC {m['target_alignment_pc'][-1]:.2f} "
        f"(equilibrium {m['target_alignment_pc_equilibrium'][-1]:.2f}), "
        f"BP {m['target_alignment_bp'][-1]:.2f} (first order "
        f"{m['target_alignment_bp_first_order'][-1]:.2f})\nmean ± s.e. over seeds; "
        "open symbols: read off the paper's figure",
    )
    ax.legend(loc="lower left", fontsize=7)


def _plot_relaxation(ax, m: dict, config: Config) -> None:
    """(b) PC's target alignment against the relaxation steps T before the weight step."""
    import matplotlib.pyplot as plt

    depths = np.array(config.depths)
    along = m["pc_alignment_along_relaxation"]
    T = np.array(along["T"], float)
    cmap = plt.colormaps["viridis"]
    for i, (depth, curve) in enumerate(zip(config.depths, along["alignment"], strict=True)):
        color = cmap(i / max(1, len(depths) - 1))
        ax.plot(np.maximum(T, 0.5), curve, "-", color=color, label=f"L={depth}")
        ax.plot(T[-1] * 3, m["target_alignment_pc_equilibrium"][i], "s", color=color, ms=4)
    ax.axvline(config.T, color="grey", ls=":", lw=1)
    ax.text(
        config.T,
        0.02,
        f" T={config.T}",
        color="grey",
        fontsize=7,
        va="bottom",
        transform=ax.get_xaxis_transform(),
    )
    low = min(min(c) for c in along["alignment"] + [m["target_alignment_pc_equilibrium"]])
    curve_at_T = m["target_alignment_pc"][-1]
    ax.set(
        xscale="log",
        xlabel="relaxation steps T before the weight step (T=0 drawn at 0.5)",
        ylabel="PC target alignment (squares: at equilibrium)",
        ylim=(low - 0.03, 1.01),
        xlim=(0.4, T[-1] * 5),
        title=f"(b) PC along the relaxation: 1 at T=0 (only W_L learns); L={depths[-1]}: "
        f"{curve_at_T:.3f} at T={config.T},\n"
        f"{m['target_alignment_pc_equilibrium'][-1]:.3f} at equilibrium "
        f"(relaxation time up to {m['pc_equilibrium_relaxation_time_max'][-1]:.0f}; "
        f"T={config.T} is t={config.T * config.gamma:g})",
    )
    ax.legend(loc="lower left", fontsize=7, ncol=2)


def _plot_training(ax, results: dict, config: Config) -> None:
    """(c) target alignment of every update while training on the digits."""
    m = results["metrics"]
    window = max(1, m["training_steps"] // 25)
    for r in RULES:
        a = results["training"][r]["alignment"].mean(0)
        ax.plot(
            np.arange(window, a.size + 1),
            _running_mean(a, window),
            color=COLORS[r],
            label=f"{LABELS[r]} (mean {m['training_alignment_mean'][r]:.3f}, "
            f"test acc. {m['training_test_accuracy'][r]:.2f})",
        )
    hidden = "-".join(map(str, config.train_hidden))
    mean = m["training_alignment_mean"]
    ax.set(
        xlabel="update (one digit each)",
        ylabel=f"target alignment (running mean of {window})",
        ylim=(min(0.0, ax.get_ylim()[0]), 1.05),
        title=f"(c) every update of {config.train_epochs} epoch(s) on the digits: 64-{hidden}-10 "
        f"{config.train_activation}, batch 1,\nlr={config.train_eta:g}, "
        f"{config.train_seeds} seed(s); mean alignment "
        + " > ".join(f"{r.upper()} {mean[r]:.3f}" for r in sorted(RULES, key=lambda r: -mean[r])),
    )
    ax.legend(loc="lower right", fontsize=7)


def _plot_interference(ax, results: dict, config: Config) -> None:
    """(d) interference: the outputs of the 1-1-2 net while learning y1 -> 0."""
    m = results["metrics"]
    steps = np.arange(config.interference_steps + 1)
    for r in RULES:
        out = results["interference"][r]
        if out.ndim == 3:  # FA: one line per draw of B
            for k, row in enumerate(out):
                ax.plot(
                    steps,
                    row[:, 1],
                    color=COLORS[r],
                    lw=0.5,
                    alpha=0.4,
                    label=f"{LABELS[r]}, ŷ₂ ({len(out)} draws of B)" if k == 0 else None,
                )
            continue
        ax.plot(steps, out[:, 0], "--", color=COLORS[r], label=f"{LABELS[r]}, ŷ₁ (target 0)")
        ax.plot(steps, out[:, 1], "-", color=COLORS[r], lw=2, label=f"{LABELS[r]}, ŷ₂ (target 1)")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.text(steps[-1], 0.5, "ŷ₁ = ½ ", color="grey", fontsize=7, ha="right", va="bottom")
    half = m["interference_disturbance_at_half"]
    ax.set(
        xlabel=f"update (lr={config.interference_lr:g}; weights only, no biases)",
        ylabel="output (1-1-2 linear net, input 1, all weights 1 at first)",
        title="(d) interference: learn ŷ₁ → 0 without moving ŷ₂; when ŷ₁ = ½,\n"
        f"|ŷ₂ − 1| is {half['bp']:.3f} (BP), {half['pc']:.3f} (PC), "
        f"{half['fa']:.3f} (FA, median)",
    )
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7)


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    m = results["metrics"]
    fig, axes = figure(2, 2, width=6.0, height=4.4)
    _plot_depths(axes[0, 0], m, config)
    _plot_relaxation(axes[0, 1], m, config)
    _plot_training(axes[1, 0], results, config)
    _plot_interference(axes[1, 1], results, config)
    fig.suptitle(
        f"Target alignment of one update (Song et al. 2024): linear nets of width {config.width}, "
        f"{config.num_seeds} seeds per depth"
    )
    return fig


def check(config: Config) -> list[str]:
    """Euler relaxation must be stable at the output node under soft clamping, the
    equilibrium reachable within its step budget; warnings for rates near Euler's limit."""
    for name in ("gamma", "gamma_equilibrium"):
        rate = getattr(config, name)
        if config.clamp == "soft" and rate * (1.0 + config.beta) >= 2.0:
            raise ConfigError(
                f"clamp=soft with beta={config.beta:g}: Euler relaxation at {name}={rate:g} "
                f"diverges at the output node (curvature 1 + beta); use beta < "
                f"{2 / rate - 1:g} or a smaller {name}"
            )
    if config.tol < 1e-12:
        raise ConfigError(
            f"tol={config.tol:g}: rms(dx/dt) of float64 states stalls near 1e-15 times their "
            f"size, so the steady state may never be declared; use tol >= 1e-12"
        )
    # the slowest mode of F takes a relaxation time of about 6 L^2 (1290 at L = 15)
    needed = 10.0 * max(config.depths) ** 2
    if EQUILIBRIUM_MAX_STEPS * config.gamma_equilibrium < needed:
        raise ConfigError(
            f"gamma_equilibrium={config.gamma_equilibrium:g}: {EQUILIBRIUM_MAX_STEPS} Euler "
            f"steps reach relaxation time {EQUILIBRIUM_MAX_STEPS * config.gamma_equilibrium:g}, "
            f"and depths up to {max(config.depths)} need about {needed:g}; use "
            f"gamma_equilibrium >= {needed / EQUILIBRIUM_MAX_STEPS:.2g}"
        )
    warnings = []
    for name in ("gamma", "gamma_equilibrium"):
        rate = getattr(config, name)
        if rate > 0.2:
            warnings.append(
                f"{name}={rate:g}: Euler relaxation may diverge (the energy's curvature is at "
                f"most (1 + max ||W_l||)^2, about 9 for square Xavier layers: stable below 0.22)"
            )
    return warnings


def memory(config: Config) -> dict[str, float]:
    """The largest arrays: the seeds' weights and saved relaxation states of the deepest net,
    the training tables and records, and the interference records."""
    S, L, n = config.num_seeds, max(config.depths), config.width
    sizes = (64, *config.train_hidden, 10)  # the digits: 64 pixels, 10 classes
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    steps = config.train_epochs * config.train_examples
    return {
        "the seeds' weights, drawn and stepped (num_seeds x max(depths) x width^2)": 3
        * S
        * L
        * n**2,
        "the saved relaxation states (num_seeds x log2(max(T, T_curve)) x max(depths) x width)": S
        * len(relaxation_grid(config))
        * (L + 1)
        * n,
        "the training tables and records (train_seeds x train_epochs x train_examples)": 4
        * config.train_seeds
        * steps,
        "the digits nets (train_seeds x train_hidden)": 3 * config.train_seeds * params,
        "the interference records (num_seeds x interference_steps)": 2
        * (S + 2)
        * (config.interference_steps + 1),
    }


scenario = Scenario(
    name="target-alignment",
    description="Target alignment of one update vs depth: PC vs BP (Song et al. 2024)",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    # no step may half-learn output 1 within interference_steps: no disturbance to report then
    nullable=("interference_disturbance_at_half",),
    stability_keys=("gamma", "gamma_equilibrium", "beta", "train_eta", "interference_lr"),
)

if __name__ == "__main__":
    scenario.main()
