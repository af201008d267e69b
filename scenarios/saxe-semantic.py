"""Deep vs shallow linear networks on the toy semantic data set (Saxe, McClelland & Ganguli).

Data (dynlearn.data.semantic, PNAS 2019 Fig. 3): four items (canary, salmon, oak, rose) as
one-hot inputs, seven properties; statistics as sums over items, so Sigma_x = I and
Sigma_yx is the 7x4 property matrix with singular values sqrt 7, sqrt 3, 1, 1.

Deep net (N = 2 weight matrices, `hidden` units):
    tau dW1/dt = W2^T (Sigma_yx - W2 W1),   tau dW2/dt = (Sigma_yx - W2 W1) W1^T.
Shallow net (N = 1): tau dW/dt = Sigma_yx - W.
Mode strength on mode r: u_r(t) = u_r^T W(t) v_r of the end-to-end map W (W2 W1 or W).

init = "decoupled": the deep net starts balanced and aligned with the modes, every mode at
strength u0 (hidden frame: a random orthonormal one drawn from `seed`), so the closed form
    u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0),  t_half = tau/(2s) ln(s/u0 - 1)
is exact; the shallow net starts at W = 0 (b0 = 0), so b(t) = s (1 - e^{-t/tau}) and every
mode has t_half = tau ln 2. init = "random": a common textbook start, each deep factor
scale * U(0, 1); the shallow net starts from the same end-to-end map W2(0) W1(0). The
shallow closed form stays exact (from the measured b0); the deep one is then only a guide
(the theory time uses the measured initial projection as u0), and max_rel_error_vs_theory
is reported only for the decoupled start.

Repeated singular values (1, 1): the two "individual item" modes are not unique. Mode
strengths are always read in the fixed interpretable basis of
dynlearn.data.semantic.semantic_modes (canary vs salmon, oak vs rose), the same basis the
decoupled start is built in, so projections and closed forms refer to the same modes.

Illusory correlation: "salmon can fly" = W[fly, salmon] = u_1/(4 sqrt 7) + u_2/(4 sqrt 3)
- u_3/2 rises while the coarse modes are learned and the item mode is not, then returns to
the true value 0; the shallow net from W = 0 never predicts it (exactly 0 along its flow).

Figure: the property matrix; mode strengths over time for the deep and the shallow net
(solid: simulation, dashed: closed form, dots: half-way times); salmon-can-fly over time.
"""

from dataclasses import dataclass
from typing import Annotated

import jax
import numpy as np

import dynlearn
from dynlearn.analysis import first_crossing_time, mode_strengths
from dynlearn.app.scenario import Scenario, ScenarioConfig, Seed, one_of, positive, size, tolerance
from dynlearn.data import (
    ITEMS,
    MODE_NAMES,
    PROPERTIES,
    item_index,
    property_index,
    property_matrix,
    semantic_modes,
)
from dynlearn.rules.linear import (
    DeepLinearFlow,
    decoupled_init,
    deep_mode_strength,
    end_to_end,
    shallow_mode_strength,
    small_random_init,
    t_half_deep,
    t_half_shallow,
)

INITS = ("decoupled", "random")


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    tau: Annotated[float, positive()] = 1.0
    u0: Annotated[float, positive()] = 1e-3  # decoupled start: every deep mode strength
    init: Annotated[str, one_of(*INITS)] = "decoupled"  # "decoupled" or "random"
    scale: Annotated[float, positive()] = 1e-2  # random start: each deep factor scale * U(0, 1)
    hidden: Annotated[int, size(min=4, max=4096)] = 16
    t1: Annotated[float, positive()] = 8.0
    num_saves: Annotated[int, size(min=2, max=100_000)] = 801
    rtol: Annotated[float, tolerance()] = 1e-10
    atol: Annotated[float, positive(max=1.0)] = 1e-12

    def __post_init__(self):
        super().__post_init__()  # the declared ranges (hidden >= 4: the number of modes)


QUICK = {"num_saves": 201}


