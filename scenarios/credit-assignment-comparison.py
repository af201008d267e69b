"""Credit assignment without weight transport, compared under one protocol: backprop (BP),
feedback alignment (FA; Lillicrap et al. 2016), direct feedback alignment (DFA; Nøkland 2016),
Kolen-Pollack (KP; Akrout et al. 2019), sign symmetry (after Liao et al. 2016, in two forms:
B = sign(W)^T rescaled by one gain per layer, rms(W), so that ||B|| = ||W|| — Liao et al. had
batch normalisation to absorb the scale instead, which this network lacks — and the unscaled
B = sign(W)^T, the "uniform sign-concordant feedback" without batch norm), node perturbation
(NP), weight perturbation (WP), the forward gradient (Baydin et al. 2022) (docs/references.md
§10-11)
and discriminative predictive coding (PC; Whittington & Bogacz 2017; docs/references.md §9), on the
4-class spiral and on scikit-learn's bundled 8x8 digits.

Protocol, the same for every rule: the same network per data set (spiral 2-32-32-4, digits
64-64-32-10; tanh hidden layers, softmax + cross-entropy, He-normal init), the same epoch
budget, minibatch SGD state <- state - eta (g_hat + lambda W) with the rule's update g_hat in
place of the gradient (the Euler scheme of the rule's flow at dt = eta), the same L2 weight
decay lambda for all (it is also what pulls KP's B to W^T), one noise sample per step for the
perturbation rules (sigma = 1e-3, one-sided). PC (``dynlearn.rules.pc.rule``)
relaxes the hidden states from the feedforward pass for T = 20 Euler steps at gamma = 0.1 with
output clamping beta = 0.1 (the settings of ``pc-train``) and uses dF/dtheta / (beta B) as its
g_hat; with T * gamma = 2 the relaxation is truncated, not at equilibrium, so g_hat is not
backprop's gradient (~42° from it; more steps bring it closer at proportionally more cost): the
PC row is truncated-relaxation PC, not equilibrium PC (``pc-train`` has both). The learning rate
is chosen per rule and data set from the grid ``etas`` (3e-4 ... 3, wide enough that every
rule's choice is interior; backprop on the digits chooses 1) by the mean validation accuracy
at the end of training; a choice at either end of the grid is flagged in
``chosen_eta_on_grid_edge`` and with * in the figure (the optimum may then lie outside). The
test accuracy of that choice is reported as mean and std
over ``num_seeds`` seeds (init, feedback matrices, minibatch order and noise). Each run is
``dynlearn.training.train`` (the rule's direction, SGD at the member's eta, the state kept after
every epoch); each rule and data set is one compiled training program over all (learning rate,
seed) members by one ``dynlearn.sweep``. The measurements are taken after training, at the kept
states: the rule's g_hat in one program per rule and data set, accuracies, loss and angle in one
program per data set shared by all rules (inside the training loop they doubled its program:
``train`` records the initial state outside its loop as well as every epoch inside it).
Spiral: train/validation/test are independent draws of the generator (``spiral_split``: train
from the seed, test from seed + 10_000, validation from seed + 20_000); digits: a stratified
60/15/25 % split.

``angle_to_bp_deg_mean_over_epochs_seeds_datasets``: for each rule, the angle between its
estimate g_hat of the gradient (its update without the weight-decay term, which all rules
share) and backprop's gradient, on the whole training set at the end of every epoch, averaged
over the epochs of training, the seeds and the data sets (at the chosen learning rate): a mean
over the whole run, not the alignment reached at the end. For the forward gradient (grad L . v)
v the cosine is |g . v|/(|g||v|), whose mean over Gaussian v in P dimensions is about sqrt(2 /
(pi P)): the angle sits just below 90 deg (88.7 deg for the spiral net, P = 1284; 89.4 deg for
the digits net, P = 6570). Every rule draws its noise from its own key (the rule's index folded
into the seed's noise key), so WP and the forward gradient are independent experiments; with
shared keys their directions, and at sigma = 1e-3 nearly their steps, would coincide.

Budget: full mode 2.6 minutes on an idle 2-core CPU (153 s, of which 64 s compiling 61
programs: the JSON's ``wall_time_s``, ``compile_seconds``): 20 training programs, each 9
learning rates x 3 seeds, in float64; PC, with 20 relaxation steps per minibatch and per
measurement, is the costliest;
quick mode (spiral only; every rule; 25 epochs; two learning rates, two seeds) about a minute,
mostly compilation. Adding a rule is one entry in RULES: a function
(mlp, key, cfg) -> a credit rule with ``init``/``params``/``direction``
(``dynlearn.rules.credit._base``).

Figure: test accuracy against epoch at each rule's chosen learning rate (mean over seeds), per
data set, and the results table. For orientation, an earlier unpublished run on MNIST
(docs/references.md §11): BP 98.05 %,
DFA 95.49 %, FA 91.99 %, NP 91.52 %, WP 79.81 % (other networks and budgets).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn import sweep, train
from dynlearn.analysis import angle_deg
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    checkpointed_map,
    nonnegative,
    one_of,
    positive,
    require_steps,
    size,
)
from dynlearn.data import load_digits_split, spiral_split
from dynlearn.nn import MLP, Minibatches, add_weight_decay, minibatch_indices
from dynlearn.rules.credit import (
    Backprop,
    ForwardGradient,
    NodePerturbation,
    SignSymmetry,
    WeightPerturbation,
    direct_feedback_alignment,
    feedback_alignment,
    kolen_pollack,
)
from dynlearn.rules.pc import PredictiveCodingRule


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    datasets: Annotated[tuple[str, ...], one_of("spiral", "digits")] = ("spiral", "digits")
    rules: Annotated[tuple[str, ...], one_of(*RULES)] = (
        "bp",
        "fa",
        "dfa",
        "kp",
        "sign_symmetry",
        "sign_symmetry_unscaled",
        "np",
        "wp",
        "forward_gradient",
        "pc",
    )
    etas: Annotated[tuple[float, ...], positive()] = (
        0.0003,
        0.001,
        0.003,
        0.01,
        0.03,
        0.1,
        0.3,
        1.0,
        3.0,
    )
    num_seeds: Annotated[int, size(max=1000)] = 3
    weight_decay: Annotated[float, nonnegative()] = 1e-3
    sigma: Annotated[float, positive()] = 1e-3  # perturbation size of NP and WP
    # PC: Euler relaxation steps per minibatch (as in pc-train)
    pc_T: Annotated[int, nonnegative(max=10_000)] = 20
    pc_gamma: Annotated[float, positive()] = 0.1  # PC: relaxation rate
    # PC: output clamping strength; the update is dF/dtheta / (beta B)
    pc_beta: Annotated[float, positive()] = 0.1
    spiral_hidden: Annotated[tuple[int, ...], size(max=4096)] = (32, 32)
    spiral_epochs: Annotated[int, size(max=100_000)] = 120
    spiral_batch_size: Annotated[int, size(max=400)] = 20
    digits_hidden: Annotated[tuple[int, ...], size(max=4096)] = (64, 32)
    digits_epochs: Annotated[int, size(max=100_000)] = 40
    digits_batch_size: Annotated[int, size(max=1000)] = 32


QUICK = {  # every rule, on the spiral only
    "datasets": ("spiral",),
    "spiral_epochs": 25,
    "etas": (0.01, 0.1),
    "num_seeds": 2,
}

# name -> (mlp, key, cfg) -> rule. One entry per rule; the comparison loops over cfg.rules.
RULES = {
    "bp": lambda mlp, key, cfg: Backprop(mlp, weight_decay=cfg.weight_decay),
    "fa": lambda mlp, key, cfg: feedback_alignment(mlp, key, weight_decay=cfg.weight_decay),
    "dfa": lambda mlp, key, cfg: direct_feedback_alignment(mlp, key, weight_decay=cfg.weight_decay),
    "kp": lambda mlp, key, cfg: kolen_pollack(mlp, key, weight_decay=cfg.weight_decay),
    "sign_symmetry": lambda mlp, key, cfg: SignSymmetry(mlp, weight_decay=cfg.weight_decay),
    "sign_symmetry_unscaled": lambda mlp, key, cfg: SignSymmetry(
        mlp, rescale=False, weight_decay=cfg.weight_decay
    ),
    "np": lambda mlp, key, cfg: NodePerturbation(
        mlp, sigma=cfg.sigma, weight_decay=cfg.weight_decay
    ),
    "wp": lambda mlp, key, cfg: WeightPerturbation(
        mlp, sigma=cfg.sigma, weight_decay=cfg.weight_decay
    ),
    "forward_gradient": lambda mlp, key, cfg: ForwardGradient(mlp, weight_decay=cfg.weight_decay),
    "pc": lambda mlp, key, cfg: PredictiveCodingRule(
        mlp, T=cfg.pc_T, gamma=cfg.pc_gamma, beta=cfg.pc_beta, weight_decay=cfg.weight_decay
    ),
}
LABELS = {
    "bp": "backprop",
    "fa": "FA",
    "dfa": "DFA",
    "kp": "Kolen-Pollack",
    "sign_symmetry": "sign sym. (rms-rescaled)",
    "sign_symmetry_unscaled": "sign sym. (±1, unscaled)",
    "np": "node pert.",
    "wp": "weight pert.",
    "forward_gradient": "forward gradient",
    "pc": "predictive coding",
}


def labels(cfg: Config) -> dict:
    """LABELS, with PC's relaxation budget: T Euler steps at gamma from the feedforward pass."""
    return {**LABELS, "pc": f"PC (truncated, T·γ = {cfg.pc_T * cfg.pc_gamma:g})"}


