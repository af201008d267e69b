"""The half-way learning time of one mode over singular value x initial strength, depths 1-4.

One mode of a balanced, decoupled linear network of N weight matrices follows (Saxe et al.
2014; Arora et al. 2019, Theorem 3 with l = 1/2||W - S||^2; `dynlearn.rules.linear.theory`)

    tau du/dt = N (u^2)^{1 - 1/N} (s - u),        u(0) = u0 < s/2,

and its half-way time t_half (u(t_half) = s/2) is

    N = 1:  tau ln(2 (1 - u0/s))          N = 2:  tau/(2s) ln(s/u0 - 1)
    N >= 3: tau int_{u0}^{s/2} du / (N u^{2-2/N} (s - u))   (scipy.integrate.quad, in ln u).

The phase diagram: t_half over a grid of s x u0 (log-spaced, n_s x n_u0 per depth), every
grid point an adaptive solve (tsit5) of the flow stopped by a diffrax Event at u = s/2 whose
time is located by Newton's method on the solver's dense interpolant (not read off a saved
grid; the solve calls diffrax directly because `dynlearn.solve(..., until=...)` stops at the
end of the step in which a condition turns true, without locating the crossing inside it).
All depths x s x u0 members run as one `dynlearn.sweep` — one compiled program for
thousands of solves. Deeper nets are slower from small starts and depend on u0 more steeply:
t_half ~ ln(1/u0) / (2s) for N = 2, ~ u0^{-(1-2/N)} / ((N-2) s) for N >= 3 — the plateau
grows as a power of 1/u0, so depth turns a small initialisation into a long wait.

Metrics: `max_rel_error_vs_theory` (over the whole grid and every depth) and per depth
`rel_error_by_depth`; `num_solves`; `solves_per_second` (num_solves over the wall time of the
one sweep call, compilation included; `sweep_wall_s`); per depth the range of t_half
(`t_half_min`, `t_half_max`) and the u0-sensitivity at the largest s,
`u0_sensitivity` = t_half(u0_min) / t_half(u0_max); `mean_steps_per_solve`.
"""

import time
from dataclasses import dataclass
from typing import Annotated

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

