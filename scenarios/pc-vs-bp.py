"""How close are predictive coding's weight updates to backprop's? (REFERENCES §9)

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
(``nfev_euler`` at the draft's gamma = 0.1; ``nfev_euler_by_gamma`` for every gamma).

Figure: per layer, cosine(PC update, BP gradient) against relaxation time for strict PC
(solid, one colour per gamma) and FPA (dashed); cosine at the equilibrium against beta; and
the residual against vector-field evaluations for Euler and the adaptive solve.
Metrics: ``cosine_final_strict`` (per layer, strict PC at its equilibrium, beta = ``beta``),
``cosine_final_fixed_prediction`` (per layer, FPA after L - 1 Euler steps at gamma = 1),
``nfev_adaptive``, ``nfev_euler``, and the sweeps behind the figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.core import solve
from dynlearn.data.digits import load_digits_split
from dynlearn.nn.mlp import MLP
from dynlearn.progress import progress
from dynlearn.rules.pc_inference import infer, residual
from dynlearn.rules.predictive_coding import Clamped, PredictiveCoding
from dynlearn.scenario import Scenario


@dataclass(frozen=True)
class Config:
    seed: int = 0
    batch: int = 64
    hidden: tuple[int, ...] = (32, 32, 32)
    activation: str = "tanh"
    beta: float = 0.01  # weak output clamping of strict PC
    gammas: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 1.0)
    t_max: float = 20.0  # relaxation time shown
    betas: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
    tol: float = 1e-6  # steady-state residual rms(dx/dt)
    euler_gamma: float = 0.1  # the draft's rate, for nfev_euler


QUICK = {"gammas": (0.1, 1.0), "t_max": 6.0, "betas": (1.0, 0.01), "batch": 16}


def _cosines(a, b) -> np.ndarray:
    """Cosine between the W-updates of a and b, per layer (over the leading axes if any)."""
    out = []
    for pa, pb in zip(a, b, strict=True):
        wa, wb = pa["W"], pb["W"]
        wa = wa.reshape(*wa.shape[:-2], -1)
        wb = wb.reshape(*wb.shape[:-2], -1)
        dot = jnp.sum(wa * wb, -1)
        out.append(dot / (jnp.linalg.norm(wa, axis=-1) * jnp.linalg.norm(wb, axis=-1)))
    return np.stack([np.asarray(c) for c in out], -1)


def _cosines_along(rule, ys, args, bp) -> np.ndarray:
    """(n_save, L) cosines of the update at every saved state with the BP gradient."""
    grads = jax.vmap(lambda xs: rule.weight_gradient(xs, args))(ys)
    return _cosines(grads, bp)


def _euler_path(rule, xs0, args, gamma, t_max):
    T = max(1, int(round(t_max / gamma)))
    sol = solve(
        rule, xs0, T * gamma, method="euler", dt=gamma, args=args, saveat=gamma * np.arange(T + 1)
    )
    return sol


def run(config: Config) -> dict:
    split = load_digits_split(config.seed)
    x, y = split.x_train[: config.batch], split.y_train[: config.batch]
    args = Clamped(x, y)
    sizes = (x.shape[1], *config.hidden, y.shape[1])
    L = len(sizes) - 1
    mlp = MLP(sizes, (config.activation,) * (L - 1) + ("softmax",), "softmax_cross_entropy")
    params = mlp.init(jax.random.PRNGKey(config.seed), "xavier_normal")
    bp = jax.grad(mlp.loss_value)(params, x, y)

    strict = PredictiveCoding(mlp, params, beta=jnp.asarray(config.beta))
    fpa = PredictiveCoding(mlp, params, beta=jnp.asarray(config.beta), fixed_prediction=True)
    xs0 = strict.initial_states(x, "feedforward")

    curves = {"strict": {}, "fixed_prediction": {}}
    nfev_euler_by_gamma = {}
    for gamma in progress(config.gammas, desc="pc-vs-bp gammas"):
        for name, rule in (("strict", strict), ("fixed_prediction", fpa)):
            sol = _euler_path(rule, xs0, args, gamma, config.t_max)
            res = np.asarray(jax.vmap(lambda xs, r=rule: residual(r, xs, args))(sol.ys))
            curves[name][str(gamma)] = {
                "t": np.asarray(sol.ts),
                "cosine": _cosines_along(rule, sol.ys, args, bp),
                "residual": res,
            }
        # vector-field evaluations for Euler to bring the strict residual below tol
        try:
            hit = infer(strict, xs0, args, method="euler", gamma=gamma, T=100_000, tol=config.tol)
            nfev_euler_by_gamma[str(gamma)] = hit.nfev
        except Exception:  # unstable (gamma beyond 2 / curvature) or too slow: no count
            nfev_euler_by_gamma[str(gamma)] = None

    # strict PC at its equilibrium (adaptive steady-state solve) for each beta
    eq_cos = []
    for beta in progress(config.betas, desc="pc-vs-bp betas"):
        rule = PredictiveCoding(mlp, params, beta=jnp.asarray(beta))
        eq = infer(rule, xs0, args, method="adaptive", tol=config.tol)
        eq_cos.append(_cosines(rule.weight_gradient(eq.xs, args), bp))
    adaptive = infer(strict, xs0, args, method="adaptive", tol=config.tol)
    euler_ref = infer(
        strict, xs0, args, method="euler", gamma=config.euler_gamma, T=100_000, tol=config.tol
    )
    # the residual along the adaptive solve, for the figure: solves to looser tolerances
    adaptive_path = []
    for tol in np.geomspace(1e-2, config.tol, 5):
        a = infer(strict, xs0, args, method="adaptive", tol=float(tol))
        adaptive_path.append((a.nfev, a.residual))

    fpa_exact = infer(fpa, xs0, args, method="euler", gamma=1.0, T=L - 1)
    metrics = {
        "cosine_final_strict": _cosines(strict.weight_gradient(adaptive.xs, args), bp).tolist(),
        "cosine_final_fixed_prediction": _cosines(
            fpa.weight_gradient(fpa_exact.xs, args), bp
        ).tolist(),
        "fixed_prediction_max_abs_error": max(
            float(jnp.max(jnp.abs(g["W"] / config.beta - b["W"])))
            for g, b in zip(fpa.weight_gradient(fpa_exact.xs, args), bp, strict=True)
        ),
        "nfev_adaptive": adaptive.nfev,
        "nfev_euler": euler_ref.nfev,
        "nfev_euler_by_gamma": nfev_euler_by_gamma,
        "residual_adaptive": adaptive.residual,
        "residual_euler": euler_ref.residual,
        "equilibrium_distance_rms": float(
            np.sqrt(
                np.mean(
                    np.concatenate(
                        [np.ravel(a - b) for a, b in zip(adaptive.xs, euler_ref.xs, strict=True)]
                    )
                    ** 2
                )
            )
        ),
        "cosine_equilibrium_by_beta": {
            str(b): c.tolist() for b, c in zip(config.betas, eq_cos, strict=True)
        },
        "num_layers": L,
    }
    return {
        "metrics": metrics,
        "curves": curves,
        "betas": np.array(config.betas),
        "eq_cos": np.array(eq_cos),
        "adaptive_path": np.array(adaptive_path),
        "config_tol": config.tol,
        "beta": config.beta,
    }


def plot(results: dict):
    from dynlearn.plotting import figure

    m = results["metrics"]
    L = m["num_layers"]
    ncols = max(L, 3)
    fig, axes = figure(2, ncols, width=3.3, height=2.9)
    strict, fpa = results["curves"]["strict"], results["curves"]["fixed_prediction"]
    gammas = list(strict)
    colors = {g: f"C{i}" for i, g in enumerate(gammas)}
    for layer in range(L):
        ax = axes[0, layer]
        for g in gammas:
            ax.plot(
                strict[g]["t"],
                strict[g]["cosine"][:, layer],
                color=colors[g],
                label=f"strict, gamma={g}",
            )
            ax.plot(
                fpa[g]["t"],
                fpa[g]["cosine"][:, layer],
                color=colors[g],
                ls="--",
                label=f"FPA, gamma={g}",
            )
        ax.set(
            xlabel="relaxation time t = n gamma",
            ylabel="cos(PC update, BP gradient)",
            title=f"layer {layer + 1} (W{layer + 1})",
            xscale="symlog",
            ylim=(-0.05, 1.05),
        )
        ax.set_xlim(0, None)
    axes[0, 0].legend(fontsize=6, loc="lower right")
    for ax in axes[0, L:]:
        ax.set_visible(False)

    ax = axes[1, 0]
    for layer in range(L):
        ax.plot(results["betas"], results["eq_cos"][:, layer], "o-", label=f"layer {layer + 1}")
    ax.set(
        xscale="log",
        xlabel="output clamping beta",
        ylabel="cosine at equilibrium",
        title="strict PC at equilibrium vs beta",
    )
    ax.invert_xaxis()
    ax.legend()

    ax = axes[1, 1]
    for g in gammas:
        r = strict[g]["residual"]
        ax.plot(np.arange(1, len(r) + 1), r, color=colors[g], label=f"Euler gamma={g}")
    path = results["adaptive_path"]
    ax.plot(path[:, 0], path[:, 1], "k*-", ms=7, label="adaptive Tsit5 (steady-state stop)")
    ax.axhline(results["config_tol"], color="gray", ls=":", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="vector-field evaluations",
        ylabel="residual rms(dx/dt)",
        title="strict PC: cost of reaching equilibrium",
    )
    ax.legend(fontsize=6)

    ax = axes[1, 2]
    ax.axis("off")
    by_gamma = ", ".join(f"{g}: {n}" for g, n in m["nfev_euler_by_gamma"].items())
    text = (
        f"strict PC, beta={results['beta']:g}, at equilibrium\n"
        + "cosine per layer:\n  "
        + ", ".join(f"{c:.4f}" for c in m["cosine_final_strict"])
        + "\nFPA after L-1 steps at gamma=1:\n  "
        + ", ".join(f"{c:.6f}" for c in m["cosine_final_fixed_prediction"])
        + f"\n\nevaluations to residual < {results['config_tol']:g}:\n"
        + f"  adaptive: {m['nfev_adaptive']}\n  Euler by gamma: {by_gamma}"
    )
    ax.text(0, 1, text, va="top", family="monospace", fontsize=7)
    for ax in axes[1, 3:]:
        ax.set_visible(False)
    return fig


scenario = Scenario(
    name="pc-vs-bp",
    description="Cosine of predictive-coding and backprop updates vs relaxation time, gamma, beta",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
)

if __name__ == "__main__":
    scenario.main()
