"""A deep linear network learns an image one singular mode at a time (Saxe et al. 2014).

Target: the "cameraman" image (skimage.data.camera(), 512x512, pixels scaled to [0, 1])
block-averaged to `size` x `size`, used as Sigma_yx = A with Sigma_x = I, so the loss
1/2 ||A - W2 W1||_F^2 is minimised by W = A.

Low-rank view: the truncated SVD A_k = U_k diag(s_1..s_k) V_k^T at rank k has relative
Frobenius error ||A - A_k||_F / ||A||_F (Eckart-Young: sqrt(sum_{r>k} s_r^2 / sum_r s_r^2));
`relative_error_by_rank` is measured from the reconstructions themselves.

Learning: gradient flow of N = 2 weight matrices with `hidden` = size units,
    tau dW1/dt = W2^T (A - W2 W1),  tau dW2/dt = (A - W2 W1) W1^T,
from a small start. Mode r has strength u_r = u_r^T W v_r and, from a decoupled start
u_r(0) = u0, follows u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0): mode r is learned
around t_half = tau/(2 s_r) ln(s_r/u0 - 1), so modes appear one at a time, largest first.

init = "random" (default): W1, W2 with i.i.d. N(0, scale^2) entries. Theory for this start
(an approximation derived for this scenario): with a = W1 v_r and b = W2^T u_r, ignoring the
coupling between modes, tau da/dt = b (s - a.b), tau db/dt = a (s - a.b), so p = a + b obeys
tau dp/dt = p (s - u) and a - b decays; once they align, u = a.b ~ |p|^2/4 follows the N = 2
logistic from u0_eff = |W1(0) v_r + W2(0)^T u_r|^2 / 4 (about hidden * scale^2 / 2;
``dynlearn.analysis.modes.effective_mode_strength``, tested there against closed forms).
init = "decoupled": the balanced aligned start with every u_r(0) = u0 (closed form exact).

Figure: the image and its truncated SVDs at ranks 5, 15, 25 (the reference ranks); snapshots
of the learned W2 W1 over time; the learned mode strengths over time with the target
singular values as lines and the theory dashed; relative error against rank (truncated
SVD) and the network's error against the number of modes it has learned.
"""

from dataclasses import dataclass
from typing import Annotated

import jax
import numpy as np

import dynlearn
from dynlearn.analysis import effective_mode_strength, first_crossing_time, mode_strengths
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    one_of,
    positive,
    tolerance,
)
from dynlearn.app.scenario import size as array_size  # a Config field is called `size`
from dynlearn.rules.linear import (
    DeepLinearFlow,
    decoupled_init,
    deep_mode_strength,
    end_to_end,
    small_random_init,
    t_half_deep,
)

INITS = ("random", "decoupled")


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    # the 512x512 image is block-averaged to size x size (size divides 512)
    size: Annotated[int, array_size(min=2, max=512)] = 64
    ranks: Annotated[tuple[int, ...], positive()] = (1, 2, 5, 10, 15, 25, 40)
    shown_ranks: Annotated[tuple[int, ...], positive()] = (2, 5, 15, 25, 40)
    tau: Annotated[float, positive()] = 1.0
    init: Annotated[str, one_of(*INITS)] = "random"  # "random" or "decoupled"
    scale: Annotated[float, positive()] = 0.004  # random start: entries N(0, scale^2)
    u0: Annotated[float, positive()] = 1e-3  # decoupled start: every mode strength
    t1: Annotated[float, positive()] = 12.0
    num_saves: Annotated[int, array_size(min=2, max=100_000)] = 601
    n_modes: Annotated[int, positive()] = 10  # modes whose learning times are compared with theory
    snapshot_times: Annotated[tuple[float, ...], positive()] = (0.3, 0.8, 1.6, 3.2, 6.4, 12.0)
    rtol: Annotated[float, tolerance()] = 1e-8
    atol: Annotated[float, positive(max=1.0)] = 1e-10

    def __post_init__(self):
        super().__post_init__()  # the declared ranges; below, those between fields
        if 512 % self.size:
            raise ValueError(f"size must divide 512 (e.g. 32, 64, 128), got {self.size}")
        for key in ("ranks", "shown_ranks"):
            bad = [k for k in getattr(self, key) if not 1 <= k <= self.size]
            if bad:
                raise ValueError(f"{key} must lie in 1..size = 1..{self.size}, got {bad}")
        if not 1 <= self.n_modes <= self.size:
            raise ValueError(f"n_modes must lie in 1..size = 1..{self.size}, got {self.n_modes}")


QUICK = {
    "size": 32,
    "ranks": (1, 2, 5, 10),
    "shown_ranks": (2, 5, 10),
    "t1": 6.0,
    "num_saves": 301,
    "n_modes": 6,
    "snapshot_times": (0.3, 1.0, 3.0, 6.0),
}


