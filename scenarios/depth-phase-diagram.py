"""Which depth learns a mode first: the half-way time over singular value x initial strength.

One mode of a balanced, decoupled linear network of N weight matrices follows (Saxe et al.
2014; Arora et al. 2019, Theorem 3 with l = 1/2||W - S||^2; `dynlearn.rules.linear.theory`)

    tau du/dt = N (u^2)^{1 - 1/N} (s - u),        u(0) = u0 < s/2,

and its half-way time t_half (u(t_half) = s/2) is elementary for every N
(``t_half_balanced``: with w = u^{1/N} the integrand is rational; log and arctan terms).
Convention: every depth starts from the same end-to-end strength u0, so each of its N factors
starts at u0^{1/N}: the per-layer start grows with N.

The collapse. Scaling u = s v turns the ODE into one without s up to the time unit:

    t_half(s, u0) = s^{-(2 - 2/N)} F_N(u0/s),

so for each depth the map over (s, u0) carries only the one-dimensional F_N (panel a: the
simulated t_half s^{2-2/N} of every grid point on the closed-form F_N against u0/s). For small
starts F_N ~ ln(1/r)/2 (N = 2) and ~ r^{-(1-2/N)}/(N - 2) (N >= 3): depth turns a small start
into a long plateau.

The boundary. Depth N >= 2 reaches s/2 before N = 1 where F_N(u0/s) < s^{2-2/N} F_1(u0/s), i.e.
for u0 above one start u0*(s) (``crossover_u0``) when s^{2-2/N} > 2^{2-2/N}/N, and never
otherwise (N = 2: never for s <= 1). Panel (b) shows which depth is fastest at each grid point
and the boundaries u0*(s); (c) the times along three rows of the grid.

Every grid point is an adaptive solve (tsit5) of the flow stopped by a diffrax Event at
u = s/2 whose time is located by Newton's method on the solver's dense interpolant (not read
off a saved grid; the solve calls diffrax directly because `dynlearn.solve(..., until=...)`
stops at the end of the step in which a condition turns true). All depths x s x u0 members
run as one `dynlearn.sweep`. The metrics come from these simulated times; the tests hold them
against the closed forms.

Metrics: `max_rel_error_vs_theory` (over the whole grid and every depth; the theory is the
closed form) and per depth `rel_error_by_depth`; `num_solves`; `solves_per_second` (num_solves
over the wall time of the one sweep call, compilation included; `sweep_wall_s`);
`mean_steps_per_solve`; per depth the range of t_half (`t_half_min`, `t_half_max`), the times
at the grid's corners (`t_half_at_corners`: same (s, u0) for every depth) and the
u0-sensitivity at the largest s, `u0_sensitivity` = t_half(u0_min) / t_half(u0_max).
The boundary, from the simulated times: `boundary_u0[N]` per s of the grid (`boundary_s`),
where ln(t_half_N / t_half_1) changes sign along u0 (cubic interpolation in ln u0; null where
it does not change sign inside the grid); `boundary_u0_closed_form` (``crossover_u0``, null
where depth N never wins) and `max_rel_error_boundary`; `fraction_fastest[N]`, the fraction of
grid points where depth N has the smallest simulated t_half, and `fraction_beats_shallow[N]`,
where depth N is faster than N = 1.
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
    crossover_u0,
    t_half_balanced,
    t_half_collapsed,
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0  # the grid is deterministic; kept for the scenario protocol
    depths: Annotated[tuple[int, ...], positive(max=10)] = (1, 2, 3, 4)
    # 33 log-spaced s from 0.5 to 8: s = 0.5, 1, 2, 4, 8 are grid rows
    n_s: Annotated[int, size(min=2, max=256)] = 33
    n_u0: Annotated[int, size(min=2, max=256)] = 32
    s_min: Annotated[float, positive()] = 0.5
    s_max: Annotated[float, positive()] = 8.0
    u0_min: Annotated[float, positive()] = 1e-4
    u0_max: Annotated[float, positive()] = 0.2  # below s_min/2: every start under half-way
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
    """t_half over the grid, shape (n_s, n_u0), in closed form (``t_half_balanced``)."""
    S, U0 = np.meshgrid(s, u0, indexing="ij")
    return t_half_balanced(S, U0, depth, config.tau)


def sign_change(x: np.ndarray, d: np.ndarray) -> float | None:
    """Where d(x), sampled at increasing x, changes sign from + to -: the root of a cubic
    spline through the samples in the bracketing interval; None without a sign change."""
    from scipy.interpolate import CubicSpline
    from scipy.optimize import brentq

    i = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0))
    if i.size == 0:
        return None
    i = int(i[0])
    if d[i + 1] == 0:
        return float(x[i + 1])
    spline = CubicSpline(x, d)
    return float(brentq(spline, x[i], x[i + 1], xtol=1e-14))


def boundary(s: np.ndarray, u0: np.ndarray, t_deep: np.ndarray, t_shallow: np.ndarray) -> list:
    """Per s, the u0 above which t_deep < t_shallow: where ln(t_deep / t_shallow) changes sign
    along ln u0 (None if it does not inside the grid)."""
    x = np.log(u0)
    out = []
    for row_deep, row_shallow in zip(t_deep, t_shallow, strict=True):
        root = sign_change(x, np.log(row_deep / row_shallow))
        out.append(None if root is None else float(np.exp(root)))
    return out


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
    by_depth = dict(zip(keys, t_half, strict=True))
    corners = {"s_min_u0_min": (0, 0), "s_min_u0_max": (0, -1), "s_max_u0_min": (-1, 0)}
    corners["s_max_u0_max"] = (-1, -1)
    fastest = np.argmin(t_half, axis=0)  # index into depths, per grid point
    metrics = {
        "max_rel_error_vs_theory": float(np.max(rel_error)),  # NaN if an event was missed
        "rel_error_by_depth": {k: float(np.max(e)) for k, e in zip(keys, rel_error, strict=True)},
        "max_rel_error_u_at_event": float(np.max(np.abs(u_event - S / 2) / (S / 2))),
        "num_solves": int(t_half.size),
        "solves_per_second": float(t_half.size / wall),
        "sweep_wall_s": wall,
        "mean_steps_per_solve": float(np.mean(steps)),
        "t_half_min": {k: float(np.min(t)) for k, t in by_depth.items()},
        "t_half_max": {k: float(np.max(t)) for k, t in by_depth.items()},
        "t_half_at_corners": {
            name: {k: float(t[ij]) for k, t in by_depth.items()} for name, ij in corners.items()
        },
        "u0_sensitivity": {k: float(t[-1, 0] / t[-1, -1]) for k, t in by_depth.items()},
        "fraction_fastest": {k: float(np.mean(fastest == i)) for i, k in enumerate(keys)},
    }
    if 1 in config.depths:
        shallow = by_depth["1"]
        deeper = [d for d in config.depths if d > 1]
        sim = {str(d): boundary(s, u0, by_depth[str(d)], shallow) for d in deeper}
        exact = {str(d): crossover_u0(s, d) for d in deeper}
        errors = [
            abs(a - b) / b
            for d in sim
            for a, b in zip(sim[d], exact[d], strict=True)
            if a is not None and np.isfinite(b)
        ]
        metrics |= {
            "fraction_beats_shallow": {
                str(d): float(np.mean(by_depth[str(d)] < shallow)) for d in deeper
            },
            "boundary_s": s.tolist(),
            "boundary_u0": sim,
            "boundary_u0_closed_form": {
                d: [float(b) if np.isfinite(b) else None for b in v] for d, v in exact.items()
            },
            "max_rel_error_boundary": float(max(errors)) if errors else None,
        }
    return {
        "metrics": metrics,
        "s": s,
        "u0": u0,
        "t_half": t_half,
        "t_theory": t_theory,
        "rel_error": rel_error,
    }


def _plot_collapse(ax, results: dict, config) -> None:
    """(a) t_half s^(2-2/N) against u0/s: every simulated grid point on F_N."""
    s, u0, t_half = results["s"], results["u0"], results["t_half"]
    depths = list(config.depths)
    colors = [f"C{k}" for k in range(len(depths))]
    S, U0 = np.meshgrid(s, u0, indexing="ij")
    ratio = U0 / S
    r = np.geomspace(ratio.min(), ratio.max(), 300)
    for k, N in enumerate(depths):
        scaled = t_half[k] * S ** (2.0 - 2.0 / N)
        ax.plot(r, t_half_collapsed(r, N, config.tau), "-", lw=0.8, color="k", zorder=1)
        ax.plot(
            ratio.ravel(), scaled.ravel(), "o", ms=3, mew=0, color=colors[k], alpha=0.6, zorder=2
        )
        ax.plot([], [], "o", ms=4, color=colors[k], label=f"N = {N}, simulated")
    ax.plot([], [], "k-", lw=0.8, label="closed form $F_N$")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="initial strength / singular value  $u_0/s$",
        ylabel=r"$t_{1/2}\, s^{2-2/N}$  (time units $\tau$)",
        title=f"(a) {t_half[0].size} (s, u0) points per depth fall on one curve $F_N(u_0/s)$",
    )
    ax.legend(loc="upper right", fontsize=7)


def _plot_phase_map(ax, results: dict, config) -> None:
    """(b) the fastest depth per grid point, and the boundaries N vs N = 1."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    m, s, u0, t_half = results["metrics"], results["s"], results["u0"], results["t_half"]
    depths = list(config.depths)
    colors = [f"C{k}" for k in range(len(depths))]
    fastest = np.argmin(t_half, axis=0)
    ax.pcolormesh(
        u0,
        s,
        fastest,
        cmap=ListedColormap(colors),
        vmin=-0.5,
        vmax=len(depths) - 0.5,
        shading="nearest",
        alpha=0.35,
    )
    share = m["fraction_fastest"]
    handles = [
        Patch(color=c, alpha=0.35, label=f"N = {N} fastest ({100 * share[str(N)]:.0f} % of grid)")
        for N, c in zip(depths, colors, strict=True)
    ]
    if "boundary_u0" in m:
        s_fine = np.geomspace(s.min(), s.max(), 200)
        for k, N in enumerate(depths):
            if N == 1:
                continue
            exact = crossover_u0(s_fine, N)
            (line,) = ax.plot(exact, s_fine, "-", lw=1.5, color=colors[k])
            sim = np.array([np.nan if b is None else b for b in m["boundary_u0"][str(N)]])
            ax.plot(sim, s, "o", ms=2.5, mfc="none", color=colors[k])
            handles.append(line)
            line.set_label(f"$t_{{1/2}}$(N = {N}) = $t_{{1/2}}$(N = 1): closed form, o simulated")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(u0.min(), u0.max()),
        ylim=(s.min(), s.max()),
        xlabel="end-to-end initial strength $u_0$ (every depth)",
        ylabel="singular value $s$",
        title="(b) deeper is faster only right of its line: large $u_0$ and $s$",
    )
    ax.grid(False)
    ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.8, frameon=True)


