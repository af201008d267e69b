"""The 4-class spiral learned by backprop: the classic first task (docs/references.md §12).

Data: for class k and radii r on a grid in [0, 1], theta = pi r and
x = r [cos phi, sin phi] with phi = theta + delta_theta + 2 pi k / K, delta_theta ~ N(0, 0.2^2)
(``dynlearn.data.spiral``). Network 2-32-4, ReLU hidden layer, softmax output with
cross-entropy, He-normal initialisation. Training is the backprop flow
d theta/dt = -grad L_n(theta) - lambda W (``dynlearn.rules.credit.backprop``) integrated by Euler's
method at dt = eta, i.e. minibatch SGD at learning rate eta = 0.1 with L2 weight decay
lambda = 1e-4 on the weights and batch 10, reshuffled each epoch. It runs as the training loop
``dynlearn.training.train`` (Backprop's direction, SGD at eta); the first epoch is also
integrated with ``dynlearn.solve(..., "euler", dt=eta)`` and the metric
``euler_vs_sgd_max_abs_diff`` records that both give the same parameters.

The test set is fresh points from the same generator with another seed (``spiral_split``:
seed + 10_000).
Figure: the decision regions of the trained network over the training (dots) and test
(crosses) points; the train and test loss per epoch; train and test accuracy per epoch.
Metrics: ``train_accuracy``, ``test_accuracy`` (full run: >= 0.97), final losses; over the
seeds ``test_accuracy_per_seed`` and its mean, min, max and ``test_accuracy_std_sample`` (the
sample standard deviation, ddof = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

import dynlearn
from dynlearn import train
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    in_range,
    nonnegative,
    one_of,
    positive,
    require_finite_run,
    require_steps,
    size,
)
from dynlearn.data import spiral_split
from dynlearn.nn import INITIALISERS, MLP, Minibatches, minibatch_indices
from dynlearn.rules.credit import Backprop

GRID_SPAN, GRID_POINTS = 1.15, 300  # decision-region grid over [-span, span]^2


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    num_classes: Annotated[int, in_range(2, 100)] = 4
    n_per_class: Annotated[int, size(max=100_000)] = 100
    test_n_per_class: Annotated[int, size(max=100_000)] = 250
    noise: Annotated[float, nonnegative()] = 0.2
    hidden: Annotated[int, size(max=4096)] = 32
    eta: Annotated[float, positive()] = 0.1
    weight_decay: Annotated[float, nonnegative()] = 1e-4
    batch_size: Annotated[int, size(max=10_000_000)] = 10
    epochs: Annotated[int, size(max=100_000)] = 1000
    init: Annotated[str, one_of(*INITIALISERS)] = "he_normal"
    # repeats with seeds seed, seed+1, ... (new data, init and shuffles)
    num_seeds: Annotated[int, size(max=1000)] = 5


QUICK = {"epochs": 150, "num_seeds": 1}


def _evaluate(mlp: MLP, params, x, y):
    return mlp.loss_value(params, x, y), mlp.accuracy(params, x, y)


def _experiment(mlp: MLP, rule: Backprop, config: Config, m: dict, grid_x):
    """One seed: init, then ``train`` with train/test loss and accuracy after every epoch; the
    class predicted at each grid point at the end; and the parameters after the first epoch
    alone (for the check against ``dynlearn.solve``)."""
    params0 = mlp.init(m["key"], config.init)
    data = Minibatches(m["x"], m["y"], m["batches"], eta=config.eta)
    steps_per_epoch = m["x"].shape[0] // config.batch_size

    def record(params):
        return (
            *_evaluate(mlp, params, m["x"], m["y"]),
            *_evaluate(mlp, params, m["x_test"], m["y_test"]),
        )

    run = train(rule, params0, data, record=record, record_every=steps_per_epoch)
    curves = tuple(r[1:] for r in run.records)  # after each epoch
    regions = jnp.argmax(mlp.predict(run.state, grid_x), -1)
    first_epoch = train(rule, params0, data, num_steps=steps_per_epoch).state
    return params0, first_epoch, curves, regions, run.records[0][0]


def _seed_data(config: Config, seed: int) -> dict:
    """One seed's member of the sweep: its training and test sets, shuffles and init key."""
    x, y, x_test, y_test = spiral_split(
        seed, config.n_per_class, config.test_n_per_class, 0, config.num_classes, config.noise
    )
    return {
        "key": np.asarray(jax.random.PRNGKey(seed)),
        "x": np.asarray(x),
        "y": np.asarray(y),
        "batches": minibatch_indices(seed, x.shape[0], config.batch_size, config.epochs),
        "x_test": np.asarray(x_test),
        "y_test": np.asarray(y_test),
    }