def load_data(name: str, cfg: Config):
    """(x_train, y_train, x_val, y_val, x_test, y_test) and the network sizes."""
    if name == "spiral":
        data = spiral_split(cfg.seed, n_per_class=100, test_n_per_class=250, val_n_per_class=100)
        return data, (2, *cfg.spiral_hidden, 4), cfg.spiral_epochs, cfg.spiral_batch_size
    if name == "digits":
        s = load_digits_split(seed=cfg.seed, test_fraction=0.25, val_fraction=0.15)
        return tuple(s), (64, *cfg.digits_hidden, 10), cfg.digits_epochs, cfg.digits_batch_size
    raise ValueError(f"unknown data set {name!r}; valid: spiral, digits")


def train_one(rule_name, mlp, cfg, data, batches, eta, key, params0):
    """One run from the initial weights ``params0``: ``train`` with the rule's direction at
    learning rate eta over the minibatch table ``batches``; returns the rule's state before
    training and after every epoch (the measurements are taken afterwards, by ``measure``)."""
    x, y = data[0], data[1]
    _, k_rule, k_noise = _member_keys(rule_name, key)
    rule = RULES[rule_name](mlp, k_rule, cfg)
    steps_per_epoch = x.shape[0] // batches.shape[1]
    schedule = Minibatches(x, y, batches, eta=eta, key=k_noise)
    state = rule.init(params0)
    run = train(rule, state, schedule, record=_identity, record_every=steps_per_epoch)
    return run.records


