"""Generative predictive coding on the 8x8 digits: infer, reconstruct, complete (docs/references.md
§9).

Model (``dynlearn.rules.pc.generative``): latents x_1 (latent) -> hidden x_2 (hidden) ->
pixels, predictions mu_2 = W_1 x_1 + b_1, mu_3 = W_2 tanh(x_2) + b_2, pixels predicted as
sigmoid(mu_3); energy with state decay lambda (a Gaussian prior on the states, Sun & Orchard
2020)

    F = 1/2 ||x_2 - mu_2||^2 + 1/2 ||m * (y - sigmoid(mu_3))||^2 + lambda/2 (||x_1||^2 + ||x_2||^2).

Only the image y is clamped (mask m: 1 = observed pixel). Inference starts the states at 0 and
takes T Euler steps x <- x - gamma dF/dx; learning descends F in the weights after each
relaxation (Adam on dF/dtheta / B), one minibatch of training images at a time
(``GenerativePCRule`` in ``dynlearn.training.train``).

Test images: the latents inferred from the whole image generate its reconstruction
sigmoid(mu_3) (``reconstruction_mse``, per pixel); inferred from the top half only (bottom
half masked: m = 0 there, so the missing pixels exert no force), the prediction fills in the
bottom half (``completion_mse``, per missing pixel). Baselines: the mean training image
(``*_mse_mean_image``). Test-time inference runs ``test_T`` steps. ``completion_mse_random``
repeats the completion with half of the pixels missing at random.

Figure: test originals, reconstructions, masked inputs and completions; the training energy
per image; and the test errors against the mean-image baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn import train
from dynlearn.app.progress import progress_callback
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    nonnegative,
    positive,
    require_steps,
    require_training_progress,
    size,
)
from dynlearn.data import load_digits_split
from dynlearn.nn import MLP, adam, minibatches
from dynlearn.rules.pc import GenerativePC, GenerativePCRule, Observed, relax

SIDE = 8  # digits are 8x8


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    latent: Annotated[int, size(max=4096)] = 16
    hidden: Annotated[int, size(max=4096)] = 64
    decay: Annotated[float, nonnegative()] = 1.0  # lambda, the state decay
    T: Annotated[int, nonnegative(max=10_000)] = 50  # inference steps per training minibatch
    test_T: Annotated[int, nonnegative(max=100_000)] = 200  # inference steps at test time
    gamma: Annotated[float, positive()] = 0.1
    eta: Annotated[float, positive(max=1.0)] = 3e-3  # Adam: a step moves a weight by ~eta
    batch_size: Annotated[int, size(max=1000)] = 32
    epochs: Annotated[int, size(max=100_000)] = 40
    num_shown: Annotated[int, size(max=100)] = 10


QUICK = {"epochs": 6}


@partial(jax.jit, static_argnums=(0, 1))
def _infer_and_generate(mlp, T, decay, gamma, params, y, mask):
    """Latents inferred from the observed pixels of y, and the image they generate."""
    gpc = GenerativePC(mlp, params, decay=decay)
    args = Observed(y, mask)
    xs = relax(gpc, gpc.initial_states(y.shape[0], y.dtype), args, gamma, T)
    return gpc.generate(xs), gpc.energy(xs, args) / y.shape[0]


@jax.jit
def _masked_mse(pred, target, missing):
    """Mean squared error over the entries where ``missing`` is 1 (one compiled program)."""
    return jnp.sum(missing * (pred - target) ** 2) / jnp.sum(missing)


def run(config: Config) -> dict:
    split = load_digits_split(config.seed)
    x, x_test = split.x_train, split.x_test
    n_pixels = x.shape[1]
    mlp = MLP((config.latent, config.hidden, n_pixels), ("tanh", "sigmoid"), "mse")
    decay, gamma = jnp.asarray(config.decay, x.dtype), jnp.asarray(config.gamma, x.dtype)
    rule = GenerativePCRule(mlp, T=config.T, gamma=gamma, decay=decay)
    # the images are the data y clamped at the bottom (the model has no input x)
    data = minibatches(x, x, batch_size=config.batch_size, epochs=config.epochs, seed=config.seed)
    steps_per_epoch = data.num_steps // config.epochs
    with progress_callback("pc-generative steps") as bar:
        trained = train(
            rule,
            mlp.init(jax.random.PRNGKey(config.seed), "xavier_normal"),
            data,
            adam(config.eta),
            record_every=steps_per_epoch,
            callback=bar,
        )
    params = trained.state
    # the training energy F / B after relaxation, per minibatch, averaged over each epoch
    energy = [float(f) for f in jnp.mean(trained.losses.reshape(config.epochs, -1), axis=1)]
    require_training_progress(energy, "the training energy F/B (epoch means)", "eta, gamma")

    def generate(mask):
        return _infer_and_generate(mlp, config.test_T, decay, gamma, params, x_test, mask)

    mean_image = jnp.mean(x, axis=0)
    full = jnp.ones_like(x_test)
    top_half = jnp.broadcast_to(
        (jnp.arange(n_pixels) < n_pixels // 2).astype(x.dtype), x_test.shape
    )
    rng = np.random.default_rng(config.seed)
    random_half = jnp.asarray(rng.random(x_test.shape) < 0.5, x.dtype)

    reconstruction, test_energy = generate(full)
    completion_top, _ = generate(top_half)
    completion_random, _ = generate(random_half)
    untrained, _ = _infer_and_generate(
        mlp,
        config.test_T,
        decay,
        gamma,
        mlp.init(jax.random.PRNGKey(config.seed), "xavier_normal"),
        x_test,
        full,
    )

    def mse(pred, missing):
        return float(_masked_mse(pred, x_test, missing))

    metrics = {
        "reconstruction_mse": mse(reconstruction, full),
        "reconstruction_mse_mean_image": mse(jnp.broadcast_to(mean_image, x_test.shape), full),
        "reconstruction_mse_untrained": mse(untrained, full),
        "completion_mse": mse(completion_top, 1 - top_half),
        "completion_mse_mean_image": mse(jnp.broadcast_to(mean_image, x_test.shape), 1 - top_half),
        "completion_mse_random": mse(completion_random, 1 - random_half),
        "completion_mse_random_mean_image": mse(
            jnp.broadcast_to(mean_image, x_test.shape), 1 - random_half
        ),
        "train_energy_first_epoch": energy[0],
        "train_energy_last_epoch": energy[-1],
        "test_energy": float(test_energy),
    }
    k = config.num_shown
    filled = jnp.where(top_half > 0, x_test, completion_top)
    return {
        "metrics": metrics,
        "energy": np.array(energy),
        "originals": np.asarray(x_test[:k]),
        "reconstructions": np.asarray(reconstruction[:k]),
        "masked": np.asarray(jnp.where(top_half > 0, x_test, np.nan)[:k]),
        "completions": np.asarray(filled[:k]),
    }


def plot(results: dict, config: Config):
    import matplotlib.pyplot as plt

    from dynlearn.plotting import figure

    rows = [
        ("originals", "test images"),
        ("reconstructions", "reconstructed\n(latents from\nwhole image)"),
        ("masked", "observed\n(bottom half\nmasked)"),
        ("completions", "completed\n(bottom half\ngenerated)"),
    ]
    k = results["originals"].shape[0]
    fig, axes = figure(1, 1, width=10.5, height=5.0)
    axes[0, 0].remove()
    grid = fig.add_gridspec(len(rows), k + 6)
    cmap = plt.get_cmap("gray_r").with_extremes(bad="#f4c7a1")  # masked pixels
    for r, (key, label) in enumerate(rows):
        for j in range(k):
            ax = fig.add_subplot(grid[r, j])
            ax.imshow(results[key][j].reshape(SIDE, SIDE), cmap=cmap, vmin=0, vmax=1)
            ax.axis("off")
            if j == 0:
                ax.text(
                    -0.15, 0.5, label, fontsize=8, ha="right", va="center", transform=ax.transAxes
                )
    m = results["metrics"]
    ax = fig.add_subplot(grid[:2, k + 1 :])
    epochs = np.arange(1, len(results["energy"]) + 1)
    ax.plot(epochs, results["energy"], "C0")
    ax.set(xlabel="epoch", ylabel="energy F / B after inference", title="training energy")
    ax = fig.add_subplot(grid[2:, k + 1 :])
    names = ["reconstruction", "completion\n(bottom half)", "completion\n(random half)"]
    pc = [m["reconstruction_mse"], m["completion_mse"], m["completion_mse_random"]]
    base = [
        m["reconstruction_mse_mean_image"],
        m["completion_mse_mean_image"],
        m["completion_mse_random_mean_image"],
    ]
    pos = np.arange(3)
    ax.bar(pos - 0.2, pc, 0.4, label="generative PC", color="C0")
    ax.bar(pos + 0.2, base, 0.4, label="mean training image", color="C7")
    ax.set_xticks(pos, names, fontsize=7)
    ax.set(ylabel="test MSE per pixel", title="test errors", ylim=(0, 1.45 * max(base + pc)))
    ax.legend(loc="upper center", ncol=2)
    fig.suptitle("Generative predictive coding on the 8x8 digits")
    return fig


N_TRAIN, N_TEST = 1347, 450  # load_digits_split: 75 / 25 % of the 1797 8x8 digits


def memory(config: Config) -> dict[str, float]:
    """The minibatch table, the energy per step, the parameters, the test-set inference."""
    h, d = config.latent, config.hidden
    steps = config.epochs * -(-N_TRAIN // config.batch_size)
    return {
        "the minibatch table (epochs x training digits)": config.epochs * N_TRAIN,
        "the energy per step (epochs / batch_size)": steps,
        "the parameters and Adam's moments (latent x hidden)": 4 * ((h + 1) * d + (d + 1) * 64),
        "a minibatch's states (batch_size x (latent + hidden))": 4
        * config.batch_size
        * (h + d + 64),
        "the test-set inference (latent + hidden)": 8 * N_TEST * (h + d + 64),
        "the images shown (num_shown)": 4 * config.num_shown * 64,
    }


def check(config: Config) -> list[str]:
    """T = 0 or test_T = 0 inference steps are legal (no relaxation) but unusual: say so."""
    require_steps(
        config.epochs * -(-N_TRAIN // config.batch_size) * max(config.T, 1),
        "the relaxation steps of the training (epochs x minibatches x T)",
        "epochs, batch_size, T",
    )
    return [
        f"{key}=0: no inference step; the latent states stay at their start"
        for key in ("T", "test_T")
        if getattr(config, key) == 0
    ]


scenario = Scenario(
    name="pc-generative",
    description="Generative PC on the digits: latents inferred, images reconstructed and completed",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    check=check,
    memory=memory,
    stability_keys=("eta", "gamma"),
)

if __name__ == "__main__":
    scenario.main()