def run(config: Config) -> dict:
    if config.num_seeds < 1:
        raise ValueError(f"num_seeds must be >= 1, got {config.num_seeds}")
    seeds = [config.seed + i for i in range(config.num_seeds)]
    members = [_seed_data(config, s) for s in seeds]
    K = config.num_classes
    mlp = MLP((2, config.hidden, K), ("relu", "softmax"), "softmax_cross_entropy")
    rule = Backprop(mlp, weight_decay=config.weight_decay)
    grid = np.linspace(-GRID_SPAN, GRID_SPAN, GRID_POINTS)
    gx, gy = np.meshgrid(grid, grid)
    grid_x = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], 1))

    def experiment(m):
        return _experiment(mlp, rule, config, m, grid_x)

    # Every seed (new data, init and shuffles) in one compiled sweep.
    params0, first_epoch, curves, regions, initial_loss = dynlearn.sweep(
        experiment, jax.tree.map(lambda *a: np.stack(a), *members)
    )
    train_loss, train_acc, test_loss, test_acc = (np.asarray(c) for c in curves)
    for seed, losses in zip(seeds, train_loss, strict=True):
        epochs = np.arange(1, config.epochs + 1)
        require_finite_run(
            losses, f"the training loss (seed {seed})", "eta", at="epoch", index=epochs
        )
    test_accuracies = [float(a[-1]) for a in test_acc]

    # The figure shows the run with config.seed. The training loop is the Euler scheme of the
    # backprop flow: check it on that seed's first epoch.
    m = members[0]
    steps_per_epoch = m["x"].shape[0] // config.batch_size
    sol = dynlearn.solve(
        rule,
        jax.tree.map(lambda a: a[0], params0),
        t1=steps_per_epoch * config.eta,
        method="euler",
        dt=config.eta,
        args=Minibatches(m["x"], m["y"], jnp.asarray(m["batches"]), eta=config.eta),
    )
    euler_vs_sgd = max(
        float(np.max(np.abs(np.asarray(a)[-1] - np.asarray(b)[0])))
        for a, b in zip(
            jax.tree_util.tree_leaves(sol.ys), jax.tree_util.tree_leaves(first_epoch), strict=True
        )
    )

    metrics = {
        "train_accuracy": float(train_acc[0, -1]),
        "test_accuracy": test_accuracies[0],
        "train_loss": float(train_loss[0, -1]),
        "test_loss": float(test_loss[0, -1]),
        "initial_train_loss": float(initial_loss[0]),
        "euler_vs_sgd_max_abs_diff": euler_vs_sgd,
        "num_steps": int(config.epochs * steps_per_epoch),
        "seeds": seeds,
        "test_accuracy_per_seed": test_accuracies,
        "test_accuracy_mean": float(np.mean(test_accuracies)),
        "test_accuracy_min": float(np.min(test_accuracies)),
        "test_accuracy_max": float(np.max(test_accuracies)),
        # the sample standard deviation over the seeds (ddof = 1; None for a single seed)
        "test_accuracy_std_sample": (
            float(np.std(test_accuracies, ddof=1)) if len(test_accuracies) > 1 else None
        ),
    }
    return {
        "metrics": metrics,
        "x": m["x"],
        "labels": m["y"].argmax(1),
        "x_test": m["x_test"],
        "labels_test": m["y_test"].argmax(1),
        "grid": grid,
        "regions": np.asarray(regions[0]).reshape(gx.shape),
        "train_loss": train_loss[0],
        "test_loss": test_loss[0],
        "train_acc": train_acc[0],
        "test_acc": test_acc[0],
    }


