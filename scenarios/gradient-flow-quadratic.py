"""Gradient flow on a 2-D quadratic, and gradient descent as its Euler scheme.

L(theta) = 1/2 theta^T H theta with H = R diag(lambda1, lambda2) R^T (R a rotation by
``angle_deg``). The gradient flow d theta/dt = -H theta has the exact solution
theta(t) = V exp(-Lambda t) V^T theta0 (eigen-decomposition H = V Lambda V^T). It is solved
by tsit5 (diffrax) and RK45 (scipy) and compared with the exact solution; gradient descent
theta_{n+1} = theta_n - eta H theta_n is solve(method="euler", dt=eta), compared with the flow
at t = n eta. GD multiplies the k-th eigen-component by (1 - eta lambda_k) per step, so it
diverges exactly when eta > 2 / lambda1 (docs/references.md §8; Cohen et al. 2021).

``gd_diverges`` is measured from the GD iterates: the least-squares growth rate of
log ||theta_n|| over the second half of the run is positive (or the iterates overflowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax.numpy as jnp
import numpy as np

import dynlearn
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    in_range,
    positive,
    require_steps,
    tolerance,
)

T1_MAX = 1e5  # the longest flow time: the adaptive solves need about one step per 3 time units


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    lambda1: Annotated[float, positive()] = 1.0
    lambda2: Annotated[float, positive()] = 0.2
    angle_deg: Annotated[float, in_range()] = 30.0
    theta0: Annotated[tuple[float, ...], in_range(length=2)] = (-1.5, 1.8)
    eta: Annotated[float, positive()] = 0.5
    t1: Annotated[float, positive(max=T1_MAX)] = 30.0
    rtol: Annotated[float, tolerance()] = 1e-10
    atol: Annotated[float, positive(max=1.0)] = 1e-12

    def __post_init__(self):
        super().__post_init__()  # the declared ranges; below, those between fields
        if not self.lambda1 > self.lambda2:
            raise ValueError(f"need lambda1 > lambda2, got {self.lambda1}, {self.lambda2}")


QUICK = {"t1": 10.0}


def _gradient_field(t, theta, H):
    """d theta/dt = -grad L(theta) = -H theta, H passed through args."""
    return -(H @ theta)


def hessian(config: Config) -> np.ndarray:
    a = np.deg2rad(config.angle_deg)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return R @ np.diag([config.lambda1, config.lambda2]) @ R.T


def exact_flow(H: np.ndarray, theta0: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """theta(t) = V exp(-Lambda t) V^T theta0, one row per time."""
    lam, V = np.linalg.eigh(H)
    coeffs = V.T @ theta0
    return (np.exp(-np.outer(ts, lam)) * coeffs) @ V.T


def growth_rate(norms: np.ndarray) -> float:
    """Least-squares slope of log ||theta_n|| against n over the second half of the run (the
    whole run if that half is a single step)."""
    half = norms[len(norms) // 2 :] if len(norms) >= 4 else norms
    n = np.arange(len(half))
    return float(np.polyfit(n, np.log(half), 1)[0])


def run(config: Config) -> dict:
    H = hessian(config)
    theta0 = np.asarray(config.theta0, dtype=float)
    num_steps = num_gd_steps(config)
    t1 = num_steps * config.eta
    ts = np.linspace(0.0, t1, 200)
    Hj = jnp.asarray(H)
    tol = {"rtol": config.rtol, "atol": config.atol}
    flow = {
        m: dynlearn.solve(
            _gradient_field, jnp.asarray(theta0), t1, method=m, saveat=ts, args=Hj, **tol
        )
        for m in ("tsit5", "RK45")
    }
    exact = exact_flow(H, theta0, ts)

    gd_ts = config.eta * np.arange(num_steps + 1)
    gd = dynlearn.solve(
        _gradient_field,
        jnp.asarray(theta0),
        t1,
        method="euler",
        dt=config.eta,
        saveat=gd_ts,
        args=Hj,
        throw=False,
    )
    gd_theta = np.asarray(gd.ys)
    # the iterates overflowed: divergence, shown as far as they are finite
    overflowed = gd.result != dynlearn.RESULTS.successful
    if overflowed:
        finite = np.all(np.isfinite(gd_theta), axis=1)
        num_finite = len(finite) if finite.all() else int(np.argmin(finite))
        gd_theta, gd_ts = gd_theta[:num_finite], gd_ts[:num_finite]
    norms = np.linalg.norm(gd_theta, axis=1)
    rate = np.inf if overflowed else growth_rate(norms)
    gd_error = np.linalg.norm(gd_theta - exact_flow(H, theta0, gd_ts), axis=1)

    def loss(theta):
        return 0.5 * np.einsum("ni,ij,nj->n", theta, H, theta)

    flow_ys = {m: np.asarray(sol.ys) for m, sol in flow.items()}  # on the host once
    metrics = {
        "final_error_tsit5_vs_exact": float(np.linalg.norm(flow_ys["tsit5"][-1] - exact[-1])),
        "final_error_rk45_vs_exact": float(np.linalg.norm(flow_ys["RK45"][-1] - exact[-1])),
        "max_error_gd_vs_exact": float(np.max(gd_error)),
        "gd_diverges": bool(overflowed or rate > 0.0),
        "gd_log_growth_rate_per_step": rate,
        "eta_times_lambda1": config.eta * config.lambda1,
        "nfev_tsit5": flow["tsit5"].stats["nfev"],
        "nfev_rk45": flow["RK45"].stats["nfev"],
    }
    return {
        "metrics": metrics,
        "H": H,
        "ts": ts,
        "exact": exact,
        "gd_ts": gd_ts,
        "gd": gd_theta,
        "tsit5": flow_ys["tsit5"],
        "rk45": flow_ys["RK45"],
        "loss_exact": loss(exact),
        "loss_gd": loss(gd_theta),
    }


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    fig, axes = figure(1, 2, width=4.6, height=3.8)
    ax = axes[0, 0]
    H, ex, gd = results["H"], results["exact"], results["gd"]
    span = 1.2 * max(np.max(np.abs(ex)), 1.0)
    grid = np.linspace(-span, span, 200)
    X, Y = np.meshgrid(grid, grid)
    P = np.stack([X, Y], -1)
    Z = 0.5 * np.einsum("...i,ij,...j->...", P, H, P)
    levels = np.geomspace(Z[Z > 0].min() * 50, Z.max(), 12)
    ax.contour(X, Y, Z, levels=levels, colors="0.6", linewidths=0.6)
    ax.plot(ex[:, 0], ex[:, 1], "k-", lw=2.5, label="exact flow")
    ax.plot(results["tsit5"][:, 0], results["tsit5"][:, 1], "C0--", lw=1.2, label="tsit5")
    ax.plot(results["rk45"][::8, 0], results["rk45"][::8, 1], "C2x", ms=4, label="RK45")
    inside = np.all(np.abs(gd) <= span, axis=1)
    ax.plot(gd[inside, 0], gd[inside, 1], "C3o-", ms=3, lw=0.8, label=f"GD, eta={config.eta:g}")
    ax.set(
        xlim=(-span, span),
        ylim=(-span, span),
        xlabel=r"$\theta_1$",
        ylabel=r"$\theta_2$",
        title="Trajectories over the loss contours",
        aspect="equal",
    )
    ax.legend(loc="lower right")

    ax = axes[0, 1]
    ax.semilogy(results["ts"], results["loss_exact"], "k-", label="gradient flow (exact)")
    ax.semilogy(results["gd_ts"], results["loss_gd"], "C3o-", ms=3, lw=0.8, label="GD at t = n eta")
    m = results["metrics"]
    ax.set(
        xlabel="time t (GD: n eta)",
        ylabel="loss L(theta)",
        title=f"eta*lambda1 = {m['eta_times_lambda1']:.2f} (diverges iff > 2): "
        f"{'diverges' if m['gd_diverges'] else 'converges'}",
    )
    ax.legend()
    return fig


def num_gd_steps(config: Config) -> int:
    """t1 / eta rounded: the gradient-descent steps, every one saved."""
    return require_steps(max(1.0, config.t1 / config.eta), "the GD steps t1/eta", "t1, eta")


def memory(config: Config) -> dict[str, float]:
    return {"the saved GD iterates (t1/eta x 2)": 4 * (num_gd_steps(config) + 1)}


def check(config: Config) -> list[str]:
    """Gradient descent above its stability limit eta = 2 / lambda1 is legal (the figure then
    shows it diverge) but unusual: say so."""
    t1 = num_gd_steps(config) * config.eta  # the flow time of the run: whole steps of eta
    if t1 > T1_MAX:
        raise ValueError(
            f"eta={config.eta:g} takes gradient descent to t = {t1:g} in whole steps, beyond "
            f"the longest flow time {T1_MAX:g}: lower eta (or t1)"
        )
    if config.eta >= 2.0 / config.lambda1:
        return [
            f"eta={config.eta:g} is at or above the stability limit 2/lambda1 = "
            f"{2.0 / config.lambda1:g}: gradient descent diverges"
        ]
    return []


scenario = Scenario(
    name="gradient-flow-quadratic",
    description=(
        "Gradient flow on a 2-D quadratic by tsit5, RK45 and GD as Euler; "
        "GD diverges iff eta > 2/lambda1"
    ),
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    # GD above 2/lambda1 is shown diverging: once its iterates overflow, its growth rate and
    # its error are infinite (null in the JSON)
    nullable=("gd_log_growth_rate_per_step", "max_error_gd_vs_exact"),
)

if __name__ == "__main__":
    scenario.main()
