"""An autoencoder with a 2-D bottleneck, trained by backprop: reconstructions and the latent map.

The textbook autoencoder: 784-128-2-128-784 on MNIST (64-128-2-128-64 on the bundled
8x8 digits), activations tanh / identity / tanh / sigmoid, so the code z = W_2 tanh(W_1 x +
b_1) + b_2 is a linear read-out in R^2 and the reconstruction x_hat lies in [0, 1]^D. The loss
is binary cross-entropy against the input itself (pixels in [0, 1]),
    L = mean_n -sum_i [x_i log x_hat_i + (1 - x_i) log(1 - x_hat_i)],
with the hand-written backward pass (``MLP.backward``, delta_L = x_hat - x) and Adam
(``dynlearn.nn.optim.adam``), Xavier-normal init. Data as in the ``mnist`` scenario
(``data``, ``data_dir``: MNIST IDX files if found, else the digits); ``batch_size`` / ``epochs``
= 0 pick 200 / 20 on MNIST files and 32 / 300 on the digits (12 600 steps).

Metrics on the test set: ``test_bce`` (L above) and ``test_mse`` (mean squared error per pixel,
mean_n mean_i (x_hat_i - x_i)^2); for scale, ``bce_mean_image`` / ``mse_mean_image`` are the
same losses for the trivial model that always outputs the mean training image.

Figure: learning curves (test: whole test set after each epoch; train: mean of the epoch's
minibatch losses); test images (top row) and their reconstructions (bottom row), one
per class; the test codes z in the plane coloured by class; images decoded along the straight
line between the mean codes of two classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.app.image_data import ImageDataConfig
from dynlearn.app.scenario import Scenario, in_range, size
from dynlearn.nn import MLP

DEFAULTS = {  # data set -> (batch_size, epochs) when the config says 0
    "digits": (32, 300),
    "mnist": (200, 20),
    "fashion-mnist": (200, 20),
}


@dataclass(frozen=True)
class Config(ImageDataConfig):
    # (ImageDataConfig: seed, data, data_dir, batch_size, epochs, max_train, max_test, eta;
    # batch_size / epochs = 0: DEFAULTS, 200 / 20 on MNIST files, 32 / 300 on the digits)
    hidden: Annotated[int, size(max=4096)] = 128
    latent: Annotated[int, size(max=4096)] = 2
    # the two classes whose mean codes are joined
    interpolate: Annotated[tuple[int, ...], in_range(0, 9, length=2)] = (0, 1)
    steps: Annotated[int, size(min=2, max=100)] = 10  # images along the interpolation


QUICK = {"epochs": 40, "max_train": 5_000, "max_test": 1_000}


def bce(x_hat: jax.Array, x: jax.Array) -> jax.Array:
    """Per-example -sum_i [x_i log x_hat_i + (1 - x_i) log(1 - x_hat_i)]."""
    x_hat = jnp.clip(x_hat, 1e-12, 1 - 1e-12)
    return -jnp.sum(x * jnp.log(x_hat) + (1 - x) * jnp.log1p(-x_hat), axis=1)


@jax.jit(static_argnums=0)
def _evaluate(mlp: MLP, params, x, x_test) -> dict:
    """The codes and reconstructions of the test images and the loss metrics, as one compiled
    program (op by op, each eager JAX op on the device results compiles its own)."""
    zs = mlp.forward(params, x_test)
    x_hat = zs[-1]
    mean_image = jnp.broadcast_to(jnp.mean(x, axis=0), x_test.shape)
    return {
        "codes": zs[2],
        "x_hat": x_hat,
        "test_bce": jnp.mean(bce(x_hat, x_test)),
        "test_mse": jnp.mean((x_hat - x_test) ** 2),
        "bce_mean_image": jnp.mean(bce(mean_image, x_test)),
        "mse_mean_image": jnp.mean((mean_image - x_test) ** 2),
        "train_bce": mlp.loss_value(params, x, x),
    }


_predict = jax.jit(MLP.predict, static_argnums=0)  # _predict(mlp, params, x)


def run(config: Config) -> dict:
    data, batch_size, epochs = config.load(DEFAULTS)
    split = data.split
    x, x_test = jnp.asarray(split.x_train), jnp.asarray(split.x_test)
    labels_test = np.asarray(split.y_test).argmax(axis=1)
    num_classes = split.y_test.shape[1]
    for k in config.interpolate:
        if not 0 <= k < num_classes:
            raise ValueError(f"interpolate classes must lie in 0..{num_classes - 1}, got {k}")
    if len(config.interpolate) != 2:
        raise ValueError(f"interpolate needs two classes, got {config.interpolate}")

    D, h, d = x.shape[1], config.hidden, config.latent
    mlp = MLP((D, h, d, h, D), ("tanh", "identity", "tanh", "sigmoid"), "bce")
    decoder = MLP((d, h, D), ("tanh", "sigmoid"), "bce")
    params = mlp.init(jax.random.PRNGKey(config.seed), "xavier_normal")
    # learning curves (entry 0 at init; train: the mean of epoch e's minibatch losses)
    curves = config.train(
        mlp, params, x, x, x_test, x_test, batch_size, epochs, f"autoencoder ({data.name}) epochs"
    )
    params = curves.run.state
    train_curve, test_curve = np.asarray(curves.train_curve), np.asarray(curves.test_curve)

    ev = {k: np.asarray(v) for k, v in _evaluate(mlp, params, x, x_test).items()}
    codes, x_hat = ev["codes"], ev["x_hat"]
    a, b = config.interpolate
    z_a, z_b = codes[labels_test == a].mean(axis=0), codes[labels_test == b].mean(axis=0)
    s = np.linspace(0.0, 1.0, config.steps)[:, None]
    path = (1 - s) * z_a + s * z_b
    decoded = np.asarray(_predict(decoder, params[2:], jnp.asarray(path, dtype=x.dtype)))
    shown = np.array([np.flatnonzero(labels_test == k)[0] for k in range(num_classes)])

    metrics = {
        "dataset": data.name,
        "image_shape": list(data.image_shape),  # (8, 8) on the digits, (28, 28) on MNIST files
        **{k: float(ev[k]) for k in ("test_bce", "test_mse", "bce_mean_image", "mse_mean_image")},
        "train_bce": float(ev["train_bce"]),
        "sizes": list(mlp.sizes),
        "n_train": int(len(x)),
        "n_test": int(len(x_test)),
        "batch_size": int(batch_size),
        "epochs": int(epochs),
    }
    return {
        "metrics": metrics,
        "train_curve": train_curve,
        "test_curve": test_curve,
        "originals": np.asarray(x_test)[shown],
        "reconstructions": x_hat[shown],
        "codes": codes,
        "labels": labels_test,
        "path": path,
        "decoded": decoded,
        "interpolate": (a, b),
        "image_shape": data.image_shape,
    }


def _image(ax, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[], aspect="equal")
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot(results: dict, config: Config):
    import matplotlib.pyplot as plt

    from dynlearn.plotting import image_data_label  # (and the house style)

    m = results["metrics"]
    shape = results["image_shape"]
    fig = plt.figure(figsize=(14, 7.8), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.6, 0.8])
    ax_curve, ax_latent = top.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})

    epochs = np.arange(len(results["train_curve"]))
    ax_curve.plot(epochs, results["train_curve"], label="train (mean over the epoch)")
    ax_curve.plot(epochs, results["test_curve"], label="test")
    ax_curve.axhline(m["bce_mean_image"], color="grey", ls=":", label="predict mean image (test)")
    ax_curve.set(
        xlabel="epoch",
        ylabel="BCE per image",
        title=f"{'-'.join(map(str, m['sizes']))}: test BCE {m['test_bce']:.2f}, "
        f"MSE/pixel {m['test_mse']:.4f}",
    )
    ax_curve.legend()

    codes, labels = results["codes"], results["labels"]
    cmap = plt.get_cmap("tab10")
    for k in range(int(labels.max()) + 1):
        sel = labels == k
        ax_latent.scatter(codes[sel, 0], codes[sel, 1], s=6, color=cmap(k), alpha=0.6, label=str(k))
    path = results["path"]
    a, b = results["interpolate"]
    ax_latent.plot(path[:, 0], path[:, 1], "k.-", lw=1.5, ms=8, label=f"path {a} -> {b}")
    ax_latent.set(
        xlabel="latent z1", ylabel="latent z2", title="test images in the 2-D code, by class"
    )
    ax_latent.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2, title="class")

    left, right = bottom.subfigures(1, 2, width_ratios=[1, 1])
    originals, recon = results["originals"], results["reconstructions"]
    raxes = left.subplots(2, len(originals))
    for j in range(len(originals)):
        for row, images in enumerate((originals, recon)):
            ax = raxes[row, j]
            _image(ax, images[j].reshape(shape))
    raxes[0, 0].set_ylabel("original")
    raxes[1, 0].set_ylabel("reconstruction")
    left.suptitle("test images and reconstructions, one per class", fontsize=10)

    decoded = results["decoded"]
    iaxes = right.subplots(1, len(decoded))
    for j, ax in enumerate(iaxes):
        _image(ax, decoded[j].reshape(shape))
    right.suptitle(f"decoded along the line from the mean code of {a} to that of {b}", fontsize=10)
    fig.suptitle(
        "Autoencoder with a 2-D bottleneck (tanh / identity / tanh / sigmoid, BCE, Adam) on "
        + image_data_label(m["dataset"], m["image_shape"])
    )
    return fig


def check(config: Config) -> list[str]:
    """The data set must be there (an explicit data_dir is never replaced by the digits)."""
    config.check_data()
    if config.interpolate[0] == config.interpolate[1]:
        raise ValueError(f"interpolate needs two different classes, got {config.interpolate}")
    return []


def memory(config: Config) -> dict[str, float]:
    """The images, the activations and the minibatch table (``ImageDataConfig.memory``);
    reads the data files' headers, which checks them before any work."""
    pixels = config.data_sizes(DEFAULTS)["pixels"]
    return {
        **config.memory(DEFAULTS, (config.hidden, config.latent, config.hidden)),
        "the interpolation's images (steps x pixels)": 2 * config.steps * (pixels + config.hidden),
    }


scenario = Scenario(
    name="autoencoder",
    description="Autoencoder with a 2-D bottleneck (MNIST files or 8x8 digits): codes, decodings",
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
