"""Feedback alignment learns to learn: the angle between FA's update and backprop's, and between
the feedback B and W^T, over training (Lillicrap, Cownden, Tweed & Akerman 2016, Fig. 2), for
feedback alignment (B fixed) and Kolen-Pollack (B learns; Akrout et al. 2019).

Task (after Lillicrap et al.): inputs x ~ N(0, I_30), targets y = T x with T a fixed random
linear map (10 x 30, entries N(0, 1/30)); student 30-20-10, tanh hidden layer, linear output,
MSE, small initial weights (He-normal times ``init_scale``), minibatch SGD at eta
(``dynlearn.training.train``, recording every ``record_every`` steps). The hidden
layer's update is delta_1 z_1^T with delta_1 = (B delta_2) * f'(a_1) (FA, KP) or
(W_2^T delta_2) * f'(a_1) (BP); "update angle" = angle between the FA/KP and the BP hidden-layer
weight update on the whole training set (docs/references.md §10). KP's flow dB/dt = -(delta_2
z_2^T)^T
- lambda B makes B - W_2^T shrink by exactly (1 - eta lambda) per SGD step; the metric
``kp_offset_closed_form_max_rel_error`` checks that along the run.

Figure: (a) update angle against step, (b) angle(B, W_2^T), (c) training loss of BP, FA, KP
(dashed: BP and FA with KP's weight decay); mean over ``num_seeds`` seeds (init, B and
minibatch order; one ``dynlearn.sweep`` per rule), shaded min-max.
Metrics: ``initial_update_angle_deg``, ``mean_update_angle_deg``, ``final_update_angle_deg``,
``final_weight_angle_deg`` (dicts fa/kp, seed means). Losses compare like with like: KP needs
its weight decay lambda (it is what pulls B to W^T), so BP and FA are trained a second time
with the same lambda on W from the same starts: ``final_loss_with_weight_decay`` (bp/fa/kp,
all with lambda = ``weight_decay_kp``) and ``final_loss_without_weight_decay`` (bp/fa),
``kp_offset_closed_form_max_rel_error``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn import sweep, train
from dynlearn.analysis import angle_deg, feedback_angle_deg
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    nonnegative,
    one_of,
    positive,
    require_finite_run,
    require_steps,
    size,
)
from dynlearn.nn import ACTIVATIONS, MLP, Minibatches, minibatch_indices
from dynlearn.rules.credit import (
    Backprop,
    backward_with_feedback,
    feedback_alignment,
    kolen_pollack,
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    n_in: Annotated[int, size(max=4096)] = 30
    hidden: Annotated[int, size(max=4096)] = 20
    n_out: Annotated[int, size(max=4096)] = 10
    activation: Annotated[str, one_of(*ACTIVATIONS)] = "tanh"
    num_examples: Annotated[int, size(max=1_000_000)] = 500
    init_scale: Annotated[float, positive()] = 0.1
    eta: Annotated[float, positive()] = 0.05
    batch_size: Annotated[int, size(max=1_000_000)] = 20
    epochs: Annotated[int, size(max=100_000)] = 80
    weight_decay_kp: Annotated[float, nonnegative()] = 0.05  # lambda of Kolen-Pollack (on W and B)
    record_every: Annotated[int, positive()] = 25  # steps between measurements
    num_seeds: Annotated[int, size(max=1000)] = 5


QUICK = {"epochs": 12, "num_seeds": 2}

RULES = ("bp", "fa", "kp", "bp_decay", "fa_decay")  # *_decay: with KP's weight decay
DECAYED = ("kp", "bp_decay", "fa_decay")
FAMILIES = {"bp": ("bp", "bp_decay"), "fa": ("fa", "fa_decay"), "kp": ("kp",)}  # a program each


def make_task(cfg: Config):
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((cfg.num_examples, cfg.n_in))
    T = rng.standard_normal((cfg.n_out, cfg.n_in)) / np.sqrt(cfg.n_in)
    return jnp.asarray(x), jnp.asarray(x @ T.T)


def _make_rule(mlp: MLP, name: str, key, decay):
    """The rule named ``name`` (bp*, fa*, kp) with feedback drawn from ``key``."""
    if name.startswith("bp"):
        return Backprop(mlp, weight_decay=decay)
    if name.startswith("fa"):
        return feedback_alignment(mlp, key, weight_decay=decay)
    return kolen_pollack(mlp, key, weight_decay=decay)


def _one_seed(cfg: Config, mlp: MLP, x, y, name: str, key, batches, decay) -> dict:
    """One seed of rule ``name`` (init and feedback from ``key``, minibatch order ``batches``)
    trained with weight decay ``decay``: the loss, and for FA and KP the hidden update's angle
    with backprop's, the angle of B with W^T and ||B - W^T||, every ``record_every`` steps."""
    k_init, k_B = jax.random.split(key)
    params0 = jax.tree_util.tree_map(lambda a: cfg.init_scale * a, mlp.init(k_init))
    rule = _make_rule(mlp, name, k_B, decay)
    fixed_B = rule.B if name.startswith("fa") else None

    def record(state):
        params = rule.params(state)
        B = state["B"] if name == "kp" else fixed_B
        out = {"loss": mlp.loss_value(params, x, y)}
        if B is not None:
            g = mlp.grad(params, x, y)
            d = backward_with_feedback(mlp, params, B, x, y)
            out["update_angle"] = angle_deg(d[0]["W"], g[0]["W"])
            out["weight_angle"] = feedback_angle_deg(B, params)
            out["offset_norm"] = jnp.linalg.norm(B[0] - params[1]["W"].T)
        return out

    data = Minibatches(x, y, batches, eta=cfg.eta)
    return train(
        rule, rule.init(params0), data, record=record, record_every=cfg.record_every
    ).records


