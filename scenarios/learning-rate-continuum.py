"""Learning-rate continuum: gradient descent is Euler's method for the gradient flow, and
follows the modified flow of Barrett & Dherin one order closer (docs/references.md §8).

A 2-16-2 tanh/softmax MLP on the 2-armed spiral, full batch, cross-entropy loss L. Three
dynamics from the same start theta0:

* gradient flow         d theta/dt = -∇L                       (``Backprop``, tsit5, tight tol)
* modified flow         d theta/dt = -∇L - (eta/2) H ∇L         (``ModifiedFlow``, tsit5;
                        one ODE per learning rate, H ∇L a Hessian-vector product)
* GD at learning rate eta: solve(Backprop, method="euler", dt=eta), step n at time t = n eta.

Backward error analysis predicts ||theta_GD(t1) - theta_flow(t1)|| = O(eta) and
||theta_GD(t1) - theta_modified(t1)|| = O(eta^2) at fixed flow time t1; the scenario fits the
exponents on a log-log plot. The errors are as small as 1e-6, so the scenario computes in
float64 (as every scenario does) with rtol = atol = 1e-10.

``max_eta_times_sharpness`` is max over the learning rates and over GD's saved iterates of
eta * lambda_max(H(theta_n)) (Lanczos on Hessian-vector products, ``lambda_max``; per eta in
``eta_times_sharpness_max_per_eta``): the expansion in eta needs every step well inside GD's
stability edge eta * lambda_max < 2 along the whole trajectory, not only at the start
(``sharpness_at_init``).

Figure: (a) loss against flow time, GD at each eta as dots over the gradient flow and the
modified flows; (b) the loss gap L(GD) - L(flow) and L(modified) - L(flow): the modified flow
predicts GD's deviation; (c) parameter distance of GD to each flow over time; (d) the errors at
t1 against eta with fitted slopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import numpy as np
from jax.tree_util import Partial

import dynlearn
from dynlearn.analysis import fit_order, lambda_max, sharpness_along
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    euler_steps,
    nonnegative,
    positive,
    size,
    tolerance,
)
from dynlearn.data import make_spiral
from dynlearn.nn import MLP, Minibatches
from dynlearn.rules.credit import Backprop
from dynlearn.rules.optimiser import ModifiedFlow


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    n_per_class: Annotated[int, size(max=100_000)] = 50
    noise: Annotated[float, nonnegative()] = 0.2
    hidden: Annotated[int, size(max=4096)] = 16
    etas: Annotated[tuple[float, ...], positive()] = (0.4, 0.2, 0.1, 0.05, 0.025)
    t1: Annotated[float, positive()] = 10.0
    rtol: Annotated[float, tolerance()] = 1e-10
    atol: Annotated[float, positive(max=1.0)] = 1e-10
    # saved times per trajectory (on each GD grid)
    num_saves: Annotated[int, size(max=100_000)] = 25


QUICK = {"etas": (0.2, 0.1, 0.05), "t1": 2.0, "num_saves": 10}


def _save_times(eta: float, t1: float, num_saves: int) -> np.ndarray:
    """``num_saves + 1`` increasing grid points n*eta spread over [0, t1]."""
    n = np.unique(np.rint(np.linspace(0.0, t1 / eta, num_saves + 1)).astype(int))
    if len(n) != num_saves + 1:
        raise ValueError(f"num_saves={num_saves} exceeds the t1/eta = {t1 / eta:g} GD steps")
    return n * eta


def _check(config: Config) -> None:
    if len(config.etas) < 2 or min(config.etas) <= 0:
        raise ValueError(f"etas must hold at least two positive learning rates, got {config.etas}")
    for eta in config.etas:
        euler_steps(config.t1, eta, "t1, etas")
    if config.num_saves > round(config.t1 / max(config.etas)):
        raise ValueError(
            f"num_saves={config.num_saves} must be <= t1/max(etas) = "
            f"{config.t1 / max(config.etas):g}"
        )


def memory(config: Config) -> dict[str, float]:
    """Three trajectories per eta saved at num_saves + 1 times, the Lanczos vectors, the data."""
    params = 5 * config.hidden + 2  # the 2-hidden-2 MLP
    return {
        "the saved trajectories (etas x 3 x num_saves x hidden)": 3
        * len(config.etas)
        * (config.num_saves + 1)
        * params,
        "the Lanczos vectors of the sharpness (hidden)": 30 * params,
        "the data and activations (n_per_class x hidden)": 2
        * config.n_per_class
        * (4 + 3 * config.hidden),
    }


def _flat(tree):
    """ravel_pytree of every entry along the leading axis, on the host (NumPy)."""
    return np.concatenate([a.reshape(len(a), -1) for a in jax.tree.leaves(tree)], axis=1)


def _sweep(config: Config, rule: Backprop, theta0, args) -> tuple:
    """GD, the gradient flow and the modified flow at every learning rate in one compiled
    sweep, on the host: their states on that GD's grid, the flows' nfev, and the grids."""
    tol = {"rtol": config.rtol, "atol": config.atol}
    # One member per learning rate: GD, the gradient flow and the modified flow, saved on that
    # GD's grid. The modified flows are stacked into one batch of rules (their eta traced);
    # the common start rides along per member (solve's eager finiteness check of a constant
    # y0 fails inside a traced sweep, dynlearn.core.solve._check_tree).
    members = {
        "theta0": jax.tree.map(lambda a: np.stack([a] * len(config.etas)), theta0),
        "eta": np.asarray(config.etas, dtype=float),
        "ts": np.stack([_save_times(eta, config.t1, config.num_saves) for eta in config.etas]),
        "mod": jax.tree.map(
            lambda *a: np.stack(a), *[ModifiedFlow(rule, eta) for eta in config.etas]
        ),
    }

    def member(m):
        start, ts = m["theta0"], m["ts"]
        gd = dynlearn.solve(
            rule, start, config.t1, method="euler", dt=m["eta"], saveat=ts, args=args
        )
        flow = dynlearn.solve(rule, start, config.t1, saveat=ts, args=args, **tol)
        mod = dynlearn.solve(m["mod"], start, config.t1, saveat=ts, args=args, **tol)
        return gd.ys, flow.ys, mod.ys, flow.stats["nfev"], mod.stats["nfev"]

    # the sweep's results on the host once; what follows is NumPy (no eager device ops)
    return jax.tree.map(np.asarray, dynlearn.sweep(member, members)), members["ts"]


def _runs(config: Config, net: MLP, x, y, swept: tuple, ts: np.ndarray) -> tuple:
    """Per learning rate, the figure's curves (losses, distances of GD from both flows, GD's
    sharpness) and the distances at t1."""
    gd_ys, flow_ys, mod_ys, nfev_flow, nfev_mod = swept
    losses = jax.jit(jax.vmap(lambda p: net.loss_value(p, x, y)))  # one program for all
    grad_fn = Partial(net.grad, x=x, y=y)
    runs, errors_flow, errors_mod = [], [], []
    for i, eta in enumerate(config.etas):
        gd, flow, mod = (jax.tree.map(lambda a, i=i: a[i], ys) for ys in (gd_ys, flow_ys, mod_ys))
        th_gd, th_flow, th_mod = _flat(gd), _flat(flow), _flat(mod)
        dist_flow = np.linalg.norm(th_gd - th_flow, axis=1)
        dist_mod = np.linalg.norm(th_gd - th_mod, axis=1)
        errors_flow.append(float(dist_flow[-1]))
        errors_mod.append(float(dist_mod[-1]))
        runs.append(
            {
                "eta": eta,
                "ts": ts[i],
                "loss_gd": np.asarray(losses(gd)),
                "loss_flow": np.asarray(losses(flow)),
                "loss_mod": np.asarray(losses(mod)),
                "dist_flow": dist_flow,
                "dist_mod": dist_mod,
                "nfev_mod": int(nfev_mod[i]),
                "nfev_flow": int(nfev_flow[i]),
                "sharpness_gd": np.asarray(
                    sharpness_along(grad_fn, gd, key=jax.random.PRNGKey(1)).eigenvalue
                ),
            }
        )
    return runs, errors_flow, errors_mod


def _metrics(config: Config, runs: list, errors_flow: list, errors_mod: list, sharpness0):
    """The fitted orders of GD against both flows, and the sharpness behind them."""
    etas = np.asarray(config.etas, dtype=float)
    eta_sharpness = [float(r["eta"] * r["sharpness_gd"].max()) for r in runs]
    return {
        "slope_gd_vs_flow": fit_order(etas, errors_flow)[0],
        "slope_gd_vs_modified_flow": fit_order(etas, errors_mod)[0],
        "errors_gd_vs_flow": errors_flow,
        "errors_gd_vs_modified": errors_mod,
        "etas": list(config.etas),
        "sharpness_at_init": sharpness0,
        "max_eta_times_sharpness": max(eta_sharpness),
        "eta_times_sharpness_max_per_eta": eta_sharpness,
        "nfev_flow": [r["nfev_flow"] for r in runs],
        "nfev_modified_flow": [r["nfev_mod"] for r in runs],
    }


def run(config: Config) -> dict:
    _check(config)
    x, y = make_spiral(config.seed, config.n_per_class, num_classes=2, noise=config.noise)
    net = MLP((2, config.hidden, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    theta0 = net.init(jax.random.PRNGKey(config.seed), "xavier_normal")
    args = Minibatches(x, y)  # full batch: GD below is Euler at dt = eta
    rule = Backprop(net)
    grad_fn = Partial(net.grad, x=x, y=y)
    sharpness0 = float(lambda_max(grad_fn, theta0, key=jax.random.PRNGKey(1)).eigenvalue)
    swept, ts = _sweep(config, rule, theta0, args)
    runs, errors_flow, errors_mod = _runs(config, net, x, y, swept, ts)
    metrics = _metrics(config, runs, errors_flow, errors_mod, sharpness0)
    return {"metrics": metrics, "runs": runs}


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    m, runs = results["metrics"], results["runs"]
    fig, axes = figure(2, 2, width=5.0, height=3.7)
    (ax_loss, ax_gap), (ax_dist, ax_err) = axes
    colors = [f"C{i}" for i in range(len(runs))]

    ref = min(runs, key=lambda r: r["eta"])  # the finest grid: the gradient flow curve
    ax_loss.plot(ref["ts"], ref["loss_flow"], "k-", lw=2, label="gradient flow")
    for r, c in zip(runs, colors, strict=True):
        ax_loss.plot(r["ts"], r["loss_mod"], "--", color=c, lw=1)
        ax_loss.plot(r["ts"], r["loss_gd"], "o", color=c, ms=3, label=f"GD, eta={r['eta']:g}")
    ax_loss.plot([], [], "k--", lw=1, label="modified flow (per eta)")
    ax_loss.set(
        xlabel="flow time t (GD: t = n eta)",
        ylabel="training loss L",
        title="(a) GD against flow time (the gaps: panel b)",
    )
    ax_loss.legend()

    for r, c in zip(runs, colors, strict=True):
        ax_gap.plot(r["ts"], r["loss_mod"] - r["loss_flow"], "--", color=c, lw=1)
        ax_gap.plot(
            r["ts"], r["loss_gd"] - r["loss_flow"], "o", color=c, ms=3, label=f"eta={r['eta']:g}"
        )
    ax_gap.axhline(0.0, color="k", lw=0.8)
    ax_gap.set(
        xlabel="flow time t",
        ylabel="L(.) - L(gradient flow)",
        title="(b) loss gap: GD (dots), modified flow (dashed)",
    )
    ax_gap.legend()

    for r, c in zip(runs, colors, strict=True):
        ax_dist.semilogy(r["ts"][1:], r["dist_flow"][1:], "-", color=c, label=f"eta={r['eta']:g}")
        ax_dist.semilogy(r["ts"][1:], r["dist_mod"][1:], ":", color=c, lw=1.5)
    ax_dist.plot([], [], "k-", label="GD vs gradient flow")
    ax_dist.plot([], [], "k:", lw=1.5, label="GD vs modified flow")
    ax_dist.set(
        xlabel="flow time t",
        ylabel=r"$\|\theta_{GD}(t) - \theta(t)\|$",
        title="(c) parameter distance of GD to each flow",
    )
    lowest = min(float(np.min(r["dist_mod"][1:])) for r in runs)
    ax_dist.set_ylim(bottom=lowest / 30)  # room for the legend below the curves
    ax_dist.legend(ncol=3, loc="lower center")

    etas = np.asarray(m["etas"])
    for errs, slope, mark, name in (
        (m["errors_gd_vs_flow"], m["slope_gd_vs_flow"], "o", "GD vs gradient flow"),
        (m["errors_gd_vs_modified"], m["slope_gd_vs_modified_flow"], "s", "GD vs modified flow"),
    ):
        errs = np.asarray(errs)
        line = ax_err.loglog(etas, errs, mark, ms=6, label=f"{name}: slope {slope:.3f}")[0]
        coef = np.polyfit(np.log(etas), np.log(errs), 1)
        grid = np.geomspace(etas.min(), etas.max(), 20)
        ax_err.loglog(
            grid, np.exp(np.polyval(coef, np.log(grid))), "-", color=line.get_color(), lw=1
        )
    ax_err.set(
        xlabel="learning rate eta",
        ylabel=rf"$\|\theta_{{GD}} - \theta\|$ at t1 = {config.t1:g}",
        title="(d) global error at fixed flow time (fits: O(eta), O(eta^2))",
    )
    ax_err.set_xticks(etas, [f"{e:g}" for e in etas])
    ax_err.minorticks_off()
    ax_err.legend(loc="lower right")
    return fig


scenario = Scenario(
    name="learning-rate-continuum",
    description="GD as Euler: error O(eta) to the gradient flow, O(eta^2) to the modified flow",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=_check,
    memory=memory,
    stability_keys=("etas",),
)

if __name__ == "__main__":
    scenario.main()
