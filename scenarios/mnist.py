"""Backprop classifier on MNIST / Fashion-MNIST IDX files, or on the bundled 8x8 digits.

The textbook task (docs/references.md §12): an MLP 784-128-64-10 with ReLU hidden units and a
softmax output, trained on softmax cross-entropy -sum_k y_k log y_hat_k (mean over the
batch) by the hand-written backward pass (``MLP.backward``, delta_L = y_hat - y) and Adam
with bias correction (``dynlearn.nn.optim.adam``, eta = 1e-3), He-normal init. The reference setup
reports 98.05 % test accuracy on MNIST after 10 epochs at batch 200.

Data (config ``data``, ``data_dir``; ``dynlearn.data.idx``): "auto" uses MNIST IDX files
found in ``data_dir`` or $DYNLEARN_DATA (layout in ``dynlearn.data.idx``) and otherwise
scikit-learn's bundled 8x8 digits (1797 images, stratified 75/25 split), where the network is
64-128-64-10. Nothing is downloaded. ``batch_size`` / ``epochs`` = 0 pick the defaults of the
data set: 200 / 10 on MNIST files (the reference setup), 32 / 100 on the digits (1347 training
images
give 42 steps per epoch at batch 32, 4200 steps in all). On the digits the test loss stops
improving after ~20 epochs while the training loss keeps falling (450 test images, so one
image is 0.0022 of accuracy).

Figure: loss per epoch (test: whole test set after the epoch; train: mean of the epoch's
minibatch losses, epoch 0 the whole training set at init), the test confusion matrix, and the
first layer's weights W_1[j, :] of the 32 hidden units with the largest norms, as images.
Metrics: ``dataset`` (which data were used) and ``image_shape`` (8 x 8 on the digits: the
committed figure is not MNIST, and its title says so), ``test_accuracy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.app.image_data import ImageDataConfig
from dynlearn.app.scenario import Diverged, Scenario, positive, size
from dynlearn.nn import MLP

DEFAULTS = {  # data set -> (batch_size, epochs) when the config says 0
    "digits": (32, 100),
    "mnist": (200, 10),
    "fashion-mnist": (200, 10),
}


@dataclass(frozen=True)
class Config(ImageDataConfig):
    # (ImageDataConfig: seed, data, data_dir, batch_size, epochs, max_train, max_test, eta;
    # batch_size / epochs = 0: DEFAULTS, 200 / 10 on MNIST files, 32 / 100 on the digits)
    hidden: Annotated[tuple[int, ...], size(max=4096)] = (128, 64)
    n_filters: Annotated[int, positive(max=256)] = 32  # first-layer filters shown


QUICK = {"epochs": 30, "max_train": 10_000, "max_test": 2_000}


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """C[i, j] = number of examples of class i predicted as class j."""
    C = np.zeros((k, k), dtype=np.int64)
    np.add.at(C, (labels, predicted), 1)
    return C


@jax.jit(static_argnums=0)
def _evaluate(mlp: MLP, params, x, y, x_test, y_test):
    """(test labels, predicted test labels, training accuracy): the post-processing of the
    device results as one compiled program (op by op, each eager op compiles its own)."""
    predicted = jnp.argmax(mlp.predict(params, x_test), axis=1)
    return jnp.argmax(y_test, axis=1), predicted, mlp.accuracy(params, x, y)


def run(config: Config) -> dict:
    data, batch_size, epochs = config.load(DEFAULTS)
    split = data.split
    x, y = jnp.asarray(split.x_train), jnp.asarray(split.y_train)
    x_test, y_test = jnp.asarray(split.x_test), jnp.asarray(split.y_test)

    sizes = (x.shape[1], *config.hidden, y.shape[1])
    mlp = MLP(sizes, ("relu",) * len(config.hidden) + ("softmax",), "softmax_cross_entropy")
    params = mlp.init(jax.random.PRNGKey(config.seed), "he_normal")
    # learning curves (entry 0 at init; train: the mean of epoch e's minibatch losses)
    curves = config.train(
        mlp, params, x, y, x_test, y_test, batch_size, epochs, f"mnist ({data.name}) epochs"
    )
    params = curves.run.state
    train_loss, test_loss = np.asarray(curves.train_curve), np.asarray(curves.test_curve)

    labels, predicted, train_accuracy = map(
        np.asarray, _evaluate(mlp, params, x, y, x_test, y_test)
    )
    train_accuracy = float(train_accuracy)
    chance = float(np.max(np.mean(np.asarray(y), axis=0)))  # always the most frequent class
    if train_accuracy <= chance:
        raise Diverged(
            f"the training accuracy {train_accuracy:.3f} after {epochs} epochs is no better than "
            f"always answering the most frequent class ({chance:.3f}): the training diverged "
            "or stalled; change eta"
        )
    C = confusion_matrix(labels, predicted, y.shape[1])
    W1 = np.asarray(params[0]["W"])
    strongest = np.argsort(-np.linalg.norm(W1, axis=1))[: config.n_filters]
    metrics = {
        "dataset": data.name,
        "image_shape": list(data.image_shape),  # (8, 8) on the digits, (28, 28) on MNIST files
        "test_accuracy": float(np.mean(labels == predicted)),
        "train_accuracy": train_accuracy,
        "test_loss": float(test_loss[-1]),
        "sizes": list(sizes),
        "n_train": int(len(x)),
        "n_test": int(len(x_test)),
        "batch_size": int(batch_size),
        "epochs": int(epochs),
    }
    return {
        "metrics": metrics,
        "train_loss": train_loss,
        "test_loss": test_loss,
        "confusion": C,
        "filters": W1[strongest],
        "image_shape": data.image_shape,
    }


def mosaic(filters: np.ndarray, shape: tuple[int, int], cols: int = 8) -> np.ndarray:
    """Tile the rows of ``filters`` as images of ``shape``, each divided by its max |w|,
    separated by one blank (NaN) pixel."""
    h, w = shape
    rows = -(-len(filters) // cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k, f in enumerate(filters):
        i, j = divmod(k, cols)
        out[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = f.reshape(shape) / max(
            np.abs(f).max(), 1e-12
        )
    return out


def plot(results: dict, config: Config):
    import matplotlib.pyplot as plt

    from dynlearn.plotting import image_data_label  # (and the house style)

    m = results["metrics"]
    fig = plt.figure(figsize=(15, 4.8), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[2.1, 1.2])
    ax_loss, ax_conf = left.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.1]})
    epochs = np.arange(len(results["train_loss"]))
    ax_loss.plot(epochs, results["train_loss"], "o-", ms=3, label="train (mean over the epoch)")
    ax_loss.plot(epochs, results["test_loss"], "s-", ms=3, label="test")
    ax_loss.set(
        yscale="log",
        xlabel="epoch",
        ylabel="cross-entropy (mean per example)",
        title=f"{'-'.join(map(str, m['sizes']))}, Adam, batch {m['batch_size']}",
    )
    ax_loss.legend()

    C = results["confusion"]
    rates = C / np.maximum(C.sum(axis=1, keepdims=True), 1)
    im = ax_conf.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(C.shape[0]):
        for j in range(C.shape[1]):
            if C[i, j]:
                colour = "white" if rates[i, j] > 0.5 else "black"
                ax_conf.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=6, color=colour)
    ax_conf.set(
        xticks=range(C.shape[1]),
        yticks=range(C.shape[0]),
        xlabel="predicted class",
        ylabel="true class",
        title=f"test confusion matrix: accuracy {m['test_accuracy']:.4f}",
    )
    ax_conf.grid(False)
    left.colorbar(im, ax=ax_conf, shrink=0.8, label="fraction of true class")

    ax = right.subplots()
    ax.imshow(mosaic(results["filters"], results["image_shape"]), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_axis_off()
    ax.set_title(
        "first-layer weights W1[j, :] of the 32 largest-norm units\n"
        "(each scaled to its max |w|; red +, blue -)"
    )
    fig.suptitle(f"Backprop classifier on {image_data_label(m['dataset'], m['image_shape'])}")
    return fig


def check(config: Config) -> list[str]:
    """The data set must be there (an explicit data_dir is never replaced by the digits)."""
    config.check_data()
    if config.n_filters > config.hidden[0]:
        raise ValueError(
            f"n_filters={config.n_filters} must be <= the first hidden width {config.hidden[0]}"
        )
    return []


def memory(config: Config) -> dict[str, float]:
    """The images, the activations and the minibatch table (``ImageDataConfig.memory``);
    reads the data files' headers, which checks them before any work."""
    return config.memory(DEFAULTS, config.hidden)


scenario = Scenario(
    name="mnist",
    description="MLP classifier (ReLU/softmax, Adam) on MNIST/Fashion-MNIST files or 8x8 digits",
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