def _train_all(cfg: Config, mlp: MLP, x, y, batches) -> dict:
    """The records of every rule in RULES, each (seed, record): the seeds (init, feedback
    matrix, minibatch order) of each rule, with and without weight decay (a traced number: one
    structure), as one compiled sweep per rule family."""
    one_seed = functools.partial(_one_seed, cfg, mlp, x, y)
    members = {
        "key": np.asarray(
            jax.random.key_data(jax.random.split(jax.random.key(cfg.seed), cfg.num_seeds))
        ),
        "batches": batches,
    }
    records = {}
    for family, names in FAMILIES.items():
        decays = np.asarray([cfg.weight_decay_kp if n in DECAYED else 0.0 for n in names])

        def variants(m, family=family, decays=decays):
            key = jax.random.wrap_key_data(m["key"])
            if len(decays) == 1:  # a constant, as a single rule has always had it
                return jax.tree.map(
                    lambda a: a[None], one_seed(family, key, m["batches"], float(decays[0]))
                )
            return jax.vmap(lambda d: one_seed(family, key, m["batches"], d))(decays)

        recs = sweep(variants, members)  # (seed, variant, record)
        for i, name in enumerate(names):
            records[name] = {k: np.asarray(r)[:, i] for k, r in recs.items()}
    return records


def _metrics(cfg: Config, records: dict, steps: np.ndarray) -> dict:
    """The angles and losses averaged over seeds, and KP's offset against its closed form."""
    # Kolen-Pollack closed form: ||B - W^T|| after n steps = (1 - eta lambda)^n ||B0 - W0^T||
    off = records["kp"]["offset_norm"]
    predicted = off[:, :1] * (1.0 - cfg.eta * cfg.weight_decay_kp) ** steps[None, :]
    kp_err = float(np.max(np.abs(off / predicted - 1.0)))

    return {
        "initial_update_angle_deg": {
            r: float(records[r]["update_angle"][:, 0].mean()) for r in ("fa", "kp")
        },
        "mean_update_angle_deg": {
            r: float(records[r]["update_angle"][:, 1:].mean()) for r in ("fa", "kp")
        },
        "final_update_angle_deg": {
            r: float(records[r]["update_angle"][:, -1].mean()) for r in ("fa", "kp")
        },
        "initial_weight_angle_deg": {
            r: float(records[r]["weight_angle"][:, 0].mean()) for r in ("fa", "kp")
        },
        "final_weight_angle_deg": {
            r: float(records[r]["weight_angle"][:, -1].mean()) for r in ("fa", "kp")
        },
        "final_loss_without_weight_decay": {
            r: float(records[r]["loss"][:, -1].mean()) for r in ("bp", "fa")
        },
        "final_loss_with_weight_decay": {
            r: float(records[f"{r}_decay" if r != "kp" else r]["loss"][:, -1].mean())
            for r in ("bp", "fa", "kp")
        },
        "initial_loss": float(records["bp"]["loss"][:, 0].mean()),
        "kp_offset_closed_form_max_rel_error": kp_err,
    }


