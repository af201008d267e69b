"""One target learned by linear networks of depth N = 1, 2, 3, 4 side by side.

N is the number of weight matrices (N = 1 shallow, N = 2 one hidden layer). Each network
follows the gradient flow of 1/2 E||y - W_N ... W_1 x||^2 with Sigma_x = I,

    tau dW_i/dt = W_{>i}^T (Sigma_yx - W) W_{<i}^T        (dynlearn.rules.linear),

from the same small decoupled start: balanced, aligned with the SVD modes of Sigma_yx, the
end-to-end strength of every mode equal to u0 (each factor carries u0^{1/N}). Each mode
strength u_r = u_r^T W v_r then follows the balanced-mode ODE (Saxe et al. 2014;
Arora et al. 2019, Theorem 3 with l = 1/2||W - S||^2)

    tau du/dt = N (u^2)^{1 - 1/N} (s - u),

closed form for N = 1, 2 and integrated by scipy for N >= 3 (dashed in the figure). From a
small u0 the growth rate N u^{2-2/N} s is smaller the deeper the net, so deeper nets wait
longer and then switch more abruptly: later, sharper, stage-like transitions.

Target (`target`): "semantic" (the 4-item data of saxe-semantic, modes in its interpretable
basis), "random-rank-K" (a (K+3) x (K+2) matrix U diag(s) V^T with random orthonormal U, V
from `seed` and s_r = 3 / 2^{r-1}), or a path to a .npy file holding any 2-D Sigma_yx (its
modes from numpy's SVD; with repeated singular values the basis is numpy's, and the start is
built in that same basis, so the measured mode strengths still follow the theory).

Metrics per depth (keys "1", "2", ...): `t_half` (first time u_r reaches s_r/2, from the
simulation, linearly interpolated) and `t_half_theory` (tau int_{u0}^{s/2} du /
(N (u^2)^{1-1/N} (s - u)), elementary for every N: ``t_half_balanced``); `transition_width`
t(0.9 s) - t(0.1 s) and `relative_width` (width / t_half: smaller = sharper);
`max_rel_error_vs_theory` over the whole curve.

Not a ``dynlearn.sweep``: each depth is a single solve (one start), and the depths differ in
pytree structure (N factor matrices), so there is no member axis; ``depth-phase-diagram``
sweeps grids of (s, u0) per depth.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np

import dynlearn
from dynlearn.analysis import first_crossing_time, mode_strengths
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    checked_elsewhere,
    nonnegative,
    positive,
    require_finite,
    size,
    tolerance,
)
from dynlearn.data import MODE_NAMES, property_matrix, semantic_modes
from dynlearn.rules.linear import (
    DeepLinearFlow,
    balanced_mode_strength,
    decoupled_init,
    end_to_end,
    t_half_balanced,
)

MAX_RANK = 1000  # random-rank-K: K modes, a (K+3) x (K+2) matrix
BUILT_IN_TARGETS = (
    "semantic",
    f"random-rank-K with K in 1..{MAX_RANK} (e.g. random-rank-3)",
    "path/to/Sigma_yx.npy",
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    # "semantic", "random-rank-K", or a path to a .npy matrix
    target: Annotated[
        str,
        checked_elsewhere(
            "a target of load_target", "nope", "random-rank-0", "random-rank-100000", "/no/x.npy"
        ),
    ] = "semantic"
    depths: Annotated[tuple[int, ...], size(max=10)] = (1, 2, 3, 4)
    tau: Annotated[float, positive()] = 1.0
    # end-to-end strength of every mode at t = 0, the same for every depth
    u0: Annotated[float, positive()] = 1e-2
    hidden: Annotated[int, size(min=0, max=4096)] = 0  # hidden width; 0: the number of modes
    # 0: automatic, 1.5 x the slowest theoretical half-way time
    t1: Annotated[float, nonnegative()] = 0.0
    num_saves: Annotated[int, size(min=2, max=100_000)] = 801
    rtol: Annotated[float, tolerance()] = 1e-10
    atol: Annotated[float, positive(max=1.0)] = 1e-12

    def __post_init__(self):
        super().__post_init__()  # the declared ranges (depths, u0, ...)
        target_shape(self.target)  # raises ValueError for an unusable target name or file


QUICK = {"num_saves": 201}


def target_shape(target: str) -> tuple[int, int, int]:
    """(n_out, n_in, at most how many modes) of a target, without building it (a .npy file's
    header only): what the memory estimate needs. ValueError for an unusable target."""
    if target == "semantic":
        Sigma_yx = property_matrix()
        return (*Sigma_yx.shape, min(Sigma_yx.shape))
    if target.startswith("random-rank-"):
        text = target.removeprefix("random-rank-")
        K = int(text) if text.isdigit() else 0
        if not 1 <= K <= MAX_RANK:
            raise ValueError(
                f"target random-rank-K needs an integer K in 1..{MAX_RANK}, got {target!r}"
            )
        return K + 3, K + 2, K
    if target.endswith(".npy"):
        if not Path(target).is_file():
            raise ValueError(f"target file {target!r} does not exist")
        try:
            shape = np.load(target, mmap_mode="r").shape
        except (OSError, ValueError) as err:
            raise ValueError(
                f"target file {target!r} is not a readable .npy array: {err}"
            ) from None
        if len(shape) != 2:
            raise ValueError(f"{target} must hold a 2-D array (Sigma_yx), got shape {shape}")
        return shape[0], shape[1], min(shape)
    raise ValueError(f"unknown target {target!r}; valid: {', '.join(BUILT_IN_TARGETS)}")


def load_target(target: str, seed: int):
    """(Sigma_yx, U, s, V, mode labels) for a target name or .npy path (modes with s > 0)."""
    if target == "semantic":
        U, s, V = semantic_modes()
        return property_matrix(), U, s, V, list(MODE_NAMES)
    if target.startswith("random-rank-"):
        try:
            K = int(target.removeprefix("random-rank-"))
        except ValueError:
            K = 0
        if K < 1:
            raise ValueError(f"target random-rank-K needs a positive integer K, got {target!r}")
        rng = np.random.default_rng(seed)
        U, _ = np.linalg.qr(rng.normal(size=(K + 3, K)))
        V, _ = np.linalg.qr(rng.normal(size=(K + 2, K)))
        s = 3.0 / 2.0 ** np.arange(K)
        return (U * s) @ V.T, U, s, V, [f"mode {r + 1}" for r in range(K)]
    if target.endswith(".npy"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"target file {target!r} does not exist")
        Sigma_yx = np.asarray(np.load(path), dtype=np.float64)
        if Sigma_yx.ndim != 2 or not np.all(np.isfinite(Sigma_yx)):
            raise ValueError(f"{target} must hold a finite 2-D array, got shape {Sigma_yx.shape}")
        U, s, Vt = np.linalg.svd(Sigma_yx, full_matrices=False)
        keep = s > 1e-10 * s[0] if s.size and s[0] > 0 else np.zeros_like(s, dtype=bool)
        if not np.any(keep):
            raise ValueError(f"{target} is the zero matrix: nothing to learn")
        k = int(np.sum(keep))
        return Sigma_yx, U[:, :k], s[:k], Vt[:k].T, [f"mode {r + 1}" for r in range(k)]
    raise ValueError(f"unknown target {target!r}; valid: {', '.join(BUILT_IN_TARGETS)}")


def run(config: Config) -> dict:
    Sigma_yx, U, s, V, labels = load_target(config.target, config.seed)
    k = len(s)
    learnable = s / 2 > config.u0  # modes that start below half their value
    t_half_theory = {
        str(N): np.array(
            [
                t_half_balanced(s_r, config.u0, N, config.tau) if ok else np.nan
                for s_r, ok in zip(s, learnable, strict=True)
            ]
        )
        for N in config.depths
    }
    t1 = (
        config.t1
        if config.t1 > 0
        else 1.5 * float(np.nanmax(np.concatenate(list(t_half_theory.values()))))
    )
    ts = np.linspace(0.0, t1, config.num_saves)
    flow = DeepLinearFlow.from_statistics(Sigma_yx, tau=config.tau)
    hidden = config.hidden if config.hidden > 0 else k

    u_sim, u_theory, metrics = (
        {},
        {},
        {
            key: {}
            for key in ("t_half", "transition_width", "relative_width", "max_rel_error_vs_theory")
        },
    )
    for N in progress(config.depths, desc="depths"):
        Ws = decoupled_init(U, V, config.u0, depth=N, hidden=hidden)
        sol = dynlearn.solve(flow, Ws, t1, saveat=ts, rtol=config.rtol, atol=config.atol)
        u = mode_strengths(np.asarray(end_to_end(sol.ys)), U, V)
        theory = np.stack(
            [balanced_mode_strength(ts, s_r, config.u0, N, config.tau) for s_r in s], axis=1
        )
        key = str(N)
        u_sim[key], u_theory[key] = u, theory
        t_half = np.where(learnable, first_crossing_time(ts, u, s / 2), np.nan)
        width = first_crossing_time(ts, u, 0.9 * s) - first_crossing_time(ts, u, 0.1 * s)
        width = np.where(s / 10 > config.u0, width, np.nan)
        metrics["t_half"][key] = t_half
        metrics["transition_width"][key] = width
        metrics["relative_width"][key] = width / t_half
        metrics["max_rel_error_vs_theory"][key] = float(np.max(np.abs(u - theory) / theory))
    metrics = {
        "target": config.target,
        "singular_values": s,
        "t_half_theory": t_half_theory,
        **metrics,
        "t1": t1,
    }
    return {
        "metrics": metrics,
        "ts": ts,
        "s": s,
        "labels": labels,
        "u_sim": u_sim,
        "u_theory": u_theory,
    }


def plot(results: dict, config):
    from dynlearn.plotting import figure

    ts, s, m = results["ts"], results["s"], results["metrics"]
    depths = [str(N) for N in config.depths]
    n_cols = 3
    n_rows = -(-(len(depths) + 2) // n_cols)
    fig, axes = figure(n_rows, n_cols, width=3.9, height=3.2)
    axes = list(axes.ravel())
    for ax in axes[len(depths) + 2 :]:
        ax.axis("off")
    colors = [f"C{r % 10}" for r in range(len(s))]
    xlabel = "time t / tau" if config.tau == 1 else f"time t (tau = {config.tau:g})"
    for ax, key in zip(axes, depths, strict=False):
        for r in range(len(s)):
            label = f"{results['labels'][r]} (s={s[r]:.3g})"
            ax.plot(
                ts, results["u_sim"][key][:, r], color=colors[r], lw=2.6, alpha=0.6, label=label
            )
            ax.plot(ts, results["u_theory"][key][:, r], color="k", ls="--", lw=0.9)
            th = m["t_half"][key][r]
            if np.isfinite(th):
                ax.plot(th, s[r] / 2, "o", color=colors[r], ms=3.5)
        n_hidden = int(key) - 1
        name = "shallow" if n_hidden == 0 else f"{n_hidden} hidden layer" + "s" * (n_hidden > 1)
        ax.set_title(f"N = {key} weight matri{'x' if key == '1' else 'ces'} ({name})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mode strength $u_r^T W v_r$")
    axes[0].plot([], [], "k--", lw=0.9, label="balanced-mode theory")
    axes[0].plot([], [], "ko", ms=3.5, label="half-way time")
    axes[0].legend(handles=axes[0].get_lines()[-2:], loc="lower right", fontsize=7)
    x = [int(d) for d in depths]
    ax_t, ax_w = axes[len(depths)], axes[len(depths) + 1]
    for r in range(len(s)):
        label = f"{results['labels'][r]} (s={s[r]:.3g})"
        ax_t.plot(
            x, [m["t_half"][d][r] for d in depths], "o-", color=colors[r], lw=1.5, label=label
        )
        ax_t.plot(x, [m["t_half_theory"][d][r] for d in depths], "kx", ms=6)
        ax_w.plot(x, [m["relative_width"][d][r] for d in depths], "o-", color=colors[r], lw=1.5)
    ax_t.plot([], [], "ko-", label="simulated")
    ax_t.plot([], [], "kx", label="theory (closed form)")
    ax_t.legend(fontsize=7)
    ax_t.set_ylabel("half-way time $t_{1/2}$")
    ax_t.set_title(f"same start $u_0$ = {config.u0:g}: deeper is later")
    ax_w.set_ylabel("$(t_{0.9s} - t_{0.1s}) / t_{1/2}$")
    ax_w.set_title("deeper is sharper (relative transition width)")
    for ax in (ax_t, ax_w):
        ax.set_xticks(x)
        ax.set_xlabel("depth N (weight matrices)")
    fig.suptitle(f"target: {config.target}", fontsize=10)
    return fig


def check(config: Config) -> list[str]:
    """A hidden width, when given, must hold every mode of the target; the automatic t1 must
    exist (some mode must start below half its singular value) and be finite."""
    s = load_target(config.target, config.seed)[2]
    k = len(s)
    if 0 < config.hidden < k:
        raise ValueError(f"hidden={config.hidden} must be 0 or >= the {k} modes of the target")
    if config.t1 == 0:
        if not np.any(s / 2 > config.u0):
            raise ValueError(
                f"u0={config.u0:g} is at or above half of every singular value of the target "
                f"(largest s/2 = {s[0] / 2:g}): no mode has a half-way time, so t1=0 "
                "(automatic) has nothing to go by; lower u0, or give t1"
            )
        with np.errstate(all="ignore"):  # an overflow is reported below, as a config error
            slowest = max(
                t_half_balanced(s_r, config.u0, N, config.tau)
                for s_r in s[s / 2 > config.u0]
                for N in config.depths
            )
        require_finite(1.5 * slowest, "the automatic t1 (1.5 x the slowest t_half)", "u0, tau")
        if 1.5 * slowest > MAX_T1_OVER_TAU * config.tau:
            raise ValueError(
                f"u0={config.u0:g}: the slowest mode would reach half strength only at "
                f"t = {slowest:.3g} (the plateau of a deep net lasts about u0^(2/N - 1)); the "
                f"automatic t1 must stay below {MAX_T1_OVER_TAU:g} tau: raise u0, or give t1"
            )
    return []


# The automatic t1 (1.5 x the slowest half-way time) in units of tau, at most: beyond it the
# plateau is the whole run (u0 near the smallest float gives t_half ~ 1e150 for N = 4).
MAX_T1_OVER_TAU = 1e6


def memory(config: Config) -> dict[str, float]:
    """The saved factors of the deepest net (a solve saves every factor at every saved time)."""
    n_out, n_in, k = target_shape(config.target)
    h = config.hidden or k
    N = max(config.depths)
    factors = n_in * n_out if N == 1 else h * (n_in + n_out) + (N - 2) * h * h
    return {
        "the saved factors (num_saves x the factors of max(depths), hidden)": config.num_saves
        * factors,
        "the saved mode strengths (num_saves x modes x depths)": config.num_saves
        * k
        * len(config.depths)
        * 3,
        "the target and its modes (random-rank-K: K^2)": 3 * n_out * n_in,
    }


scenario = Scenario(
    name="depth-comparison",
    description="Linear nets of depth N = 1..4 learning one target (built-in or a .npy "
    "Sigma_yx): mode strengths vs the balanced-mode theory",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    # a mode that starts above half its value, or does not reach it by t1, has no times
    nullable=("t_half", "t_half_theory", "transition_width", "relative_width"),
)

if __name__ == "__main__":
    scenario.main()