def plot(results: dict, config: Config):
    from matplotlib.colors import ListedColormap

    from dynlearn.plotting import figure

    m = results["metrics"]
    K = config.num_classes
    colors = [f"C{k}" for k in range(K)]
    fig, axes = figure(1, 3, width=4.2, height=3.9)

    ax = axes[0, 0]
    grid = results["grid"]
    ax.contourf(
        grid,
        grid,
        results["regions"],
        levels=np.arange(K + 1) - 0.5,
        cmap=ListedColormap(colors),
        alpha=0.25,
    )
    for k in range(K):
        test = results["x_test"][results["labels_test"] == k]
        ax.scatter(test[:, 0], test[:, 1], marker="x", s=9, lw=0.7, color=colors[k], alpha=0.6)
        train = results["x"][results["labels"] == k]
        ax.scatter(train[:, 0], train[:, 1], s=12, color=colors[k], edgecolors="k", linewidths=0.4)
    ax.scatter([], [], s=12, color="grey", edgecolors="k", linewidths=0.4, label="train")
    ax.scatter([], [], marker="x", s=9, color="grey", label="test")
    ax.set(
        xlim=(grid[0], grid[-1]),
        ylim=(grid[0], grid[-1]),
        aspect="equal",
        xlabel="$x_1$",
        ylabel="$x_2$",
        title=f"Decision regions, {config.hidden} ReLU units",
    )
    ax.legend(loc="lower left", framealpha=0.8, frameon=True)

    epochs = np.arange(1, len(results["train_loss"]) + 1)
    ax = axes[0, 1]
    ax.semilogy(epochs, results["train_loss"], "C0-", label="train")
    ax.semilogy(epochs, results["test_loss"], "C1-", label="test")
    ax.set(
        xlabel="epoch",
        ylabel="cross-entropy (mean over points)",
        title=f"SGD, eta={config.eta:g}, weight decay {config.weight_decay:g}, "
        f"batch {config.batch_size}",
    )
    ax.legend()

    ax = axes[0, 2]
    ax.plot(epochs, results["train_acc"], "C0-", label=f"train (final {m['train_accuracy']:.3f})")
    ax.plot(epochs, results["test_acc"], "C1-", label=f"test (final {m['test_accuracy']:.3f})")
    ax.axhline(1.0 / K, color="grey", ls=":", lw=1, label=f"chance (1/{K})")
    n_seeds = len(m["seeds"])
    title = "Accuracy"
    if n_seeds > 1:
        title += f"; test over {n_seeds} seeds: mean {m['test_accuracy_mean']:.3f}, "
        title += f"min {m['test_accuracy_min']:.3f}"
    ax.set(xlabel="epoch", ylabel="accuracy", title=title, ylim=(0.0, 1.02))
    ax.legend(loc="lower right")
    return fig


def check(config: Config) -> list[str]:
    """A minibatch cannot be larger than the training set."""
    n = config.num_classes * config.n_per_class
    if config.batch_size > n:
        raise ValueError(f"batch_size={config.batch_size} must be <= the {n} training points")
    require_steps(
        config.num_seeds * config.epochs * (n // config.batch_size),
        "the SGD steps of all seeds",
        "num_seeds, epochs, num_classes, n_per_class, batch_size",
    )
    return []


def memory(config: Config) -> dict[str, float]:
    """Per seed (all seeds run in one sweep): the minibatch table, the data, the activations,
    the decision-region grid and the curves."""
    n = config.num_classes * config.n_per_class
    n_test = config.num_classes * config.test_n_per_class
    K, h = config.num_classes, config.hidden
    return {
        "the minibatch tables (num_seeds x epochs x num_classes x n_per_class)": config.num_seeds
        * config.epochs
        * n,
        "the data and its activations (num_seeds x (n_per_class + test_n_per_class) x "
        "num_classes x hidden)": config.num_seeds * (n + n_test) * (h + K + 2),
        "the decision-region grid (num_seeds x 300^2 x hidden)": config.num_seeds
        * GRID_POINTS**2
        * (h + K),
        "a minibatch's activations (batch_size x hidden)": config.batch_size * (h + K) * 4,
        "the parameters and curves (num_seeds x (hidden x num_classes + epochs))": config.num_seeds
        * (4 * (h * (K + 3) + K) + 4 * config.epochs),
    }


scenario = Scenario(
    name="spiral",
    description="4-class spiral, 2-32-4 ReLU/softmax trained by SGD = Euler on the backprop flow",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    stability_keys=("eta",),
    # one seed has no sample standard deviation (ddof = 1): None, not a failed run
    nullable=("test_accuracy_std_sample",),
)

if __name__ == "__main__":
    scenario.main()