def cameraman(size: int) -> np.ndarray:
    """skimage.data.camera() in [0, 1], block-averaged from 512x512 to size x size."""
    from skimage.data import camera
    from skimage.transform import downscale_local_mean

    if size < 2 or 512 % size:
        raise ValueError(f"size must divide 512 (e.g. 32, 64, 128), got {size}")
    image = camera().astype(np.float64) / 255.0
    factor = 512 // size
    return downscale_local_mean(image, (factor, factor))


def truncated_svd(A: np.ndarray, rank: int) -> np.ndarray:
    """A_k = U_k diag(s_1..s_k) V_k^T, the best rank-k approximation (Eckart-Young)."""
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    return (U[:, :rank] * s[:rank]) @ Vt[:rank]


def run(config: Config) -> dict:
    A = cameraman(config.size)
    n = config.size
    U, s, Vt = np.linalg.svd(A)
    V = Vt.T
    norm_A = np.linalg.norm(A)
    reconstructions = {
        k: truncated_svd(A, k) for k in sorted(set(config.ranks + config.shown_ranks))
    }
    relative_error_by_rank = {
        str(k): float(np.linalg.norm(A - reconstructions[k]) / norm_A) for k in config.ranks
    }

    key = jax.random.PRNGKey(config.seed)
    if config.init == "random":
        Ws = small_random_init(key, (n, n, n), config.scale, "normal")
        u0_eff = effective_mode_strength(Ws, U, V)
    else:
        Ws = decoupled_init(U, V, config.u0, depth=2, hidden=n, key=key)
        u0_eff = np.full(n, config.u0)
    ts = np.linspace(0.0, config.t1, config.num_saves)
    ts = np.union1d(ts, [t for t in config.snapshot_times if 0 <= t <= config.t1])
    flow = DeepLinearFlow.from_statistics(A, tau=config.tau)
    sol = dynlearn.solve(flow, Ws, config.t1, saveat=ts, rtol=config.rtol, atol=config.atol)
    W_t = np.asarray(end_to_end(sol.ys))
    u = mode_strengths(W_t, U, V)

    k = config.n_modes
    t_half_sim = first_crossing_time(ts, u[:, :k], s[:k] / 2)
    t_half_th = t_half_deep(s[:k], u0_eff[:k], config.tau)
    network_error = np.linalg.norm(W_t - A, axis=(1, 2)) / norm_A
    # modes that have crossed s_r/2 (tail modes with s_r/2 below their start are not counted)
    modes_learned = np.sum((u >= s / 2) & (u[0] < s / 2), axis=1)
    snap_idx = [int(np.argmin(np.abs(ts - t))) for t in config.snapshot_times]
    snapshots = [(float(ts[j]), W_t[j]) for j in snap_idx]
    metrics = {
        "relative_error_by_rank": relative_error_by_rank,
        "singular_values": s[:k],
        "t_half": t_half_sim,
        "t_half_theory": t_half_th,
        "max_rel_dev_t_half": float(np.nanmax(np.abs(t_half_sim - t_half_th) / t_half_th)),
        "t_half_increasing": bool(np.all(np.diff(t_half_sim) > 0)),
        "u0_effective": u0_eff[:k],
        "snapshot_times": [t for t, _ in snapshots],
        "modes_learned_at_snapshots": modes_learned[snap_idx],
        "network_error_at_snapshots": network_error[snap_idx],
        "final_relative_error": float(network_error[-1]),
    }
    return {
        "metrics": metrics,
        "A": A,
        "s": s,
        "ts": ts,
        "u": u[:, :k],
        "theory": deep_mode_strength(ts[:, None], s[:k], u0_eff[:k], config.tau),
        "reconstructions": {kk: reconstructions[kk] for kk in config.shown_ranks},
        "snapshots": snapshots,
        "network_error": network_error,
        "modes_learned": modes_learned,
        "error_curve": np.sqrt(np.maximum(1.0 - np.cumsum(s**2) / np.sum(s**2), 0.0)),
    }