def _plot_rows(ax, results: dict, config) -> None:
    """(c) rows of the grid: where the depths cross."""
    s, u0, t_half = results["s"], results["u0"], results["t_half"]
    depths = list(config.depths)
    colors = [f"C{k}" for k in range(len(depths))]
    rows = sorted({0, len(s) // 2, len(s) - 1})
    styles = ["--", "-.", "-"]
    for row, ls in zip(rows, styles[-len(rows) :], strict=True):
        for k in range(len(depths)):
            ax.plot(u0, t_half[k, row], ls, color=colors[k], lw=1.2)
        ax.plot([], [], ls, color="0.3", label=f"s = {s[row]:.3g}")
    for k, N in enumerate(depths):
        ax.plot([], [], "-", color=colors[k], lw=3, label=f"N = {N}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="end-to-end initial strength $u_0$",
        ylabel=r"half-way time $t_{1/2}$ (units of $\tau$)",
        title="(c) along rows of (b): depth costs at small $u_0$ and small $s$",
    )
    ax.legend(ncol=2, fontsize=7, loc="upper right")


def _plot_errors(ax, results: dict) -> None:
    """(d) the simulation against the closed forms: the largest relative error over N."""
    from matplotlib.colors import LogNorm

    m, s, u0 = results["metrics"], results["s"], results["u0"]
    worst = np.max(results["rel_error"], axis=0)
    mesh = ax.pcolormesh(
        u0, s, np.maximum(worst, 1e-17), norm=LogNorm(), cmap="magma", shading="nearest"
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="end-to-end initial strength $u_0$",
        ylabel="singular value $s$",
        title=f"(d) event-located solves vs closed form: max {m['max_rel_error_vs_theory']:.1e}",
    )
    ax.grid(False)
    ax.figure.colorbar(mesh, ax=ax, label="relative error of $t_{1/2}$ (max over N)")


def plot(results: dict, config):
    from dynlearn.plotting import figure

    fig, axes = figure(2, 2, width=5.2, height=4.0)
    (ax_col, ax_map), (ax_cut, ax_err) = axes
    _plot_collapse(ax_col, results, config)
    _plot_phase_map(ax_map, results, config)
    _plot_rows(ax_cut, results, config)
    _plot_errors(ax_err, results)
    fig.suptitle(
        "Half-way time of one mode, $\\tau\\,du/dt = N u^{2-2/N}(s-u)$, same end-to-end $u_0$: "
        "depth N beats N = 1 only above a start $u_0^*(s)$, never for small s",
        fontsize=10,
    )
    return fig


scenario = Scenario(
    name="depth-phase-diagram",
    description="Which depth learns a mode first: half-way times over singular value x initial "
    "strength for depths 1-4 collapse onto one curve per depth; the boundary where deeper wins",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    # no crossing inside the grid at that s (shallow wins along the whole row): null
    nullable=("boundary_u0", "boundary_u0_closed_form", "max_rel_error_boundary"),
)

if __name__ == "__main__":
    scenario.main()