def _identity(state):
    return state


def _member_keys(rule_name, key):
    """(init, rule, noise) keys of a member; each rule draws its own noise: WP and the forward
    gradient would otherwise share their directions (both call sample_noise on the same
    parameter tree) and be one experiment."""
    k_init, k_rule, k_noise = jax.random.split(key, 3)
    return k_init, k_rule, jax.random.fold_in(k_noise, list(RULES).index(rule_name))


@functools.partial(jax.jit, static_argnums=0)
def initial_params(mlp, keys):
    """Every member's initial weights (He normal from its init key): the same for every rule,
    one program per data set."""
    return jax.vmap(lambda k: mlp.init(jax.random.split(jax.random.wrap_key_data(k), 3)[0]))(keys)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def estimates(rule_name, mlp, cfg, x, y, keys, states):
    """The rule's estimate g_hat of grad L on the whole training set (its direction without
    the weight-decay term, which all rules share) at every recorded state: (member, epoch).
    After e epochs the angle's noise is fold_in(k_noise, -e) (step n's is fold_in(k_noise, n);
    before training both are fold_in(k_noise, 0)). One program per rule and data set; the
    (member, epoch) pairs run one after another (``lax.map``): vmapped, every pair's
    full-data activations are live at once and the program waits on memory (2.6x slower)."""

    def member(key_data, member_states):
        _, k_rule, k_noise = _member_keys(rule_name, jax.random.wrap_key_data(key_data))
        rule = RULES[rule_name](mlp, k_rule, cfg)

        def at_epoch(state, e):
            params = rule.params(state)
            d = rule.params(rule.direction(state, x, y, jax.random.fold_in(k_noise, -e)))
            return add_weight_decay(d, params, -cfg.weight_decay), params

        epochs = jnp.arange(jax.tree.leaves(member_states)[0].shape[0], dtype=jnp.int32)
        return jax.lax.map(lambda a: at_epoch(*a), (member_states, epochs))

    return jax.lax.map(lambda a: member(*a), (keys, states))