import dynlearn
from dynlearn.app.scenario import (
    ConfigError,
    Scenario,
    ScenarioConfig,
    Seed,
    positive,
    require_finite,
    size,
    tolerance,
)
from dynlearn.rules.linear import (
    balanced_mode_rate,
    t_half_balanced,
    t_half_deep,
    t_half_shallow,
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0  # the grid is deterministic; kept for the scenario protocol
    depths: Annotated[tuple[int, ...], positive(max=10)] = (1, 2, 3, 4)
    n_s: Annotated[int, size(min=2, max=256)] = 32
    n_u0: Annotated[int, size(min=2, max=256)] = 32
    s_min: Annotated[float, positive()] = 0.5
    s_max: Annotated[float, positive()] = 8.0
    u0_min: Annotated[float, positive()] = 1e-4
    u0_max: Annotated[float, positive()] = 1e-1
    tau: Annotated[float, positive()] = 1.0
    # integration horizon; the event at u = s/2 ends each solve first
    t_max: Annotated[float, positive()] = 1e5
    rtol: Annotated[float, tolerance()] = 1e-10
    atol: Annotated[float, positive(max=1.0)] = 1e-14

    def __post_init__(self):
        super().__post_init__()  # the declared ranges; below, those between fields
        if not self.s_min < self.s_max:
            raise ValueError(f"need 0 < s_min < s_max, got {self.s_min}, {self.s_max}")
        if not 0 < self.u0_min < self.u0_max < self.s_min / 2:
            raise ValueError(
                f"need 0 < u0_min < u0_max < s_min/2 = {self.s_min / 2} (every start below "
                f"half its singular value), got u0_min={self.u0_min}, u0_max={self.u0_max}"
            )


QUICK = {"n_s": 6, "n_u0": 6}


def grid(config: Config):
    s = np.logspace(np.log10(config.s_min), np.log10(config.s_max), config.n_s)
    u0 = np.logspace(np.log10(config.u0_min), np.log10(config.u0_max), config.n_u0)
    return s, u0


def theory(config: Config, depth: int, s: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """t_half over the grid, shape (n_s, n_u0): closed forms for N = 1, 2, quadrature else."""
    S, U0 = np.meshgrid(s, u0, indexing="ij")
    if depth == 1:
        return t_half_shallow(S, U0, config.tau)
    if depth == 2:
        return t_half_deep(S, U0, config.tau)
    return np.vectorize(lambda s_, u_: t_half_balanced(s_, u_, depth, config.tau))(S, U0)


def check(config: Config) -> list[str]:
    """Every solve must reach its event before t_max: the slowest one (smallest s and u0, at
    each depth) by the theory."""
    for depth in config.depths:
        with np.errstate(all="ignore"):
            slowest = t_half_balanced(config.s_min, config.u0_min, depth, config.tau)
        slowest = require_finite(slowest, f"the slowest half-way time at depth {depth}", "u0_min")
        if slowest >= config.t_max:
            raise ConfigError(
                f"t_max={config.t_max:g} is shorter than the slowest half-way time "
                f"{slowest:.4g} (depth {depth}, s_min={config.s_min:g}, u0_min="
                f"{config.u0_min:g}): raise t_max, or raise u0_min or s_min"
            )
    return []


def memory(config: Config) -> dict[str, float]:
    """One sweep over every (depth, s, u0) member: a scalar solve each, its solver state."""
    members = len(config.depths) * config.n_s * config.n_u0
    return {"the members' solver states (depths x n_s x n_u0)": 64 * members}


def half_way_solver(config: Config):
    """member (N, s, u0) -> (t_half, u at the event, steps): one solve of the balanced-mode
    flow, ended by the event u - s/2 = 0 located by Newton on the dense interpolant."""

    def field(t, u, args):
        N, s = args
        return balanced_mode_rate(u, s, N) / config.tau

    def crossed(t, y, args, **kwargs):  # diffrax passes these by keyword
        return y - args[1] / 2

    def member(x):
        N, s, u0 = x
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(field),
            diffrax.Tsit5(),
            0.0,
            config.t_max,
            None,
            u0,
            (N, s),
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.PIDController(rtol=config.rtol, atol=config.atol),
            event=diffrax.Event(crossed, optx.Newton(rtol=1e-13, atol=1e-13)),
            max_steps=100_000,
            throw=False,
        )
        ok = sol.result == diffrax.RESULTS.event_occurred
        return jnp.where(ok, sol.ts[-1], jnp.nan), sol.ys[-1], sol.stats["num_steps"]

    return member


def run(config: Config) -> dict:
    s, u0 = grid(config)
    N, S, U0 = np.meshgrid(np.asarray(config.depths, dtype=float), s, u0, indexing="ij")
    members = (N.ravel(), S.ravel(), U0.ravel())
    start = time.perf_counter()
    t_half, u_event, steps = jax.block_until_ready(dynlearn.sweep(half_way_solver(config), members))
    wall = time.perf_counter() - start
    shape = N.shape
    t_half, u_event, steps = (np.asarray(a).reshape(shape) for a in (t_half, u_event, steps))

    t_theory = np.stack([theory(config, d, s, u0) for d in config.depths])
    rel_error = np.abs(t_half - t_theory) / t_theory
    keys = [str(d) for d in config.depths]
    metrics = {
        "max_rel_error_vs_theory": float(np.max(rel_error)),  # NaN if an event was missed
        "rel_error_by_depth": {k: float(np.max(e)) for k, e in zip(keys, rel_error, strict=True)},
        "max_rel_error_u_at_event": float(np.max(np.abs(u_event - S / 2) / (S / 2))),
        "num_solves": int(t_half.size),
        "solves_per_second": float(t_half.size / wall),
        "sweep_wall_s": wall,
        "mean_steps_per_solve": float(np.mean(steps)),
        "t_half_min": {k: float(np.min(t)) for k, t in zip(keys, t_half, strict=True)},
        "t_half_max": {k: float(np.max(t)) for k, t in zip(keys, t_half, strict=True)},
        "u0_sensitivity": {
            k: float(t[-1, 0] / t[-1, -1]) for k, t in zip(keys, t_half, strict=True)
        },
    }
    return {
        "metrics": metrics,
        "s": s,
        "u0": u0,
        "t_half": t_half,
        "t_theory": t_theory,
        "rel_error": rel_error,
    }


def plot(results: dict, config):
    from matplotlib.colors import LogNorm

    from dynlearn.plotting import figure

    s, u0 = results["s"], results["u0"]
    t_half, rel_error = results["t_half"], results["rel_error"]
    n = len(config.depths)
    n_cols = 3
    n_rows = -(-(n + 2) // n_cols)
    fig, axes = figure(n_rows, n_cols, width=3.9, height=3.3)
    axes = list(axes.ravel())
    for ax in axes[n + 2 :]:
        ax.axis("off")
    norm = LogNorm(vmin=np.nanmin(t_half), vmax=np.nanmax(t_half))
    for ax, N, t in zip(axes, config.depths, t_half, strict=False):
        mesh = ax.pcolormesh(u0, s, t, norm=norm, cmap="viridis", shading="nearest")
        contours = ax.contour(
            u0, s, t, levels=[0.5, 1, 2, 5, 10, 20, 50], colors="w", linewidths=0.6
        )
        ax.clabel(contours, fontsize=6, fmt="%g")
        ax.set_title(f"N = {N}: half-way time $t_{{1/2}}$")
    for ax in [*axes[:n], axes[n]]:
        ax.grid(False)
    for ax in axes[:n]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("initial strength $u_0$")
        ax.set_ylabel("singular value $s$")
    fig.colorbar(mesh, ax=axes[n - 1], label="$t_{1/2}$ (simulated, event at u = s/2)")

    ax_err = axes[n]
    worst = np.max(rel_error, axis=0)
    mesh = ax_err.pcolormesh(
        u0, s, np.maximum(worst, 1e-17), norm=LogNorm(), cmap="magma", shading="nearest"
    )
    ax_err.set_xscale("log")
    ax_err.set_yscale("log")
    ax_err.set_xlabel("initial strength $u_0$")
    ax_err.set_ylabel("singular value $s$")
    ax_err.set_title("relative error vs theory (max over N)")
    fig.colorbar(mesh, ax=ax_err, label="|sim - theory| / theory")

    ax_cut = axes[n + 1]
    i = len(s) - 1
    for k, N in enumerate(config.depths):
        ax_cut.plot(u0, t_half[k, i], "o", color=f"C{k}", ms=3, label=f"N = {N}")
        ax_cut.plot(u0, results["t_theory"][k, i], "k-", lw=0.7)
    ax_cut.plot([], [], "k-", lw=0.7, label="theory")
    ax_cut.set_xscale("log")
    ax_cut.set_yscale("log")
    ax_cut.set_xlabel("initial strength $u_0$")
    ax_cut.set_ylabel("$t_{1/2}$")
    ax_cut.set_title(f"s = {s[i]:.3g}: deeper is slower from small $u_0$")
    ax_cut.legend(fontsize=7)
    m = results["metrics"]
    fig.suptitle(
        f"{m['num_solves']} solves in one sweep ({m['solves_per_second']:.0f} solves/s incl. "
        f"compile); max relative error {m['max_rel_error_vs_theory']:.1e}",
        fontsize=10,
    )
    return fig


scenario = Scenario(
    name="depth-phase-diagram",
    description="Half-way learning time of one mode over singular value x initial strength "
    "for depths 1-4 (thousands of solves in one sweep) against closed form / quadrature",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
)

if __name__ == "__main__":
    scenario.main()
