"""Bias and variance of weight perturbation (WP), node perturbation (NP) and the forward
gradient, against the perturbation size sigma and the number of perturbed coordinates P, with
the theory lines (docs/references.md §11).

Estimators (``dynlearn.rules.credit.weight_perturbation`` / ``node_perturbation`` /
``forward_gradient``): WP g_hat = (Delta L / sigma) u over all parameters; NP
delta_hat_{l,i} = (Delta l_i / sigma) v_{l,i} / B on every unit of every example, g_hat(W_l) =
sum_i delta_hat_{l,i} z_{l,i}^T; forward gradient (grad L . v) v with grad L . v from jax.jvp.

(a) Finite-difference error per perturbation, |Delta L / sigma - grad L . u| (mean over draws;
    for NP per example, against (dl_i/da_i) . v_i from the backprop deltas): O(sigma) one-sided,
    O(sigma^2) central. Metrics ``fd_error_slope_one_sided`` and ``fd_error_slope_central`` are
    the fitted log-log slopes (mean of WP and NP; per method in ``fd_error_slopes``). They
    measure the per-draw finite-difference error, not the estimator's bias (before this was
    said plainly they were named ``bias_slope_*``).
    The bias of the *mean* estimate is different: for symmetric noise (u and -u equally likely)
    the one-sided and the central estimate have the same mean E[L(theta + sigma u) u] / sigma,
    which differs from grad L by O(sigma^2). Computed exactly by averaging WP over all 2^9 sign
    vectors of a 2-2-1 net: ``mean_bias_slope_exact`` (both ~2) and
    ``one_sided_vs_central_mean_max_rel_diff`` (~1e-15).
(b) E||g_hat - g||^2 / ||g||^2 against the number P of perturbed parameters, for WP (central,
    sigma = 1e-5) and the forward gradient; theory P + 1 for Gaussian noise (exact for the
    forward gradient, the sigma -> 0 limit for WP). P is varied by perturbing only the first P
    coordinates of a fixed 10-32-32-5 tanh net (the others get no update); g is then the
    gradient restricted to those P coordinates.
(c) The same for NP in node space (delta_hat against dL/da), against the number N of perturbed
    units per example: theory N + 1 (the examples' noises are independent, so the batch size
    does not enter). ``variance_ratio_vs_theory``: measured / theory averaged over the P (N)
    grid, per method (~1).

Computed in float64 (``Scenario`` runs every scenario with JAX in float64). No training: the
estimators are evaluated at fixed parameters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from dynlearn import sweep
from dynlearn.analysis import fit_order
from dynlearn.app.scenario import Scenario, ScenarioConfig, Seed, positive, size
from dynlearn.nn import MLP
from dynlearn.rules.credit import (
    forward_gradient_estimate,
    node_perturbation_estimate,
    weight_perturbation_estimate,
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    sizes: Annotated[tuple[int, ...], size(max=4096)] = (10, 32, 32, 5)
    batch_size: Annotated[int, size(max=10_000)] = 8
    sigmas: Annotated[tuple[float, ...], positive()] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    bias_draws: Annotated[int, size(max=1_000_000)] = 256
    P_grid: Annotated[tuple[int, ...], positive()] = (1, 4, 16, 64, 256, 1024, 1573)
    N_grid: Annotated[tuple[int, ...], positive()] = (1, 2, 4, 8, 16, 32, 69)
    variance_draws: Annotated[int, size(max=1_000_000)] = 4000
    variance_sigma: Annotated[float, positive()] = 1e-5


QUICK = {
    "sizes": (6, 8, 3),
    "sigmas": (1e-3, 1e-2, 1e-1),
    "bias_draws": 64,
    "P_grid": (1, 8, 83),
    "N_grid": (1, 4, 11),
    "variance_draws": 2000,
}


def make_problem(cfg: Config):
    mlp = MLP(cfg.sizes, ("tanh",) * (len(cfg.sizes) - 2) + ("identity",), "mse")
    params = mlp.init(jax.random.key(cfg.seed))
    params = [{"W": p["W"], "b": p["b"] + 0.1} for p in params]
    rng = np.random.default_rng(cfg.seed)
    x = jnp.asarray(rng.standard_normal((cfg.batch_size, cfg.sizes[0])))
    y = jnp.asarray(rng.standard_normal((cfg.batch_size, cfg.sizes[-1])))
    return mlp, params, x, y


def reference_gradients(mlp, params, x, y):
    """grad L (flat, by jax.grad) and the backprop deltas dL/da of every layer: the exact
    quantities the estimators are measured against. Evaluated op by op (eagerly), not as one
    jitted program: XLA's fusion moves them by an ulp, and the central finite-difference
    error at sigma = 1e-4 is ~1e-9 |g|, so an ulp of the reference shows in its fitted slope
    (by ~5e-12 relative in the full run)."""
    g = ravel_pytree(jax.grad(mlp.loss_value)(params, x, y))[0]
    zs = mlp.forward(params, x)
    _, deltas = mlp.backward(params, zs, mlp.output_delta(zs[-1], y))
    return g, deltas


def finite_difference_errors(cfg, mlp, params, x, y):
    """errs[method][difference][k] = mean |Delta L/sigma_k - grad L . u| over the draws."""
    flat, unravel = ravel_pytree(params)
    g, deltas = reference_gradients(mlp, params, x, y)
    B = x.shape[0]
    keys = jax.random.split(jax.random.key(cfg.seed + 1), cfg.bias_draws)

    @jax.jit
    def wp_error(sigma, key, central):
        u = jax.random.normal(key, flat.shape)

        def q(diff):
            g_hat = ravel_pytree(
                weight_perturbation_estimate(mlp, params, x, y, unravel(u), sigma, diff)
            )[0]
            return g_hat @ u / (u @ u)  # the quotient Delta L / sigma

        return jnp.abs(jnp.where(central, q("central"), q("one_sided")) - g @ u)

    @jax.jit
    def np_error(sigma, key, central):
        ks = jax.random.split(key, len(mlp.sizes) - 1)
        v = [jax.random.normal(k, (B, n)) for k, n in zip(ks, mlp.sizes[1:], strict=True)]

        def q(diff):
            d_hat, _ = node_perturbation_estimate(mlp, params, x, y, v, sigma, diff)
            num = sum(jnp.sum(d * vl, axis=1) for d, vl in zip(d_hat, v, strict=True))
            return B * num / sum(jnp.sum(vl * vl, axis=1) for vl in v)  # Delta l_i / sigma

        exact = B * sum(jnp.sum(d * vl, axis=1) for d, vl in zip(deltas, v, strict=True))
        return jnp.mean(jnp.abs(jnp.where(central, q("central"), q("one_sided")) - exact))

    # members: every (difference, sigma), each the mean over the vmapped draws
    diffs = ("one_sided", "central")
    members = {
        "central": np.repeat(np.asarray([d == "central" for d in diffs]), len(cfg.sigmas)),
        "sigma": np.tile(np.asarray(cfg.sigmas, dtype=float), len(diffs)),
    }
    errs = {}
    for name, fn in (("wp", wp_error), ("np", np_error)):
        per_draw = jax.vmap(fn, in_axes=(None, 0, None))
        e = sweep(lambda m, f=per_draw: jnp.mean(f(m["sigma"], keys, m["central"])), members)
        e = np.asarray(e).reshape(len(diffs), len(cfg.sigmas))
        errs[name] = {d: e[k] for k, d in enumerate(diffs)}
    return errs


def exact_mean_bias(cfg):
    """||E g_hat - g|| of WP over all 2^9 sign vectors of a 2-2-1 tanh net (exact mean)."""
    mlp = MLP((2, 2, 1), ("tanh", "tanh"), "mse")
    rng = np.random.default_rng(cfg.seed + 2)
    params = [
        {"W": jnp.asarray(rng.standard_normal((m, n))), "b": jnp.asarray(rng.standard_normal(m))}
        for n, m in ((2, 2), (2, 1))
    ]
    x, y = jnp.asarray(rng.standard_normal((4, 2))), jnp.asarray(rng.standard_normal((4, 1)))
    flat, unravel = ravel_pytree(params)
    U = np.asarray(list(itertools.product([-1.0, 1.0], repeat=flat.size)))
    g = ravel_pytree(jax.grad(mlp.loss_value)(params, x, y))[0]  # eager, as reference_gradients

    @jax.jit
    def mean_estimate(sigma):
        def one(u):
            return jnp.stack(
                [
                    ravel_pytree(
                        weight_perturbation_estimate(mlp, params, x, y, unravel(u), sigma, d)
                    )[0]
                    for d in ("one_sided", "central")
                ]
            )

        return jnp.mean(jax.vmap(one)(U), axis=0)

    means = np.stack([np.asarray(mean_estimate(s)) for s in cfg.sigmas])  # (S, 2, P)
    bias = np.linalg.norm(means - np.asarray(g), axis=2)  # (S, 2)
    rel_diff = float(np.max(np.abs(means[:, 0] - means[:, 1])) / np.max(np.abs(means[:, 1])))
    return {"one_sided": bias[:, 0], "central": bias[:, 1]}, rel_diff


def variance_vs_dimension(cfg, mlp, params, x, y):
    """Normalised E||g_hat - g||^2 / ||g||^2 against P (WP, forward gradient) and N (NP)."""
    flat, unravel = ravel_pytree(params)
    g, deltas = reference_gradients(mlp, params, x, y)
    delta = np.concatenate(deltas, axis=1)  # (B, N): dL/da for every unit of every example
    B, N_total = delta.shape
    keys = jax.random.split(jax.random.key(cfg.seed + 3), cfg.variance_draws)
    sigma = cfg.variance_sigma

    @jax.jit
    def weight_space(P):
        mask = (jnp.arange(flat.size) < P).astype(flat.dtype)
        g_S = g * mask

        def one(key):
            u = mask * jax.random.normal(key, flat.shape)
            wp = ravel_pytree(
                weight_perturbation_estimate(mlp, params, x, y, unravel(u), sigma, "central")
            )[0]
            fg = ravel_pytree(forward_gradient_estimate(mlp, params, x, y, unravel(u)))[0]
            return jnp.stack([jnp.sum((wp - g_S) ** 2), jnp.sum((fg - g_S) ** 2)])

        sq = jax.vmap(one)(keys)
        return jnp.mean(sq, axis=0) / jnp.sum(g_S**2), jnp.std(sq, axis=0) / jnp.sum(g_S**2)

    @jax.jit
    def node_space(N):
        mask = (jnp.arange(N_total) < N).astype(flat.dtype)
        d_S = delta * mask

        def one(key):
            v_all = mask * jax.random.normal(key, (B, N_total))
            splits = np.cumsum(mlp.sizes[1:])[:-1]
            v = jnp.split(v_all, splits, axis=1)
            d_hat, _ = node_perturbation_estimate(mlp, params, x, y, v, sigma, "central")
            return jnp.sum((jnp.concatenate(d_hat, axis=1) - d_S) ** 2)

        sq = jax.vmap(one)(keys)
        return jnp.mean(sq) / jnp.sum(d_S**2), jnp.std(sq) / jnp.sum(d_S**2)

    P_grid = [p for p in cfg.P_grid if p <= flat.size]
    N_grid = [n for n in cfg.N_grid if n <= N_total]
    # one sweep per grid; members one after another ("map"): each already holds all its draws
    m, s = (np.asarray(a) for a in sweep(weight_space, np.asarray(P_grid), strategy="map"))
    npv, np_s = (np.asarray(a) for a in sweep(node_space, np.asarray(N_grid), strategy="map"))
    root_n = np.sqrt(len(keys))
    return {
        "P": np.array(P_grid),
        "N": np.array(N_grid),
        "P_total": flat.size,
        "N_total": N_total,
        "wp": m[:, 0],
        "forward_gradient": m[:, 1],
        "np": npv,
        "wp_se": s[:, 0] / root_n,
        "forward_gradient_se": s[:, 1] / root_n,
        "np_se": np_s / root_n,
    }


def run(cfg: Config) -> dict:
    if len(cfg.sigmas) < 2:
        raise ValueError(f"sigmas needs at least two values to fit a slope, got {cfg.sigmas}")
    mlp, params, x, y = make_problem(cfg)
    errs = finite_difference_errors(cfg, mlp, params, x, y)
    mean_bias, rel_diff = exact_mean_bias(cfg)
    var = variance_vs_dimension(cfg, mlp, params, x, y)
    sig = np.array(cfg.sigmas)
    slopes = {m: {d: fit_order(sig, errs[m][d])[0] for d in errs[m]} for m in errs}
    ratio = {
        "wp": float(np.mean(var["wp"] / (var["P"] + 1))),
        "forward_gradient": float(np.mean(var["forward_gradient"] / (var["P"] + 1))),
        "np": float(np.mean(var["np"] / (var["N"] + 1))),
    }
    metrics = {
        "fd_error_slope_one_sided": float(np.mean([slopes[m]["one_sided"] for m in slopes])),
        "fd_error_slope_central": float(np.mean([slopes[m]["central"] for m in slopes])),
        "fd_error_slopes": slopes,
        "mean_bias_slope_exact": {d: fit_order(sig, mean_bias[d])[0] for d in mean_bias},
        "one_sided_vs_central_mean_max_rel_diff": rel_diff,
        "variance_ratio_vs_theory": ratio,
        "num_parameters": int(var["P_total"]),
        "num_units_per_example": int(var["N_total"]),
    }
    return {"metrics": metrics, "sigmas": sig, "errs": errs, "mean_bias": mean_bias, "var": var}


def _plot_finite_differences(ax, results: dict) -> None:
    """(a) the finite-difference error and the exact mean bias against sigma."""
    sig, errs, m = results["sigmas"], results["errs"], results["metrics"]
    styles = {"wp": ("tab:blue", "o"), "np": ("tab:green", "s")}
    for name, (c, mk) in styles.items():
        for diff, ls in (("one_sided", "-"), ("central", "--")):
            ax.loglog(
                sig,
                errs[name][diff],
                ls,
                color=c,
                marker=mk,
                ms=3,
                label=f"{name.upper()} {diff.replace('_', '-')} "
                f"(slope {m['fd_error_slopes'][name][diff]:.2f})",
            )
    for d, mk in (("one_sided", "^"), ("central", "v")):
        ax.loglog(
            sig,
            results["mean_bias"][d],
            ls="none",
            marker=mk,
            color="tab:red",
            ms=4,
            mfc="none" if d == "central" else "tab:red",
            label=f"exact |E ĝ − g|, WP ±1, {d.replace('_', '-')}",
        )
    e0 = 4.0 * errs["wp"]["one_sided"][-1]
    ax.loglog(
        sig,
        e0 * sig / sig[-1],
        ":",
        color="grey",
        lw=1,
        label=r"guides $\propto\sigma$, $\propto\sigma^2$",
    )
    e1 = 0.25 * errs["np"]["central"][-1]
    ax.loglog(sig, e1 * (sig / sig[-1]) ** 2, ":", color="grey", lw=1)
    ax.set_xlabel(r"perturbation size $\sigma$")
    ax.set_ylabel("error")
    ax.set_title(r"(a) finite-difference error $|\Delta L/\sigma - \nabla L\cdot u|$")
    ax.legend(fontsize=6, loc="upper left")
    ax.set_ylim(top=ax.get_ylim()[1] * 3e2)  # room for the legend above the curves


def _plot_variance_wp(ax, results: dict) -> None:
    """(b) WP's and the forward gradient's variance against the perturbed parameters P."""
    var, m = results["var"], results["metrics"]
    P = var["P"]
    ax.loglog(P, P + 1, "k-", lw=1, label="theory P + 1")
    for name, c, mk in (("wp", "tab:blue", "o"), ("forward_gradient", "tab:orange", "x")):
        ax.errorbar(
            P,
            var[name],
            yerr=2 * var[f"{name}_se"],
            ls="none",
            marker=mk,
            color=c,
            capsize=2,
            label=f"{'WP (central)' if name == 'wp' else 'forward gradient'}: "
            f"ratio {m['variance_ratio_vs_theory'][name]:.3f}",
        )
    ax.set_xlabel("perturbed parameters P")
    ax.set_ylabel(r"$E\|\hat g - g\|^2 / \|g\|^2$")
    ax.set_title("(b) WP and forward gradient: variance vs P")
    ax.legend(loc="upper left")


def _plot_variance_np(ax, results: dict) -> None:
    """(c) NP's variance against the perturbed units per example N."""
    from matplotlib.ticker import NullFormatter

    var, m = results["var"], results["metrics"]
    N = var["N"]
    ax.loglog(N, N + 1, "k-", lw=1, label="theory N + 1")
    ax.errorbar(
        N,
        var["np"],
        yerr=2 * var["np_se"],
        ls="none",
        marker="s",
        color="tab:green",
        capsize=2,
        label=f"NP (central): ratio {m['variance_ratio_vs_theory']['np']:.3f}",
    )
    ax.set_xlabel("perturbed units per example N")
    ax.set_ylabel(r"$E\|\hat\delta - \delta\|^2 / \|\delta\|^2$ (node space)")
    ax.set_title("(c) NP: variance vs N")
    ax.set_xticks(N, [str(n) for n in N])
    yt = [t for t in (2, 5, 10, 20, 50, 100) if t <= 1.2 * (N[-1] + 1)]
    ax.set_yticks(yt, [str(t) for t in yt])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot(results: dict, cfg: Config):
    from dynlearn.plotting import figure

    fig, axes = figure(1, 3, width=4.1, height=3.5)
    _plot_finite_differences(axes[0, 0], results)
    _plot_variance_wp(axes[0, 1], results)
    _plot_variance_np(axes[0, 2], results)
    fig.suptitle(
        "Perturbation estimators: finite-difference error and exact mean bias against σ, "
        "variance against the number of perturbed coordinates (Gaussian noise; error bars "
        "±2 s.e.)"
    )
    return fig