@functools.partial(jax.jit, static_argnums=0)
def measure(mlp, data, params, g_hat):
    """Test and validation accuracy, training loss and the angle between g_hat and backprop's
    gradient at every (member, epoch): rule-independent, one program per data set, the pairs
    one after another (``lax.map``, as in ``estimates``)."""
    x, y, xv, yv, xt, yt = data

    def one(params, g_hat):
        return {
            "test_acc": mlp.accuracy(params, xt, yt),
            "val_acc": mlp.accuracy(params, xv, yv),
            "train_loss": mlp.loss_value(params, x, y),
            "angle": angle_deg(g_hat, mlp.grad(params, x, y)),
        }

    return jax.lax.map(lambda a: jax.lax.map(lambda b: one(*b), a), (params, g_hat))


def run(cfg: Config) -> dict:
    unknown = [r for r in cfg.rules if r not in RULES]
    if unknown:
        raise ValueError(f"unknown rules {unknown}; valid: {', '.join(RULES)}")
    seeds = jax.random.key_data(jax.random.split(jax.random.key(cfg.seed), cfg.num_seeds))
    jobs = [(d, r) for d in cfg.datasets for r in cfg.rules]

    def job(ds_rule):
        ds, rule_name = ds_rule
        data, sizes, epochs, batch_size = load_data(ds, cfg)
        data = tuple(np.asarray(a) for a in data)
        mlp = MLP(sizes, ("tanh",) * (len(sizes) - 2) + ("softmax",), "softmax_cross_entropy")
        n = data[0].shape[0]
        batches = np.stack(
            [minibatch_indices(cfg.seed + s, n, batch_size, epochs) for s in range(cfg.num_seeds)]
        )
        # the (eta, seed) members, eta-major, as one compiled sweep per rule and data set
        n_eta, n_seed = len(cfg.etas), cfg.num_seeds
        members = {
            "key": np.tile(np.asarray(seeds), (n_eta, 1)),
            "batches": np.tile(batches, (n_eta, 1, 1)),
            "eta": np.repeat(np.asarray(cfg.etas, dtype=float), n_seed),
        }

        members["params"] = initial_params(mlp, members["key"])

        def member(m, rule_name=rule_name, mlp=mlp, data=data):
            key = jax.random.wrap_key_data(m["key"])
            return train_one(rule_name, mlp, cfg, data, m["batches"], m["eta"], key, m["params"])

        states = sweep(member, members)
        # the measurements at every recorded state, outside the training loop: the rule's
        # g_hat (a program per rule), then accuracies, loss and angle (one per data set)
        g_hat, params = estimates(rule_name, mlp, cfg, data[0], data[1], members["key"], states)
        recs = measure(mlp, data, params, g_hat)
        return {  # (eta, seed, epoch + 1)
            k: np.asarray(r).reshape(n_eta, n_seed, *r.shape[1:]) for k, r in recs.items()
        }

    # one compiled program per rule and data set, checkpointed: `--resume` continues there
    out = {}
    results = checkpointed_map(job, progress(jobs, desc="rules x data sets"))
    for (ds, rule_name), recs in zip(jobs, results, strict=True):
        out.setdefault(ds, {})[rule_name] = recs

    test_acc, test_std, best_eta, on_edge, curves, angles = {}, {}, {}, {}, {}, {}
    for ds in cfg.datasets:
        test_acc[ds], test_std[ds], best_eta[ds], on_edge[ds], curves[ds] = {}, {}, {}, {}, {}
        for r in cfg.rules:
            rec = out[ds][r]
            val = np.nan_to_num(rec["val_acc"][:, :, -1].mean(axis=1), nan=0.0)
            i = int(np.argmax(val))
            test_acc[ds][r] = float(rec["test_acc"][i, :, -1].mean())
            test_std[ds][r] = float(rec["test_acc"][i, :, -1].std())
            best_eta[ds][r] = float(cfg.etas[i])
            # a choice at the smallest or largest eta of the grid may not be the optimum
            on_edge[ds][r] = bool(cfg.etas[i] in (min(cfg.etas), max(cfg.etas)))
            curves[ds][r] = rec["test_acc"][i].mean(axis=0)
            angles.setdefault(r, []).append(np.nanmean(rec["angle"][i, :, 1:]))
    metrics = {
        "test_accuracy": test_acc,
        "test_accuracy_std": test_std,
        "angle_to_bp_deg_mean_over_epochs_seeds_datasets": {
            r: float(np.mean(a)) for r, a in angles.items()
        },
        "chosen_eta": best_eta,
        "chosen_eta_on_grid_edge": on_edge,
        "chance_accuracy": {"spiral": 0.25, "digits": 0.1},
    }
    return {"metrics": metrics, "curves": curves}


