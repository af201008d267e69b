"""How close are predictive coding's weight updates to backprop's? (docs/references.md §9)

One minibatch of the 8x8 digits, an MLP 64-32-32-32-10 (tanh, softmax + cross-entropy,
Xavier-normal init). Backprop's gradient g_l = dLoss/dW_l (jax.grad of the batch-mean loss)
is compared with PC's update direction, the energy gradient dF/dW_l / (beta B) =
-eps_l f(x_l)^T / (beta B), after relaxing the hidden states from the feedforward pass:

* strict PC, dx_l/dt = -eps_{l-1} + f'(x_l) * (W_l^T eps_l), output clamped weakly (beta):
  at the equilibrium eps_l = -beta B delta_l + O(beta^2), so the updates approach backprop as
  beta -> 0 (Whittington & Bogacz 2017; Millidge et al. 2022);
* the fixed prediction assumption (FPA), predictions and gains frozen at the feedforward
  pass: Euler with gamma = 1 carries the error down one layer per step, so after L - 1 steps
  the updates equal backprop's exactly (Millidge et al. 2022; Song et al. 2020).

Relaxation is Euler at several rates gamma (``dynlearn.solve(method="euler", dt=gamma)``),
plotted against relaxation time t = n gamma, so that small gammas trace the same flow. The
equilibrium is found by the adaptive steady-state solve (``pc_inference.infer(method=
"adaptive")``, Tsit5, stop when rms(dx/dt) < tol); ``nfev_adaptive`` and ``nfev_euler`` are the
vector-field evaluations each needs to get the residual below tol from the same start
(``nfev_euler`` at the usual gamma = 0.1; ``nfev_euler_by_gamma`` for every gamma). Near the
equilibrium an explicit adaptive solver is held at its stability limit, so it beats Euler at
small gamma (the rates that follow the flow) but not Euler at a gamma close to Euler's own
stability limit. The equilibria of the beta sweep are Euler at gamma = 0.1 run until the
residual is below tol. ``hessian_lambda_min`` (smallest eigenvalue of the Hessian of F at the
equilibrium, from its per-row blocks) bounds the distance between two nearly stationary states:
||x - x'|| <= (r + r') / lambda_min.

Figure: per layer, cosine(PC update, BP gradient) against relaxation time for strict PC from
the feedforward pass (one colour per gamma), from zero (a common start), with strong clamping
beta = 1, and for FPA (dashed); cosine at the equilibrium against beta; and the residual
against vector-field evaluations for Euler and the adaptive solve (solves to looser
tolerances mark its path).
Metrics: ``cosine_final_strict`` (per layer, strict PC at its equilibrium, beta = ``beta``),
``cosine_final_fixed_prediction`` (per layer, FPA after L - 1 Euler steps at gamma = 1),
``nfev_adaptive``, ``nfev_euler``, and the sweeps behind the figure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dynlearn import SolveError, solve, steady_state, sweep
from dynlearn.analysis import layer_cosines
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    flag,
    one_of,
    positive,
    require_steps,
    size,
)
from dynlearn.data import load_digits_split
from dynlearn.nn import ACTIVATIONS, MLP
from dynlearn.rules.pc import Clamped, PredictiveCoding, infer, residual

EULER_MAX_STEPS = 100_000  # the most relaxation steps to a steady state


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    batch_size: Annotated[int, size(max=1000)] = 64
    hidden: Annotated[tuple[int, ...], size(max=4096)] = (32, 32, 32)
    activation: Annotated[str, one_of(*ACTIVATIONS)] = "tanh"
    beta: Annotated[float, positive()] = 0.01  # weak output clamping of strict PC
    gammas: Annotated[tuple[float, ...], positive()] = (0.02, 0.05, 0.1, 0.2, 1.0)
    t_max: Annotated[float, positive()] = 20.0  # relaxation time shown
    betas: Annotated[tuple[float, ...], positive()] = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
    tol: Annotated[float, positive()] = 1e-6  # steady-state residual rms(dx/dt)
    euler_gamma: Annotated[float, positive()] = 0.1  # the usual rate, for nfev_euler
    # adaptive solves to tolerances 1e-2 ... tol, for the figure
    adaptive_path_points: Annotated[int, positive(max=100)] = 5
    # also relax from zero and with beta = 1 (for the figure)
    extra_paths: Annotated[bool, flag()] = True


QUICK = {
    "adaptive_path_points": 1,
    "extra_paths": False,
    "gammas": (0.02,),
    "t_max": 2.0,
    "betas": (1.0, 0.01),
    "batch_size": 16,
}


def _path_steps(config: Config) -> list[int]:
    """Euler steps of each relaxation path shown: t_max / gamma (the smallest gamma the most)."""
    rates = list(config.gammas) + ([config.euler_gamma] if config.extra_paths else [])
    return [
        require_steps(
            config.t_max / gamma,
            "the relaxation steps of a path (t_max / gamma)",
            "t_max, gammas, euler_gamma",
        )
        for gamma in rates
    ]


def check(config: Config) -> list[str]:
    _path_steps(config)
    return []


def memory(config: Config) -> dict[str, float]:
    """A path saves every state and the weight update at every step."""
    sizes = (64, *config.hidden, 10)  # the digits: 64 pixels, 10 classes
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    states = config.batch_size * sum(config.hidden)
    steps = max(_path_steps(config)) + 1
    return {
        "a relaxation path's states and updates (t_max / min(gammas) x (batch_size x hidden "
        "+ parameters))": 2 * steps * (states + params),
        "the Hessian of F per row (batch_size x sum(hidden)^2)": config.batch_size
        * sum(config.hidden) ** 2,
        "the betas' states (betas x batch_size x hidden)": len(config.betas) * 4 * states,
    }


@eqx.filter_jit
def _along(rule, ys, args, bp):
    """At every saved state: (n_save, L) cosines of the update with the BP gradient, and the
    residual rms(dx/dt)."""
    grads = jax.vmap(lambda xs: rule.weight_gradient(xs, args))(ys)
    return layer_cosines(grads, bp), jax.vmap(lambda xs: residual(rule, xs, args))(ys)


@eqx.filter_jit
def _hessian_lambda_min(rule, xs, args):
    """Smallest eigenvalue of the Hessian of F in the free states. F is a sum over rows, so
    its Hessian is block diagonal: one (sum of hidden widths)^2 block per row."""

    def row_lambda_min(xs_row, x_row, y_row):
        flat, unravel = ravel_pytree(xs_row)
        row_args = Clamped(x_row[None], y_row[None])
        H = jax.hessian(lambda v: rule.energy([u[None] for u in unravel(v)], row_args))(flat)
        return jnp.linalg.eigvalsh(H)[0]

    return jnp.min(jax.vmap(row_lambda_min)(xs, args.x, args.y))


@functools.partial(jax.jit, static_argnums=0)
def _setup(mlp, seed, x, y):
    """The initial weights (xavier normal from PRNGKey(seed)), backprop's gradient and the
    feedforward states (the relaxations' start)."""
    params = mlp.init(jax.random.PRNGKey(seed), "xavier_normal")
    xs0 = PredictiveCoding(mlp, params, beta=1.0).initial_states(x, "feedforward")
    return params, jax.grad(mlp.loss_value)(params, x, y), xs0


@eqx.filter_jit
def _initial_states(rule, x, init):
    return rule.initial_states(x, init)


@eqx.filter_jit
def _final(strict, fpa, xs_strict, xs_fpa, args, bp):
    """Cosines with the BP gradient at strict PC's equilibrium and at FPA's exact states, the
    largest |dF/dW / beta - dL/dW| of FPA (each layer's), and the smallest Hessian eigenvalue
    of strict PC's F at its equilibrium."""
    g_fpa = fpa.weight_gradient(xs_fpa, args)
    return (
        layer_cosines(strict.weight_gradient(xs_strict, args), bp),
        layer_cosines(g_fpa, bp),
        [jnp.max(jnp.abs(g["W"] / fpa.beta - b["W"])) for g, b in zip(g_fpa, bp, strict=True)],
        _hessian_lambda_min(strict, xs_strict, args),
    )


@eqx.filter_jit
def _euler_path(rule, xs0, args, bp, gamma, t_max):
    """Euler relaxation at rate gamma for about t_max, saving every step: the times, and along
    the path the cosines with the BP gradient and the residual (one program per rule)."""
    T = max(1, int(round(t_max / gamma)))
    sol = solve(
        rule, xs0, T * gamma, method="euler", dt=gamma, args=args, saveat=gamma * np.arange(T + 1)
    )
    return sol.ts, *_along(rule, sol.ys, args, bp)


def _problem(config: Config):
    """One minibatch of the digits, the MLP, its weights, backprop's gradient and the
    feedforward states."""
    split = load_digits_split(config.seed)
    x = np.asarray(split.x_train)[: config.batch_size]
    y = np.asarray(split.y_train)[: config.batch_size]
    sizes = (x.shape[1], *config.hidden, y.shape[1])
    L = len(sizes) - 1
    mlp = MLP(sizes, (config.activation,) * (L - 1) + ("softmax",), "softmax_cross_entropy")
    params, bp, xs0 = _setup(mlp, config.seed, x, y)
    return x, Clamped(x, y), mlp, params, bp, xs0


def _relaxation_paths(config: Config, strict, fpa, x, args, bp, xs0):
    """The cosines and residuals along Euler relaxation per gamma (strict PC and FPA from the
    feedforward pass; strict PC from zero and with beta = 1 at the usual gamma),
    and the Euler evaluations to residual < tol per gamma at which strict PC is stable."""

    def path(rule, gamma, xs_start):
        t, cosine, res = _euler_path(rule, xs_start, args, bp, gamma, config.t_max)
        return {"t": np.asarray(t), "cosine": np.asarray(cosine), "residual": np.asarray(res)}

    curves = {"strict": {}, "fixed_prediction": {}}
    nfev_euler_by_gamma = {}
    unstable = []
    for gamma in progress(config.gammas, desc="pc-vs-bp gammas"):
        curves["fixed_prediction"][str(gamma)] = path(fpa, gamma, xs0)
        # Euler is unstable beyond gamma = 2 / (largest curvature of F): no strict curve then
        try:
            curves["strict"][str(gamma)] = path(strict, gamma, xs0)
            hit = infer(
                strict, xs0, args, method="euler", gamma=gamma, T=EULER_MAX_STEPS, tol=config.tol
            )
            nfev_euler_by_gamma[str(gamma)] = hit.nfev
        except SolveError:
            curves["strict"].pop(str(gamma), None)
            unstable.append(gamma)
    if config.extra_paths:  # the zero start, and beta = 1, at the usual gamma
        zeros = _initial_states(strict, x, "zeros")
        curves["strict_zeros"] = path(strict, config.euler_gamma, zeros)
        strong = PredictiveCoding(strict.mlp, strict.params, beta=jnp.asarray(1.0))
        curves["strict_beta_1"] = path(strong, config.euler_gamma, xs0)
    return curves, nfev_euler_by_gamma, unstable


def _equilibrium_cosines(config: Config, mlp, params, args, bp, xs0) -> list:
    """Per beta, the cosines with the BP gradient of strict PC at its equilibrium (Euler at
    the usual rate until residual < tol): the rules for every beta as one batch, relaxed in
    one sweep; the common start rides along per member (solve's eager finiteness check of a
    constant y0 fails inside a traced sweep)."""
    leaves, treedef = jax.tree.flatten(params)
    flat_params = np.concatenate([np.ravel(np.asarray(a)) for a in leaves])

    def unravel(flat):
        ends = np.cumsum([a.size for a in leaves])
        return jax.tree.unflatten(
            treedef,
            [flat[e - a.size : e].reshape(a.shape) for a, e in zip(leaves, ends, strict=True)],
        )

    def equilibrium_cosines(member):
        rule = PredictiveCoding(mlp, unravel(member["params"]), beta=member["beta"])
        sol = solve(
            rule,
            member["xs0"],
            EULER_MAX_STEPS * config.euler_gamma,
            method="euler",
            dt=config.euler_gamma,
            args=args,
            until=steady_state(config.tol),
            max_steps=EULER_MAX_STEPS,
        )
        xs_eq = jax.tree.map(lambda a: a[-1], sol.ys)
        return layer_cosines(rule.weight_gradient(xs_eq, args), bp), sol.stats["event"]

    # (the weights as one flat array: few arrays to place on the device)
    n_beta = len(config.betas)
    members = {
        "beta": np.asarray(config.betas, dtype=float),
        "params": np.broadcast_to(np.asarray(flat_params), (n_beta, flat_params.size)),
        "xs0": [np.broadcast_to(np.asarray(a), (n_beta, *a.shape)) for a in xs0],
    }
    eq_cos, reached = sweep(equilibrium_cosines, members)
    reached = np.asarray(reached)
    if not np.all(reached):
        raise SolveError(
            f"no steady state (residual < {config.tol:g}) within {EULER_MAX_STEPS} Euler steps "
            f"for beta = {np.asarray(config.betas)[~np.asarray(reached)]}"
        )
    return list(np.asarray(eq_cos))


def _adaptive_and_euler(config: Config, strict, args, xs0):
    """Strict PC's steady state by the adaptive solve and by Euler at the usual gamma, and the
    (nfev, residual) path of the adaptive solve: solves to looser tolerances, for the figure."""
    adaptive = infer(strict, xs0, args, method="adaptive", tol=config.tol)
    euler_ref = infer(
        strict,
        xs0,
        args,
        method="euler",
        gamma=config.euler_gamma,
        T=EULER_MAX_STEPS,
        tol=config.tol,
    )
    adaptive_path = []
    for tol in np.geomspace(1e-2, config.tol, config.adaptive_path_points)[:-1]:
        a = infer(strict, xs0, args, method="adaptive", tol=float(tol))
        adaptive_path.append((a.nfev, a.residual))
    adaptive_path.append((adaptive.nfev, adaptive.residual))
    return adaptive, euler_ref, adaptive_path


def run(config: Config) -> dict:
    x, args, mlp, params, bp, xs0 = _problem(config)
    L = len(mlp.sizes) - 1
    strict = PredictiveCoding(mlp, params, beta=jnp.asarray(config.beta))
    fpa = PredictiveCoding(mlp, params, beta=jnp.asarray(config.beta), fixed_prediction=True)
    curves, nfev_euler_by_gamma, unstable = _relaxation_paths(config, strict, fpa, x, args, bp, xs0)
    eq_cos = _equilibrium_cosines(config, mlp, params, args, bp, xs0)
    adaptive, euler_ref, adaptive_path = _adaptive_and_euler(config, strict, args, xs0)
    fpa_exact = infer(fpa, xs0, args, method="euler", gamma=1.0, T=L - 1)

    cos_strict, cos_fpa, fpa_error, lambda_min = _final(
        strict, fpa, adaptive.xs, fpa_exact.xs, args, bp
    )
    distance = [
        np.ravel(np.asarray(a) - np.asarray(b))
        for a, b in zip(adaptive.xs, euler_ref.xs, strict=True)
    ]
    metrics = {
        "cosine_final_strict": np.asarray(cos_strict).tolist(),
        "cosine_final_fixed_prediction": np.asarray(cos_fpa).tolist(),
        "fixed_prediction_max_abs_error": max(float(e) for e in fpa_error),
        "nfev_adaptive": adaptive.nfev,
        "nfev_euler": euler_ref.nfev,
        "nfev_euler_by_gamma": nfev_euler_by_gamma,
        "euler_unstable_gammas": unstable,
        "residual_adaptive": adaptive.residual,
        "residual_euler": euler_ref.residual,
        "equilibrium_distance_rms": float(np.sqrt(np.mean(np.concatenate(distance) ** 2))),
        "cosine_equilibrium_by_beta": {
            str(b): c.tolist() for b, c in zip(config.betas, eq_cos, strict=True)
        },
        "num_layers": L,
        "hessian_lambda_min": float(lambda_min),
    }
    return {
        "metrics": metrics,
        "curves": curves,
        "eq_cos": np.array(eq_cos),
        "adaptive_path": np.array(adaptive_path),
    }


def _path_lines(c: dict, g0: float) -> list:
    """The top row's curves: (curve, line style, label) for each relaxation path."""
    lines = [
        (c["strict"][g], dict(color=f"C{i}", lw=1.5), f"strict, ff start, gamma={g}")
        for i, g in enumerate(c["strict"])
    ]
    if "strict_zeros" in c:
        lines.append(
            (c["strict_zeros"], dict(color="k", ls=":", lw=1.5), f"strict, zero start, gamma={g0}")
        )
        lines.append((c["strict_beta_1"], dict(color="C6", lw=1.0), f"strict, beta=1, gamma={g0}"))
    for g, style in (
        ("1.0", dict(color="k", ls="--", marker="o", ms=3, markevery=[0, 1, 2, 3])),
        (str(g0), dict(color="gray", ls="--")),
    ):
        if g in c["fixed_prediction"]:
            lines.append((c["fixed_prediction"][g], style, f"FPA, gamma={g}"))
    return lines


def _plot_paths(fig, axes, results: dict, config: Config) -> None:
    """Top row: per layer, cosine(PC update, BP gradient) against relaxation time."""
    m, c = results["metrics"], results["curves"]
    L = m["num_layers"]
    beta, g0 = config.beta, config.euler_gamma
    lines = _path_lines(c, g0)
    # one y-range for every layer, wide enough for the lowest cosine (the zero start's dip
    # below 0): nothing is clipped
    lowest = min(float(np.nanmin(curve["cosine"][1:])) for curve, _, _ in lines)
    ylim = (min(-0.05, lowest - 0.05), 1.05)
    for layer in range(L):
        ax = axes[0, layer]
        ax.axhline(0.0, color="0.5", lw=0.6)
        for curve, style, label in lines:
            # t = 0 (the feedforward start) is left out: hidden updates are 0 there
            ax.plot(curve["t"][1:], curve["cosine"][1:, layer], label=label, **style)
        ax.set(
            xlabel="relaxation time t = n gamma (dimensionless)",
            title=f"layer {layer + 1} (W{layer + 1})",
            xscale="log",
            ylim=ylim,
        )
    axes[0, 0].set_ylabel("cos(PC update, BP gradient)")
    fig.suptitle(
        f"Strict PC (beta={beta:g} unless stated) relaxed to equilibrium gives BP's gradient "
        f"(cosine >= {min(m['cosine_final_strict']):.4f} in every layer); the fixed-prediction "
        "assumption gives it exactly"
    )


def _plot_betas(ax, results: dict, config: Config) -> None:
    """Strict PC's cosine at the equilibrium against beta, per layer."""
    L = results["metrics"]["num_layers"]
    for layer in range(L):
        ax.plot(config.betas, results["eq_cos"][:, layer], "o-", label=f"layer {layer + 1}")
    ax.set(
        xscale="log",
        xlabel="output clamping beta",
        ylabel="cosine at equilibrium",
        title="strict PC at equilibrium vs beta",
    )
    ax.invert_xaxis()
    ax.legend()


def _plot_cost(ax, results: dict, config: Config) -> None:
    """The residual against vector-field evaluations: Euler per gamma and the adaptive solve."""
    c = results["curves"]
    for i, g in enumerate(c["strict"]):
        r = c["strict"][g]["residual"]
        ax.plot(np.arange(1, len(r) + 1), r, color=f"C{i}", label=f"Euler gamma={g}")
    path = results["adaptive_path"]
    ax.plot(path[:, 0], path[:, 1], "k*-", ms=7, label="adaptive Tsit5, steady-state stop")
    ax.axhline(config.tol, color="gray", ls=":", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="vector-field evaluations",
        ylabel="residual rms(dx/dt)",
        title="cost of reaching the equilibrium",
    )
    ax.legend(fontsize=6)


def _plot_legend_and_numbers(axes, results: dict, config: Config) -> None:
    """The top row's legend, and (with four or more layers) the evaluations and cosines."""
    m = results["metrics"]
    L = m["num_layers"]
    beta = config.beta
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[1, 2].legend(handles, labels, loc="upper left", fontsize=7, title="top row")
    axes[1, 2].axis("off")
    if L > 3:
        ax = axes[1, 3]
        ax.axis("off")
        lines_text = [
            f"evaluations to residual < {config.tol:g}:",
            f"  adaptive (Tsit5): {m['nfev_adaptive']}",
        ] + [f"  Euler gamma={g}: {n}" for g, n in m["nfev_euler_by_gamma"].items()]
        if m["euler_unstable_gammas"]:
            lines_text.append(f"  Euler unstable at gamma={m['euler_unstable_gammas']}")
        lines_text += [
            "",
            f"cosine at equilibrium, beta={beta:g}:",
            "  " + ", ".join(f"{v:.4f}" for v in m["cosine_final_strict"]),
            "FPA, L-1 steps at gamma=1:",
            "  " + ", ".join(f"{v:.6f}" for v in m["cosine_final_fixed_prediction"]),
        ]
        ax.text(
            0,
            1,
            "\n".join(lines_text),
            va="top",
            family="monospace",
            fontsize=7,
            transform=ax.transAxes,
        )


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    L = results["metrics"]["num_layers"]
    fig, axes = figure(2, L, width=3.4, height=3.0)
    _plot_paths(fig, axes, results, config)
    _plot_betas(axes[1, 0], results, config)
    _plot_cost(axes[1, 1], results, config)
    _plot_legend_and_numbers(axes, results, config)
    return fig


scenario = Scenario(
    name="pc-vs-bp",
    description="Cosine of predictive-coding and backprop updates vs relaxation time, gamma, beta",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    stability_keys=("gammas", "euler_gamma"),
)

if __name__ == "__main__":
    scenario.main()