def check(cfg: Config) -> list[str]:
    """Grids within the network's numbers of parameters and units; the vmapped draws must fit."""
    if len(cfg.sizes) < 2:
        raise ValueError(f"sizes needs an input and an output size, got {cfg.sizes}")
    if len(cfg.sigmas) < 2:
        raise ValueError(f"sigmas needs at least two values to fit a slope, got {cfg.sigmas}")
    P_total = sum((m + 1) * n for m, n in zip(cfg.sizes[:-1], cfg.sizes[1:], strict=False))
    N_total = sum(cfg.sizes[1:])
    for key, grid, total in (("P_grid", cfg.P_grid, P_total), ("N_grid", cfg.N_grid, N_total)):
        if max(grid) > total:
            raise ValueError(f"{key} entries must be <= {total} for sizes {cfg.sizes}, got {grid}")
    return []


def memory(cfg: Config) -> dict[str, float]:
    """The noise draws, vmapped: each draw perturbs every parameter (weight perturbation) or
    every unit of every example (node perturbation)."""
    P_total = sum((m + 1) * n for m, n in zip(cfg.sizes[:-1], cfg.sizes[1:], strict=False))
    N_total = sum(cfg.sizes[1:])
    per_draw = 4 * (P_total + cfg.batch_size * N_total)
    return {
        "the bias draws of every (difference, sigma) (bias_draws x sigmas x sizes^2)": 2
        * len(cfg.sigmas)
        * cfg.bias_draws
        * per_draw,
        "the variance draws (variance_draws x sizes^2, batch_size x sizes)": cfg.variance_draws
        * per_draw,
    }


scenario = Scenario(
    name="perturbation-estimators",
    description="Finite-difference error and mean bias (vs sigma), variance (vs P) of "
    "weight/node perturbation and the forward gradient",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
)

if __name__ == "__main__":
    scenario.main()