COLORS = {
    "bp": "black",
    "fa": "tab:blue",
    "dfa": "tab:cyan",
    "kp": "tab:orange",
    "sign_symmetry": "tab:purple",
    "sign_symmetry_unscaled": "tab:pink",
    "np": "tab:green",
    "wp": "tab:olive",
    "forward_gradient": "tab:red",
    "pc": "tab:brown",
}


def plot(results: dict, cfg: Config):
    from dynlearn.plotting import figure

    m, curves = results["metrics"], results["curves"]
    names = labels(cfg)
    fig, axes = figure(1, len(cfg.datasets) + 1, width=4.3, height=3.8)
    for ax, ds in zip(axes[0], cfg.datasets, strict=False):
        for r in cfg.rules:
            c = curves[ds][r]
            ls = "--" if r in ("forward_gradient", "sign_symmetry_unscaled") else "-"
            ax.plot(np.arange(len(c)), 100 * c, ls, color=COLORS.get(r), label=names.get(r, r))
        ax.axhline(100 * m["chance_accuracy"][ds], color="grey", ls=":", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{ds}: mean over {cfg.num_seeds} seeds, tuned learning rate")
        ax.set_ylim(0, 100)
    axes[0, 0].legend(loc="lower right", fontsize=7)
    ax = axes[0, -1]
    ax.axis("off")
    rows = [
        [names.get(r, r)]
        + [
            f"{100 * m['test_accuracy'][ds][r]:.1f} ± {100 * m['test_accuracy_std'][ds][r]:.1f}"
            f" ({m['chosen_eta'][ds][r]:g}{'*' if m['chosen_eta_on_grid_edge'][ds][r] else ''})"
            for ds in cfg.datasets
        ]
        + [f"{m['angle_to_bp_deg_mean_over_epochs_seeds_datasets'][r]:.0f}°"]
        for r in cfg.rules
    ]
    table = ax.table(
        cellText=rows,
        colLabels=["rule", *[f"{ds} test %" for ds in cfg.datasets], "angle"],
        cellLoc="center",
        bbox=[-0.08, 0.24, 1.1, 0.72],
        colWidths=[0.36] + [0.25] * len(cfg.datasets) + [0.14],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    ax.set_title(
        "test accuracy (mean ± std over seeds);\nangle between update and BP gradient\n"
        "(mean over epochs, seeds, data sets)"
    )
    ax.text(
        0.5,
        0.06,
        f"learning rate chosen on the validation split in brackets, from "
        f"{min(cfg.etas):g} ... {max(cfg.etas):g}\n"
        "(* = at the edge of the grid: the optimum may lie outside);\n"
        f"PC: T = {cfg.pc_T} steps at γ = {cfg.pc_gamma:g} from the feedforward pass, "
        "not equilibrium",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=6.5,
    )
    fig.suptitle(
        f"Credit assignment without weight transport: one protocol, {len(cfg.rules)} rules"
    )
    return fig


# (training, validation + test) rows and (inputs, classes) of the two data sets of load_data
DATA_SIZES = {"spiral": ((400, 1400), (2, 4)), "digits": ((1077, 720), (64, 10))}


def _data_plan(cfg: Config, ds: str) -> tuple[tuple[int, ...], int, int]:
    """(layer sizes, epochs, batch size) of data set ``ds``."""
    (n_in, n_out) = DATA_SIZES[ds][1]
    if ds == "spiral":
        return (n_in, *cfg.spiral_hidden, n_out), cfg.spiral_epochs, cfg.spiral_batch_size
    return (n_in, *cfg.digits_hidden, n_out), cfg.digits_epochs, cfg.digits_batch_size


def memory(cfg: Config) -> dict[str, float]:
    """One job (rule x data set) sweeps every (eta, seed) member at once: per member its
    minibatch table, its parameters (and feedback matrices), and the activations of the
    full-data pass of each record."""
    members = len(cfg.etas) * cfg.num_seeds
    terms = {}
    for ds in cfg.datasets:
        sizes, epochs, batch_size = _data_plan(cfg, ds)
        (n, n_other) = DATA_SIZES[ds][0]
        params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        terms[f"the {ds} members' minibatch tables (etas x num_seeds x {ds}_epochs)"] = (
            members * epochs * n
        )
        terms[f"the {ds} members' parameters and feedback (etas x num_seeds x {ds}_hidden^2)"] = (
            members * 4 * params
        )
        terms[f"the {ds} members' activations (etas x num_seeds x {ds}_hidden)"] = (
            members * 2 * (n + n_other) * sum(sizes)
        )
        terms[f"the {ds} members' minibatches (etas x num_seeds x {ds}_batch_size)"] = (
            members * 4 * batch_size * sum(sizes)
        )
    return terms


def check(cfg: Config) -> list[str]:
    """The SGD steps of a member within the budget. PC with T = 0 relaxation steps is legal
    (the update is then the feedforward one) but unusual: say so."""
    for ds in cfg.datasets:
        _, epochs, batch_size = _data_plan(cfg, ds)
        require_steps(
            epochs * (DATA_SIZES[ds][0][0] // batch_size),
            f"the SGD steps of a {ds} member",
            f"{ds}_epochs, {ds}_batch_size",
        )
    if "pc" in cfg.rules and cfg.pc_T == 0:
        return [
            "pc_T=0: PC takes no relaxation step; its update is computed at the feedforward states"
        ]
    return []


scenario = Scenario(
    name="credit-assignment-comparison",
    description="BP, FA, DFA, KP, sign symmetry (rescaled, unscaled), NP, WP, forward gradient, "
    "truncated PC on spiral, digits",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
)

if __name__ == "__main__":
    scenario.main()