def plot(results: dict, config):
    import matplotlib.pyplot as plt

    m, A, s = results["metrics"], results["A"], results["s"]
    ts = results["ts"]
    n_snap = len(results["snapshots"])
    n_cols = max(n_snap, len(results["reconstructions"]) + 1)
    fig = plt.figure(figsize=(2.2 * n_cols, 9.0), layout="constrained")
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[1, 1, 1.5])

    axes = top.subplots(1, n_cols)
    images = [(f"target ({A.shape[0]}x{A.shape[1]})", A)] + [
        (f"rank {k}: error {np.linalg.norm(A - Ak) / np.linalg.norm(A):.3f}", Ak)
        for k, Ak in results["reconstructions"].items()
    ]
    for ax, (title, image) in zip(axes, images + [(None, None)] * n_cols, strict=False):
        ax.axis("off")
        if image is not None:
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=9)
    top.suptitle("truncated SVD of the target", fontsize=10)

    axes = middle.subplots(1, n_cols)
    learned = m["modes_learned_at_snapshots"]
    errors = m["network_error_at_snapshots"]
    for j, ax in enumerate(axes):
        ax.axis("off")
        if j < n_snap:
            t, image = results["snapshots"][j]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            word = "mode" if learned[j] == 1 else "modes"
            ax.set_title(f"t = {t:g}: {learned[j]} {word}, error {errors[j]:.3f}", fontsize=8)
    middle.suptitle(f"learned W2 W1 over time (deep linear net, {config.init} start)", fontsize=10)

    ax1, ax3, ax2 = bottom.subplots(1, 3, width_ratios=[1.2, 1.2, 1])
    k = results["u"].shape[1]
    colors = plt.cm.viridis(np.linspace(0, 0.9, k))
    for r in range(k):
        ax1.plot(ts, results["u"][:, r], color=colors[r], lw=1.8, label=f"mode {r + 1}")
        ax1.plot(ts, results["theory"][:, r], color="k", ls="--", lw=0.7)
        ax1.axhline(s[r], color=colors[r], lw=0.6, ls=":")
    ax1.plot([], [], "k--", lw=0.7, label="theory")
    ax1.plot([], [], "k:", lw=0.6, label="target $s_r$")
    ax1.set_yscale("log")
    ax1.set_ylim(1e-4, 2 * s[0])  # early negative projections of a random start are off-scale
    ax1.set_xlabel("time t / tau" if config.tau == 1 else f"time t (tau = {config.tau:g})")
    ax1.set_ylabel("mode strength $u_r^T W v_r$")
    ax1.set_title("learned singular values, targets dotted")
    ax1.legend(ncol=2, fontsize=7, loc="lower right")

    for r in range(k):
        ax3.plot(ts, results["u"][:, r] / s[r], color=colors[r], lw=1.8)
        ax3.plot(ts, results["theory"][:, r] / s[r], color="k", ls="--", lw=0.7)
        ax3.plot(m["t_half"][r], 0.5, "o", color=colors[r], ms=3)
    ax3.set_ylim(-0.05, 1.1)
    ax3.set_xlim(0, min(ts[-1], 2.0 * float(np.nanmax(m["t_half"]))))
    ax3.set_xlabel(ax1.get_xlabel())
    ax3.set_ylabel("fraction learned $u_r / s_r$")
    ax3.set_title("sigmoidal stages (dots: half-way times)")

    ranks = np.arange(1, len(s) + 1)
    ax2.plot(ranks, results["error_curve"], color="C0", lw=1.8, label="truncated SVD, rank k")
    ranks_m = [int(r) for r in m["relative_error_by_rank"]]
    ax2.plot(ranks_m, list(m["relative_error_by_rank"].values()), "o", color="C0", ms=4)
    learned_all = results["modes_learned"]
    ax2.plot(
        np.where(learned_all > 0, learned_all, np.nan),
        results["network_error"],
        color="C3",
        lw=1.2,
        label="network over time\n(vs modes learned)",
    )
    ax2.set_xscale("log")
    ax2.set_xlabel("rank k / number of modes learned")
    ax2.set_ylabel("relative error $||A - W||_F / ||A||_F$")
    ax2.set_title("error against rank")
    ax2.legend(fontsize=7)
    return fig


def memory(config: Config) -> dict[str, float]:
    """The saved trajectory (two size x size factors and their product per saved time), and
    the image's truncated SVDs."""
    saves = config.num_saves + len(config.snapshot_times)
    return {
        "the saved trajectory (3 num_saves size^2)": 3 * saves * config.size**2,
        "the truncated SVDs (ranks + shown_ranks x size^2)": (
            len(config.ranks) + len(config.shown_ranks) + 4
        )
        * config.size**2,
    }


def check(config: Config) -> list[str]:
    late = [t for t in config.snapshot_times if t > config.t1]
    if late:
        raise ValueError(f"snapshot_times must be <= t1={config.t1}, got {late}")
    return []


scenario = Scenario(
    name="saxe-lowrank-image",
    description="Cameraman image: truncated-SVD error by rank, and a deep linear net that "
    "learns its singular modes one at a time",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    # a mode that has not crossed half its value by t1 has no half-way time (random start:
    # nor a theoretical one if its effective start is not positive)
    nullable=("t_half", "t_half_theory"),
)

if __name__ == "__main__":
    scenario.main()
