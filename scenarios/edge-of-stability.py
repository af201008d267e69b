"""Edge of stability: full-batch GD drives the sharpness to 2/eta and hovers there
(Cohen, Kaur, Li, Kolter & Talwalkar, ICLR 2021; docs/references.md §8).

A 2-32-32-4 tanh MLP with identity output and MSE loss L = mean ½||y_hat - y||² on the
4-armed spiral (one-hot targets), trained by full-batch GD theta <- theta - eta ∇L, i.e.
solve(Backprop, method="euler", dt=eta), at several learning rates. Every ``sharpness_every``
steps the sharpness lambda_max(H) of the loss Hessian is measured by restarted Lanczos on
Hessian-vector products (jax.jvp through the hand-written gradient; ``lambda_max``),
warm-started from the previous eigenvector and stopped when the residual
||Hv - lambda v|| <= ``sharpness_tol`` * lambda (``sharpness_converged``: every measurement met
it). Plain power iteration stalls here: at the edge of stability the top eigenvalues crowd
together, and at eta = 0.25 it missed the residual test within 1000 products.

On a quadratic GD diverges iff eta > 2/lambda_max. A network is not a quadratic: its
sharpness first rises during training ("progressive sharpening") until it reaches 2/eta, then
GD does not diverge but keeps it close to 2/eta while the loss keeps falling, non-monotonically.
``quadratic_threshold_rel_error`` checks the quadratic statement itself: the divergence
threshold of GD, measured by bisection on eta from GD runs, against 2/lambda_max.

Metrics (per eta, keys are the learning rates as strings): ``sharpness_final`` (at the last
step), ``ratio_to_2_over_eta`` (= sharpness_final * eta / 2), ``ratio_last_quarter_mean`` (mean
sharpness over the last quarter of training * eta / 2), ``sharpness_initial``.
Computed in float64 (as every scenario is).

Figure: loss and sharpness against step for each eta, with the 2/eta lines dashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

import dynlearn
from dynlearn.analysis import divergence_threshold, gd_diverges, sharpness_along
from dynlearn.app.scenario import Scenario, ScenarioConfig, Seed, nonnegative, positive, size
from dynlearn.data import make_spiral
from dynlearn.nn import MLP, Minibatches
from dynlearn.rules.credit import Backprop


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    n_per_class: Annotated[int, size(max=100_000)] = 50
    noise: Annotated[float, nonnegative()] = 0.2
    hidden: Annotated[int, size(max=4096)] = 32
    etas: Annotated[tuple[float, ...], positive()] = (0.12, 0.18, 0.25)
    steps: Annotated[int, size(max=1_000_000)] = 4000
    sharpness_every: Annotated[int, positive()] = 20
    sharpness_tol: Annotated[float, positive()] = 1e-4
    sharpness_max_iters: Annotated[int, positive(max=1_000_000)] = 1000
    quad_eigenvalues: Annotated[tuple[float, ...], positive()] = (10.0, 3.0, 1.0, 0.1)
    # GD steps per bisection test: resolution ~ log(1e6)/(4 quad_steps)
    quad_steps: Annotated[int, positive(max=10_000_000)] = 4000


QUICK = {"etas": (0.25,), "steps": 600, "quad_steps": 2000}


def _check(config: Config) -> None:
    if not config.etas or min(config.etas) <= 0:
        raise ValueError(f"etas must be positive learning rates, got {config.etas}")
    if config.steps < 4 or config.steps % config.sharpness_every:
        raise ValueError(
            f"steps={config.steps} must be >= 4 and a multiple of "
            f"sharpness_every={config.sharpness_every}"
        )
    if len(config.quad_eigenvalues) < 1 or min(config.quad_eigenvalues) <= 0:
        raise ValueError(f"quad_eigenvalues must be positive, got {config.quad_eigenvalues}")


def memory(config: Config) -> dict[str, float]:
    """Each eta's GD saves its parameters at every step, and its loss is evaluated on all of
    them at once (one sweep over the etas)."""
    h, n = config.hidden, 4 * config.n_per_class
    params = h * h + 8 * h + 4  # the 2-h-h-4 MLP
    saved = len(config.etas) * (config.steps + 1)
    return {
        "the saved parameters (etas x steps x hidden^2)": saved * params,
        "the losses' activations (etas x steps x n_per_class x hidden)": saved * n * (2 * h + 8),
        "the Lanczos vectors of the sharpness (etas x hidden^2)": len(config.etas) * 30 * params,
    }


@jax.jit
def _rotated_hessian(lams, key):
    """H = Q diag(lams) Q^T with Q the QR rotation of a Gaussian matrix (one program)."""
    Q, _ = jnp.linalg.qr(jax.random.normal(key, (len(lams), len(lams))))
    return Q @ jnp.diag(lams) @ Q.T


def quadratic_threshold(eigenvalues, steps: int, seed: int) -> tuple[float, float]:
    """GD's divergence threshold on L = ½ theta^T H theta, H = Q diag(eigenvalues) Q^T with a
    random rotation Q: (measured threshold, 2 / lambda_max)."""
    lams = np.asarray(eigenvalues, dtype=float)
    H = _rotated_hessian(lams, jax.random.PRNGKey(seed))
    theta0 = jnp.ones(len(lams))
    run = jax.jit(
        lambda eta: gd_diverges(
            lambda th: H @ th, lambda th: 0.5 * th @ H @ th, theta0, eta, num_steps=steps
        )
    )
    lam_max = float(np.max(lams))
    eta_star = divergence_threshold(
        lambda eta: bool(run(eta)), 0.5 / lam_max, 4.0 / lam_max, rtol=1e-5
    )
    return eta_star, 2.0 / lam_max


def _gd_sweep(config: Config, net: MLP, x, y, theta0) -> tuple:
    """GD from ``theta0`` at every learning rate in one compiled sweep, on the host: per eta
    whether it diverged, the loss at every step, and every ``sharpness_every`` steps the
    sharpness, its Hessian-vector products and whether Lanczos converged."""
    args = Minibatches(x, y)  # full batch: GD is Euler at dt = eta
    num_params = sum(np.size(a) for a in jax.tree.leaves(theta0))
    v0 = jax.random.normal(jax.random.PRNGKey(config.seed + 1), (num_params,))
    k = config.sharpness_every
    steps = np.arange(config.steps + 1)

    def member(m):
        """GD at one learning rate (Euler at dt = eta; no error if it diverges: reported),
        its loss at every step and the sharpness every k steps."""
        eta = m["eta"]
        gd = dynlearn.solve(
            Backprop(net),
            m["theta0"],
            config.steps * eta,
            method="euler",
            dt=eta,
            saveat=eta * steps,
            args=args,
            max_steps=config.steps + 1,
            throw=False,
        )
        losses = jax.vmap(lambda p: net.loss_value(p, x, y))(gd.ys)
        thetas = jax.tree_util.tree_map(lambda a: a[::k], gd.ys)
        r = sharpness_along(
            Partial(net.grad, x=x, y=y),
            thetas,
            v0=v0,
            tol=config.sharpness_tol,
            max_iters=config.sharpness_max_iters,
        )
        diverged = gd.result != dynlearn.RESULTS.successful
        return diverged, losses, r.eigenvalue, r.num_iters, r.converged

    # every learning rate in one compiled sweep; the common start rides along per member
    # (solve's eager finiteness check of a constant y0 fails inside a traced sweep)
    members = {
        "eta": np.asarray(config.etas, dtype=float),
        "theta0": jax.tree.map(lambda a: np.stack([a] * len(config.etas)), theta0),
    }
    # the results on the host once: what follows is NumPy (no eager device ops)
    return jax.tree.map(np.asarray, dynlearn.sweep(member, members))


def _per_eta(config: Config, swept: tuple) -> tuple[list, dict]:
    """The figure's curves and the sharpness metrics of every learning rate that did not
    diverge (a diverged one is reported and left out of the figure)."""
    diverged, all_losses, all_lams, all_iters, all_converged = swept
    k = config.sharpness_every
    steps = np.arange(config.steps + 1)
    runs = []
    metrics = {
        "sharpness_final": {},
        "ratio_to_2_over_eta": {},
        "ratio_last_quarter_mean": {},
        "sharpness_initial": {},
        "diverged": {},
        "loss_final": {},
        "sharpness_converged": {},
    }
    for i, eta in enumerate(config.etas):
        key = f"{eta:g}"
        if bool(diverged[i]):
            metrics["diverged"][key] = True  # reported, and left out of the figure
            continue
        losses, lams = np.asarray(all_losses[i]), np.asarray(all_lams[i])
        last_quarter = lams[len(lams) - max(1, len(lams) // 4) :]
        metrics["diverged"][key] = False
        metrics["sharpness_converged"][key] = bool(np.all(all_converged[i]))
        metrics["sharpness_initial"][key] = float(lams[0])
        metrics["sharpness_final"][key] = float(lams[-1])
        metrics["ratio_to_2_over_eta"][key] = float(lams[-1] * eta / 2.0)
        metrics["ratio_last_quarter_mean"][key] = float(last_quarter.mean() * eta / 2.0)
        metrics["loss_final"][key] = float(losses[-1])
        runs.append(
            {
                "eta": eta,
                "steps": steps,
                "loss": losses,
                "sharp_steps": steps[::k],
                "sharpness": lams,
                "hvps": np.asarray(all_iters[i]),
            }
        )
    return runs, metrics


def run(config: Config) -> dict:
    _check(config)
    x, y = make_spiral(config.seed, config.n_per_class, num_classes=4, noise=config.noise)
    net = MLP((2, config.hidden, config.hidden, 4), ("tanh", "tanh", "identity"), "mse")
    theta0 = net.init(jax.random.PRNGKey(config.seed), "xavier_normal")
    runs, metrics = _per_eta(config, _gd_sweep(config, net, x, y, theta0))

    eta_star, two_over_lam = quadratic_threshold(
        config.quad_eigenvalues, config.quad_steps, config.seed
    )
    metrics["quadratic_threshold_measured"] = eta_star
    metrics["quadratic_threshold_theory"] = two_over_lam
    metrics["quadratic_threshold_rel_error"] = abs(eta_star - two_over_lam) / two_over_lam
    return {"metrics": metrics, "runs": runs}


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    runs, m = results["runs"], results["metrics"]
    fig, axes = figure(1, 2, width=5.2, height=3.8)
    ax_loss, ax_sharp = axes[0]
    for i, r in enumerate(runs):
        c = f"C{i}"
        ax_loss.semilogy(r["steps"], r["loss"], color=c, lw=0.8, label=f"eta={r['eta']:g}")
        ax_sharp.plot(r["sharp_steps"], r["sharpness"], color=c, lw=1.2, label=f"eta={r['eta']:g}")
        ax_sharp.axhline(2.0 / r["eta"], color=c, ls="--", lw=1)
    ax_sharp.plot([], [], "k--", lw=1, label="2/eta")
    ax_loss.set(xlabel="GD step n", ylabel="training loss (MSE)", title="Full-batch GD: loss")
    ax_loss.legend()
    ax_sharp.set(
        xlabel="GD step n",
        ylabel=r"sharpness $\lambda_{max}(\nabla^2 L)$",
        title="Sharpness rises to 2/eta and hovers there",
    )
    ax_sharp.set_ylim(0, 1.25 * max(2.0 / r["eta"] for r in runs))
    ax_sharp.legend(loc="lower right")
    ax_sharp.text(
        0.02,
        0.97,
        f"quadratic: measured GD threshold {m['quadratic_threshold_measured']:.5g}\n"
        f"vs 2/lambda_max = {m['quadratic_threshold_theory']:.5g} "
        f"(rel. error {m['quadratic_threshold_rel_error']:.1e})",
        transform=ax_sharp.transAxes,
        va="top",
        fontsize=8,
    )
    return fig


scenario = Scenario(
    name="edge-of-stability",
    description="Full-batch GD: the sharpness rises to 2/eta and hovers there (Cohen et al. 2021)",
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
