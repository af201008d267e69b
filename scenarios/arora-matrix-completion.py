"""Implicit regularisation in deep matrix factorisation (Arora, Cohen, Hu & Luo, NeurIPS 2019).

Ground truth (docs/references.md §6, as the official code): W* = U V^T / sqrt(r) with Gaussian
U, V (n, r), rescaled to Frobenius norm ``norm`` (100 for 100 x 100, rank 5). ``observed``
entries Omega are drawn without replacement. For each depth N the end-to-end matrix
W = W_N ... W_1 (square n x n factors) is trained on

    l(W) = 1/2 sum_{(i,j) in Omega} (W_ij - W*_ij)^2

by gradient descent with step ``eta`` from the small random start of the official code
(layer std = scale^{1/N} / sqrt(n)). Gradient descent is Euler's method for the factorised
gradient flow dW_j/dt = -(W_N ... W_{j+1})^T grad l(W) (W_{j-1} ... W_1)^T
(``dynlearn.rules.linear.flow``), so it runs as
``dynlearn.solve(rule, Ws, t1, method="euler", dt=eta)``: t1 / eta steps, time t = n eta.

By Theorem 3 (``dynlearn.rules.linear.theory``) the singular values move at
dsigma_r/dt = -N (sigma_r^2)^{1-1/N} <grad l, u_r v_r^T>: for N >= 2 the large ones grow
fast and the small ones stay frozen, so the singular values are learned one by one and the
unobserved entries are filled in by a low-rank matrix. N = 1 only fits the observed entries
and leaves the others at their (tiny) start.

Figure: top singular values of W over time, one panel per depth (dotted: those of W*);
effective rank (exp of the entropy of the normalised singular values) and test RMSE (over the
unobserved entries) against depth. Metrics: ``effective_rank`` and ``test_rmse``, each a dict
from depth (as a string) to a number, plus ``train_rmse`` and ``effective_rank_target``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

import dynlearn
from dynlearn.analysis import effective_rank, singular_values
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    checkpointed_map,
    euler_steps,
    positive,
    size,
)
from dynlearn.rules.linear import (
    DeepLinearFlow,
    MatrixCompletionLoss,
    end_to_end,
    small_random_init,
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    n: Annotated[int, size(max=2000)] = 100  # W* is n x n
    rank: Annotated[int, size(max=2000)] = 5
    norm: Annotated[float, positive()] = 100.0  # Frobenius norm of W*
    observed: Annotated[int, size(max=2000**2)] = 2000  # number of observed entries |Omega|
    depths: Annotated[tuple[int, ...], size(max=10)] = (1, 2, 3, 4)
    scale: Annotated[float, positive()] = 1e-3  # layer std = scale^{1/N} / sqrt(n)
    eta: Annotated[float, positive()] = 5e-4  # gradient-descent step = Euler dt
    t1: Annotated[float, positive()] = 10.0  # flow time; t1 / eta steps
    # saved times for the singular-value curves
    num_saves: Annotated[int, size(min=2, max=100_000)] = 101
    top: Annotated[int, positive()] = 8  # singular values plotted per depth


QUICK = {"n": 30, "rank": 2, "norm": 30.0, "observed": 250, "depths": (1, 2, 3), "eta": 5e-3}


def ground_truth(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """W* = U V^T / sqrt(r), rescaled to ||W*||_F = norm, and the 0/1 mask of observed entries."""
    n, r, m = config.n, config.rank, config.observed
    rng = np.random.default_rng(config.seed)
    U = rng.standard_normal((n, r))
    V = rng.standard_normal((n, r))
    W_star = U @ V.T / np.sqrt(r)
    W_star *= config.norm / np.linalg.norm(W_star)
    mask = np.zeros(n * n)
    mask[rng.choice(n * n, size=m, replace=False)] = 1.0
    return W_star, mask.reshape(n, n)


# A step costs N products of n x n matrices (about 1 ms at n = 100, N = 4 on 2 cores): a
# million steps is about an hour per depth.
MAX_STEPS = 10**6


def num_steps_of(config: Config) -> int:
    """t1 / eta, which must be a whole number of gradient-descent steps (at most MAX_STEPS)."""
    return euler_steps(config.t1, config.eta, "t1, eta", max_steps=MAX_STEPS)


def check(config: Config) -> list[str]:
    """Cross-field constraints and the memory of the saved factors, before any work."""
    n = config.n
    if config.rank > n:
        raise ValueError(f"rank must lie in [1, n={n}], got {config.rank}")
    if config.observed >= n * n:
        raise ValueError(f"observed must lie in [1, n*n) = [1, {n * n}), got {config.observed}")
    if config.top > n:
        raise ValueError(f"top must lie in [1, n={n}], got {config.top}")
    num_steps_of(config)
    return []


def memory(config: Config) -> dict[str, float]:
    """The largest arrays: the saved factors and end-to-end matrices of the deepest net."""
    n, saves = config.n, config.num_saves
    return {
        "the saved factors (num_saves x max(depths) x n^2)": saves * max(config.depths) * n * n,
        "the saved end-to-end matrices (num_saves x n^2)": saves * n * n,
        "W*, its factors and the mask (n x rank, n^2, observed)": 2 * n * config.rank
        + 2 * n * n
        + config.observed,
    }


@jax.jit
def _curves(Ws_t):
    """The end-to-end map's singular values at every saved time and its final value, from
    the saved factors: one compiled program per depth (op by op, every eager op compiles)."""
    W_t = jax.vmap(end_to_end)(Ws_t)
    return jax.vmap(singular_values)(W_t), W_t[-1]


_effective_rank = jax.jit(effective_rank)


def run(config: Config) -> dict:
    num_steps = num_steps_of(config)
    W_star, mask = ground_truth(config)
    loss = MatrixCompletionLoss(jnp.asarray(W_star), jnp.asarray(mask))
    rule = DeepLinearFlow(loss)
    save_steps = np.unique(np.linspace(0, num_steps, config.num_saves).round().astype(int))
    ts = save_steps * config.eta
    unobserved = mask == 0

    def fit(N: int):
        """Gradient descent at depth N: the singular values over time and the final W."""
        key = jax.random.PRNGKey(config.seed + 1000 * N)
        sizes = [config.n] * (N + 1)
        Ws = small_random_init(key, sizes, config.scale, "normal", scaling="end_to_end")
        sol = dynlearn.solve(
            rule,
            Ws,
            num_steps * config.eta,
            method="euler",
            dt=config.eta,
            saveat=ts,
            max_steps=num_steps,
        )
        sigmas, W = _curves(sol.ys)
        return np.asarray(sigmas), np.asarray(W)

    # one depth at a time, checkpointed: `--resume` continues an interrupted run
    fits = checkpointed_map(fit, progress(config.depths, desc="depths"))
    sigmas, erank, test_rmse, train_rmse, final_W = {}, {}, {}, {}, {}
    for N, (sigmas[N], W) in zip(config.depths, fits, strict=True):
        err2 = (W - W_star) ** 2
        label = str(N)
        erank[label] = float(_effective_rank(W))
        test_rmse[label] = float(np.sqrt(err2[unobserved].mean()))
        train_rmse[label] = float(np.sqrt(err2[~unobserved].mean()))
        final_W[N] = W

    metrics = {
        "effective_rank": erank,
        "test_rmse": test_rmse,
        "train_rmse": train_rmse,
        "effective_rank_target": float(_effective_rank(W_star)),
        "num_steps": num_steps,
    }
    return {
        "metrics": metrics,
        "ts": ts,
        "sigmas": sigmas,
        "sigma_star": np.linalg.svd(W_star, compute_uv=False),
        "W_star": W_star,
        "mask": mask,
    }


def plot(results: dict, config):
    from dynlearn.plotting import figure

    m = results["metrics"]
    depths = list(config.depths)
    ts, top = results["ts"], config.top
    fig, axes = figure(1, len(depths) + 1, width=3.3, height=3.2)
    sigma_max = max(results["sigma_star"][0], max(s.max() for s in results["sigmas"].values()))
    colors = [f"C{i}" for i in range(10)]
    for ax, N in zip(axes[0, :-1], depths, strict=True):
        for s_star in results["sigma_star"][: config.rank]:
            ax.axhline(s_star, color="0.6", ls=":", lw=0.8)
        for r in range(min(top, results["sigmas"][N].shape[1])):
            ax.plot(ts, results["sigmas"][N][:, r], color=colors[r % 10], lw=1.3)
        ax.set(
            xlabel="time t = step x eta",
            ylim=(0, 1.08 * sigma_max),
            title=f"depth N = {N}: erank {m['effective_rank'][str(N)]:.2f}",
        )
    axes[0, 0].set_ylabel(f"top {top} singular values of W (dotted: W*)")

    ax = axes[0, -1]
    erank = [m["effective_rank"][str(N)] for N in depths]
    rmse = [m["test_rmse"][str(N)] for N in depths]
    ax.plot(depths, erank, "o-", color="C0", label="effective rank")
    ax.axhline(m["effective_rank_target"], color="C0", ls=":", lw=1, label="erank of W*")
    ax.set(xlabel="depth N", ylabel="effective rank", xticks=depths, yscale="log")
    ax.set_title("rank and test error vs depth")
    ax2 = ax.twinx()
    ax2.plot(depths, rmse, "s--", color="C3", label="test RMSE")
    ax2.set_yscale("log")
    ax2.set_ylabel("test RMSE (unobserved entries)", color="C3")
    ax2.grid(False)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right")
    fig.suptitle(
        f"Deep matrix factorisation, {config.n}x{config.n} rank {config.rank}, "
        f"{config.observed} observed entries, GD eta = {config.eta:g} from scale {config.scale:g}"
    )
    return fig


scenario = Scenario(
    name="arora-matrix-completion",
    description=(
        "Matrix completion by deep matrix factorisation (Arora et al. 2019): deeper "
        "factorisations reach lower effective rank and test error"
    ),
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    stability_keys=("eta",),
)

if __name__ == "__main__":
    scenario.main()