def run(cfg: Config) -> dict:
    mlp = MLP((cfg.n_in, cfg.hidden, cfg.n_out), (cfg.activation, "identity"), "mse")
    x, y = make_task(cfg)
    steps_per_epoch = cfg.num_examples // cfg.batch_size
    num_steps = cfg.epochs * steps_per_epoch
    if num_steps % cfg.record_every:
        raise ValueError(f"record_every={cfg.record_every} must divide {num_steps} steps")
    batches = np.stack(
        [
            minibatch_indices(cfg.seed + s, cfg.num_examples, cfg.batch_size, cfg.epochs)
            for s in range(cfg.num_seeds)
        ]
    )
    records = _train_all(cfg, mlp, x, y, batches)
    steps = np.arange(num_steps // cfg.record_every + 1) * cfg.record_every
    for name in RULES:  # (records, seeds): the first record where any seed is non-finite
        loss = records[name]["loss"].T
        require_finite_run(loss, f"the training loss of {name}", "eta", index=steps)
    metrics = _metrics(cfg, records, steps)
    return {"metrics": metrics, "steps": steps, "records": records}


COLORS = {"bp": "black", "fa": "tab:blue", "kp": "tab:orange"}
COLORS.update({"bp_decay": "black", "fa_decay": "tab:blue"})
LABELS = {"bp": "backprop", "fa": "feedback alignment", "kp": "Kolen-Pollack"}


def _labels(cfg: Config) -> dict:
    wd = f"weight decay {cfg.weight_decay_kp:g}"
    return {
        **LABELS,
        "kp": f"Kolen-Pollack ({wd})",
        "bp_decay": f"backprop ({wd})",
        "fa_decay": f"FA ({wd})",
    }


def plot(results: dict, cfg: Config):
    from dynlearn.plotting import figure

    steps, rec = results["steps"], results["records"]
    labels = _labels(cfg)
    fig, axes = figure(1, 3, width=4.0, height=3.3)
    panels = [
        ("update_angle", "(a) hidden-layer update vs backprop", "angle (deg)", ("fa", "kp")),
        ("weight_angle", r"(b) feedback $B$ vs $W_2^\top$", "angle (deg)", ("fa", "kp")),
        ("loss", "(c) training loss (MSE)", "loss", RULES),
    ]
    for ax, (key, title, ylabel, rules) in zip(axes[0], panels, strict=True):
        for r in rules:
            v = rec[r][key]
            ls = "--" if r.endswith("_decay") else "-"
            ax.plot(steps, v.mean(0), ls, color=COLORS[r], label=labels[r])
            ax.fill_between(steps, v.min(0), v.max(0), color=COLORS[r], alpha=0.2, lw=0)
        if key != "loss":
            ax.axhline(90.0, color="grey", ls="--", lw=0.8)
            ax.text(
                steps[-1], 91.5, "90° (random)", ha="right", va="bottom", fontsize=7, color="grey"
            )
            ax.set_ylim(0, 100)
        else:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("SGD step")
        ax.set_ylabel(ylabel)
        if key == "loss":
            ax.legend(loc="upper right")
        else:
            ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.87))
    fig.suptitle(
        f"Feedback alignment and Kolen-Pollack: {cfg.n_in}-{cfg.hidden}-{cfg.n_out} "
        f"{cfg.activation} "
        f"net on a linear teacher, mean and range over {cfg.num_seeds} seeds"
    )
    return fig


def check(cfg: Config) -> list[str]:
    """Minibatches must fit the data and the recording grid the steps."""
    if cfg.batch_size > cfg.num_examples:
        raise ValueError(f"batch_size={cfg.batch_size} must be <= num_examples={cfg.num_examples}")
    num_steps = cfg.epochs * (cfg.num_examples // cfg.batch_size)
    if num_steps % cfg.record_every:
        raise ValueError(f"record_every={cfg.record_every} must divide {num_steps} steps")
    require_steps(
        len(RULES) * cfg.num_seeds * num_steps,
        "the SGD steps of all rules and seeds",
        "num_seeds, epochs, num_examples, batch_size",
    )
    return []


def memory(cfg: Config) -> dict[str, float]:
    """The minibatch tables, the data and its activations, the parameters and the records."""
    params = cfg.hidden * (cfg.n_in + cfg.n_out + 1) + cfg.n_out
    records = cfg.epochs * (cfg.num_examples // cfg.batch_size) // cfg.record_every + 1
    return {
        "the minibatch tables (num_seeds x epochs x num_examples)": cfg.num_seeds
        * cfg.epochs
        * cfg.num_examples,
        "the data and its activations (num_examples x (n_in + hidden + n_out))": 4
        * cfg.num_examples
        * (cfg.n_in + cfg.hidden + cfg.n_out),
        "a minibatch's activations (batch_size x (n_in + hidden + n_out))": 4
        * cfg.batch_size
        * (cfg.n_in + cfg.hidden + cfg.n_out),
        "the parameters and feedback (num_seeds x n_in x hidden x n_out)": 4
        * cfg.num_seeds
        * params,
        "the records (rules x num_seeds x epochs x num_examples / batch_size / record_every)": 4
        * len(RULES)
        * cfg.num_seeds
        * records,
    }


scenario = Scenario(
    name="fa-alignment",
    description="FA and Kolen-Pollack: update angle to backprop and angle(B, W^T) over training",
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