def memory(config: Config) -> dict[str, float]:
    """The deep factors (hidden x the semantic data's items and properties) and the
    end-to-end matrices, deep and shallow, at every saved time."""
    n_out, n_in = property_matrix().shape
    return {
        "the saved trajectories (num_saves x hidden)": config.num_saves
        * (config.hidden * (n_in + n_out) + 3 * n_in * n_out),
    }


def _relative_error(u_sim, u_theory):
    denom = np.where(u_theory == 0, 1.0, np.abs(u_theory))
    return float(np.max(np.abs(u_sim - u_theory) / denom))


def run(config: Config) -> dict:
    Sigma_yx = property_matrix()
    U, s, V = semantic_modes()
    flow = DeepLinearFlow.from_statistics(Sigma_yx, tau=config.tau)
    key = jax.random.PRNGKey(config.seed)
    n_out, n_in = Sigma_yx.shape
    if config.init == "decoupled":
        Ws_deep = decoupled_init(U, V, config.u0, depth=2, hidden=config.hidden, key=key)
        W_shallow = np.zeros((n_out, n_in))
    else:
        Ws_deep = small_random_init(key, (n_in, config.hidden, n_out), config.scale, "uniform")
        W_shallow = np.asarray(end_to_end(Ws_deep))
    ts = np.linspace(0.0, config.t1, config.num_saves)
    options = dict(saveat=ts, method="tsit5", rtol=config.rtol, atol=config.atol)
    deep = dynlearn.solve(flow, Ws_deep, config.t1, **options)
    shallow = dynlearn.solve(flow, [np.asarray(W_shallow)], config.t1, **options)
    W_deep_t = np.asarray(end_to_end(deep.ys))
    W_shallow_t = np.asarray(shallow.ys[0])

    u_deep = mode_strengths(W_deep_t, U, V)  # (T, 4)
    u_shallow = mode_strengths(W_shallow_t, U, V)
    u0_deep, b0_shallow = u_deep[0], u_shallow[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        theory_deep = np.where(
            u0_deep > 0, deep_mode_strength(ts[:, None], s, np.abs(u0_deep), config.tau), np.nan
        )
        t_half_deep_theory = np.where(
            u0_deep > 0, t_half_deep(s, np.abs(u0_deep), config.tau), np.nan
        )
    theory_shallow = shallow_mode_strength(ts[:, None], s, b0_shallow, config.tau)

    fly, salmon = property_index("fly"), item_index("salmon")
    fly_deep, fly_shallow = W_deep_t[:, fly, salmon], W_shallow_t[:, fly, salmon]
    k_peak = int(np.argmax(fly_deep))
    metrics = {
        "singular_values": np.linalg.svd(Sigma_yx, compute_uv=False),
        "t_half_deep": first_crossing_time(ts, u_deep, s / 2),
        "t_half_shallow": first_crossing_time(ts, u_shallow, s / 2),
        "t_half_deep_theory": t_half_deep_theory,
        "t_half_shallow_theory": t_half_shallow(s, b0_shallow, config.tau),
        "shallow_start_b0": b0_shallow,
        "max_rel_error_vs_theory": (
            max(_relative_error(u_deep, theory_deep), _relative_error(u_shallow, theory_shallow))
            if config.init == "decoupled"
            else None
        ),
        "illusory_peak_deep": float(fly_deep[k_peak]),
        "illusory_peak_time_deep": float(ts[k_peak]),
        "illusory_peak_shallow": float(np.max(np.abs(fly_shallow))),
        "final_fly_salmon_deep": float(fly_deep[-1]),
        "num_steps_deep": int(deep.stats["num_steps"]),
    }
    return {
        "metrics": metrics,
        "ts": ts,
        "s": s,
        "u_deep": u_deep,
        "u_shallow": u_shallow,
        "theory_deep": theory_deep,
        "theory_shallow": theory_shallow,
        "fly_deep": fly_deep,
        "fly_shallow": fly_shallow,
        "Sigma_yx": Sigma_yx,
    }


def plot(results: dict, config):
    from dynlearn.plotting import figure

    ts, s, m = results["ts"], results["s"], results["metrics"]
    fig, axes = figure(2, 2, width=4.6, height=3.4)
    ax = axes[0, 0]
    ax.imshow(results["Sigma_yx"], cmap="Greys", vmin=0, vmax=1.6)
    ax.set_xticks(range(len(ITEMS)), ITEMS, rotation=30)
    ax.set_yticks(range(len(PROPERTIES)), PROPERTIES)
    ax.grid(False)
    ax.set_title("data: $\\Sigma_{yx}$ (properties × items)")
    colors = ["C0", "C1", "C2", "C3"]
    labels = [f"{name} (s={v:.3g})" for name, v in zip(MODE_NAMES, s, strict=True)]
    if config.init == "decoupled":
        deep_title = f"deep net (N=2), decoupled start $u_0$={config.u0:g}"
        shallow_title = "shallow net (N=1), start W=0"
    else:
        deep_title = f"deep net (N=2), random start {config.scale:g}·U(0,1)"
        shallow_title = "shallow net (N=1), start W = W2(0)W1(0)"
    panels = [
        (axes[0, 1], "u_deep", "theory_deep", "t_half_deep", deep_title),
        (axes[1, 0], "u_shallow", "theory_shallow", "t_half_shallow", shallow_title),
    ]
    xlabel = "time t / tau" if config.tau == 1 else f"time t (tau = {config.tau:g})"
    for ax, sim, theory, half, title in panels:
        for r in range(len(s)):
            ls = ":" if r == 3 else "-"  # modes 3 and 4 coincide (s = 1, 1)
            ax.plot(
                ts, results[sim][:, r], color=colors[r], ls=ls, lw=3, alpha=0.6, label=labels[r]
            )
            ax.plot(ts, results[theory][:, r], color="k", ls="--", lw=1)
            th = m[half][r]
            if np.isfinite(th):
                ax.plot(th, s[r] / 2, "o", color=colors[r], ms=4)
        ax.plot([], [], "k--", lw=0.8, label="closed form")
        ax.plot([], [], "ko", ms=4, label="half-way time")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mode strength $u_r^T W v_r$")
        ax.set_title(title)
    axes[1, 0].legend(loc="lower right", fontsize=7)  # colours are shared by both panels
    ax = axes[1, 1]
    ax.plot(ts, results["fly_deep"], color="C4", lw=1.8, label="deep (N=2)")
    ax.plot(ts, results["fly_shallow"], color="C5", lw=1.8, ls="--", label="shallow (N=1)")
    ax.plot(m["illusory_peak_time_deep"], m["illusory_peak_deep"], "o", color="C4", ms=4)
    ax.annotate(
        f"peak {m['illusory_peak_deep']:.3f} at t = {m['illusory_peak_time_deep']:.2f}",
        (m["illusory_peak_time_deep"], m["illusory_peak_deep"]),
        textcoords="offset points",
        xytext=(10, 0),
        fontsize=8,
    )
    ax.set_ylim(top=1.25 * max(m["illusory_peak_deep"], 1e-3))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("network output W[fly, salmon]")
    ax.set_title('illusory correlation: "salmon can fly" (true value 0)')
    ax.legend(loc="center right")
    return fig


scenario = Scenario(
    name="saxe-semantic",
    description="Saxe et al.: deep vs shallow linear nets on the 4-item semantic data, "
    "mode-by-mode learning and the salmon-can-fly illusory correlation",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    memory=memory,
    # a mode not at half its value by t1, or (random start) starting at or below zero, has no
    # half-way time; the theory's error is only defined for the decoupled start
    nullable=(
        "t_half_deep",
        "t_half_shallow",
        "t_half_deep_theory",
        "t_half_shallow_theory",
        "max_rel_error_vs_theory",
    ),
)

if __name__ == "__main__":
    scenario.main()
