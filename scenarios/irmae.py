"""Implicit rank-minimising autoencoder (IRMAE; Jing, Zbontar & LeCun, NeurIPS 2020).

Autoencoder on scikit-learn's 8x8 digits (``dynlearn.data.digits``), x in [0, 1]^64:

    encoder    h = relu(W_e1 x + b_e1),  e = W_e2 h + b_e2               (64 -> hidden -> d)
    latent     z = W_l ... W_1 e          l extra bias-free square d x d linear layers
    decoder    x_hat = sigmoid(W_d2 relu(W_d1 z + b_d1) + b_d2)          (d -> hidden -> 64)
    loss       mean over examples and pixels of (x_hat - x)^2             (MSE)

l = 0 is a plain autoencoder; l = ``extra_layers`` (8 in the paper's MNIST example) is IRMAE
(docs/references.md §7). The extra layers change nothing the network can represent, only the
parametrisation: as in deep matrix factorisation (docs/references.md §6, arora-matrix-completion)
gradient-based training of a product of matrices pulls it toward low rank, so the latent
codes fill fewer dimensions. Both are trained with Adam (``dynlearn.nn.optim.adam``) on the
same shuffled minibatches from the same encoder/decoder initialisation; the gradient of this
composed architecture comes from jax.grad (the MLP substrate's forward pass is reused for
encoder and decoder). The extra layers start Xavier-normal (std 1/sqrt(d)): a start whose
product has a few large and many tiny singular values (products of random matrices spread
their spectrum exponentially with depth). ``linear_init="orthogonal"`` (product exactly
orthogonal at the start) tests the small-start condition of the deep-matrix-factorisation
theory (a direction must start small for the sigma^{2-2/N} factor of Theorem 3 to hold it
back): from an orthogonal start no direction is small, and the theory predicts no collapse.
That run is not part of the stored figure (``--set linear_init=orthogonal``). Encoder and decoder
start He-normal.

The collapse is not free here: on 1347 training images the wide plain AE reconstructs the
test set better. The fair reference is a plain AE whose latent is only as wide as IRMAE's
99 %-variance rank (``ae_small``): IRMAE matches its error and effective rank without being
told the width.

Figure: singular values of the covariance of the test-set latents z, normalised by the
largest, against rank (log scale), for AE, IRMAE and ae_small; training curves; test
images and their reconstructions.
Metrics: ``effective_rank_ae``, ``effective_rank_irmae`` (exp of the entropy of the
normalised covariance spectrum, ``dynlearn.analysis.spectra``), ``test_mse_ae``,
``test_mse_irmae`` (per pixel), ``rank_99_*`` (dimensions holding 99 % of the latent
variance), and the same for ``ae_small`` (``latent_ae_small`` = its width).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn import train
from dynlearn.analysis import effective_rank_of_spectrum, latent_covariance
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    one_of,
    positive,
    require_steps,
    require_training_progress,
    size,
)
from dynlearn.data import load_digits_split
from dynlearn.nn import MLP, Minibatches, adam, minibatches, xavier_normal
from dynlearn.rules import AbstractParamsRule


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    latent: Annotated[int, size(min=2, max=4096)] = 32  # latent dimension d
    # width of the encoder's and decoder's hidden layer
    hidden: Annotated[int, size(max=4096)] = 128
    # l for IRMAE (l = 0 is the plain autoencoder)
    extra_layers: Annotated[int, size(max=100)] = 8
    # extra layers: "xavier_normal" or "orthogonal"
    linear_init: Annotated[str, one_of("xavier_normal", "orthogonal")] = "xavier_normal"
    # Adam learning rate: each step moves a weight by about eta
    eta: Annotated[float, positive(max=1.0)] = 1e-3
    batch_size: Annotated[int, size(max=1000)] = 64
    epochs: Annotated[int, size(max=100_000)] = 300
    num_shown: Annotated[int, size(max=100)] = 8  # test digits shown with their reconstructions


QUICK = {"epochs": 60}


N_TRAIN, N_TEST = 1347, 450  # load_digits_split: 75 / 25 % of the 1797 8x8 digits


def check(config: Config) -> list[str]:
    require_steps(
        3 * config.epochs * -(-N_TRAIN // config.batch_size),
        "the Adam steps of the three models",
        "epochs, batch_size",
    )
    return []


def memory(config: Config) -> dict[str, float]:
    """The minibatch table, the loss per step, the parameters (and Adam's moments), the
    activations of the whole data set."""
    h, d, l = config.hidden, config.latent, config.extra_layers
    params = 2 * (64 + 1) * h + (h + 1) * d + l * d * d + (d + 1) * h
    steps = config.epochs * -(-N_TRAIN // config.batch_size)
    return {
        "the minibatch table (epochs x training digits)": config.epochs * N_TRAIN,
        "the loss per step (epochs / batch_size)": steps,
        "the parameters and Adam's moments (hidden x latent, extra_layers x latent^2)": 4 * params,
        "the activations of all digits (hidden, latent)": 2
        * (N_TRAIN + N_TEST)
        * (2 * h + (l + 1) * d + 64),
        "the reconstructions shown (num_shown)": 2 * config.num_shown * 64,
        "a minibatch's activations (batch_size x hidden)": 4
        * config.batch_size
        * (2 * h + (l + 1) * d + 64),
    }


def encoder_decoder(config: Config) -> tuple[MLP, MLP]:
    encoder = MLP((64, config.hidden, config.latent), ("relu", "identity"), "mse")
    decoder = MLP((config.latent, config.hidden, 64), ("relu", "sigmoid"), "mse")
    return encoder, decoder


def latents(params: dict, x: jax.Array, encoder: MLP) -> jax.Array:
    """z = W_l ... W_1 Enc(x), rows are examples (z = e @ W_1.T @ ... @ W_l.T)."""
    z = encoder.predict(params["encoder"], x)
    for W in params["linear"]:
        z = z @ W.T
    return z


def reconstruct(params: dict, x: jax.Array, encoder: MLP, decoder: MLP) -> jax.Array:
    return decoder.predict(params["decoder"], latents(params, x, encoder))


def mse(params: dict, x: jax.Array, encoder: MLP, decoder: MLP) -> jax.Array:
    """Mean over examples and pixels of (x_hat - x)^2."""
    return jnp.mean((reconstruct(params, x, encoder, decoder) - x) ** 2)


def linear_init(config: Config, key: jax.Array) -> jax.Array:
    """One extra d x d layer: Xavier normal (std 1/sqrt(d)) or a random orthogonal matrix."""
    d = config.latent
    if config.linear_init == "xavier_normal":
        return xavier_normal(key, d, d)
    if config.linear_init == "orthogonal":
        Q, R = jnp.linalg.qr(jax.random.normal(key, (d, d)))
        return Q * jnp.sign(jnp.diagonal(R))
    raise ValueError(
        f"linear_init must be 'xavier_normal' or 'orthogonal', got {config.linear_init!r}"
    )


class AutoencoderMSE(AbstractParamsRule):
    """The training rule of this composed autoencoder, for ``dynlearn.training.train``: the
    direction is the exact gradient of the minibatch MSE, by reverse-mode autodiff (jax.grad)
    through encoder, extra linear layers and decoder. The state is the parameter dict itself;
    the target is the input (the schedule's y is not used)."""

    encoder: MLP = eqx.field(static=True)
    decoder: MLP = eqx.field(static=True)

    def loss_and_direction(self, state: dict, x: jax.Array, y: jax.Array, key: jax.Array):
        """(MSE on the batch x, its gradient)."""
        return jax.value_and_grad(mse)(state, x, self.encoder, self.decoder)

    def direction(self, state: dict, x: jax.Array, y: jax.Array, key: jax.Array) -> dict:
        """The gradient of the MSE on the batch x."""
        return jax.grad(mse)(state, x, self.encoder, self.decoder)


@jax.jit(static_argnums=(0, 1, 5))
def _measure(encoder: MLP, decoder: MLP, params: dict, x_train, x_test, num_shown: int):
    """(latent covariance on the test set, test MSE, training MSE, the first ``num_shown``
    test reconstructions): the post-processing of one trained model as one compiled program
    (op by op, each eager JAX op on the device results compiles its own)."""
    return (
        latent_covariance(latents(params, x_test, encoder)),
        mse(params, x_test, encoder, decoder),
        mse(params, x_train, encoder, decoder),
        reconstruct(params, x_test[:num_shown], encoder, decoder),
    )


_effective_rank = jax.jit(effective_rank_of_spectrum)  # one program, not one per eager op


def fit(config: Config, l: int, batches: Minibatches) -> dict:
    """Adam on the MSE over the schedule ``batches`` (one compiled ``train`` run)."""
    encoder, decoder = encoder_decoder(config)
    k_enc, k_dec, k_lin = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    params = {
        "encoder": encoder.init(k_enc, "he_normal"),
        "linear": [linear_init(config, k) for k in jax.random.split(k_lin, l)] if l else [],
        "decoder": decoder.init(k_dec, "he_normal"),
    }
    run = train(AutoencoderMSE(encoder, decoder), params, batches, adam(config.eta))
    losses = np.asarray(run.losses)
    per_epoch = losses[: len(losses) // config.epochs * config.epochs].reshape(config.epochs, -1)
    require_training_progress(per_epoch.mean(axis=1), f"the training MSE (l = {l})", "eta")
    return {"params": run.state, "train_loss": losses}


def run(config: Config) -> dict:
    if config.extra_layers < 1:
        raise ValueError(f"extra_layers must be >= 1 (IRMAE's l), got {config.extra_layers}")
    if config.latent < 2 or config.hidden < 1:
        raise ValueError(
            f"latent must be >= 2 and hidden >= 1, got {config.latent}, {config.hidden}"
        )
    data = load_digits_split(seed=config.seed)
    x_train, x_test = jnp.asarray(data.x_train), jnp.asarray(data.x_test)
    batches = minibatches(
        x_train, x_train, batch_size=config.batch_size, epochs=config.epochs, seed=config.seed
    )
    metrics, spectra, recon, curves = {}, {}, {}, {}

    def fit_and_measure(name: str, cfg: Config, l: int) -> None:
        encoder, decoder = encoder_decoder(cfg)
        out = fit(cfg, l, batches)
        params = out["params"]
        C, test_mse, train_mse, shown = map(
            np.asarray, _measure(encoder, decoder, params, x_train, x_test, cfg.num_shown)
        )
        spectrum = np.sort(np.linalg.eigvalsh(np.asarray(C)))[::-1].clip(min=0.0)
        spectra[name] = spectrum / spectrum[0]
        share = np.cumsum(spectrum) / spectrum.sum()
        metrics[f"effective_rank_{name}"] = float(_effective_rank(spectrum))
        metrics[f"test_mse_{name}"] = float(test_mse)
        metrics[f"train_mse_{name}"] = float(train_mse)
        metrics[f"rank_99_{name}"] = int(min(np.searchsorted(share, 0.99) + 1, cfg.latent))
        recon[name] = shown
        curves[name] = out["train_loss"]

    bar = progress(total=3, desc="models")
    fit_and_measure("ae", config, 0)
    bar.update()
    fit_and_measure("irmae", config, config.extra_layers)
    bar.update()
    # the fair reference: a plain AE whose latent is only as wide as IRMAE's 99 % variance rank
    small = replace(config, latent=metrics["rank_99_irmae"])
    fit_and_measure("ae_small", small, 0)
    metrics["latent_ae_small"] = small.latent
    bar.update()
    bar.close()
    return {
        "metrics": metrics,
        "spectra": spectra,
        "reconstructions": recon,
        "originals": np.asarray(x_test[: config.num_shown]),
        "train_loss": curves,
    }


def plot(results: dict, config: Config):
    import matplotlib.pyplot as plt  # (drawn in the house style: Scenario wraps plot)

    m = results["metrics"]
    k = config.num_shown
    labels = {
        "ae": f"AE, d = {config.latent}",
        "irmae": f"IRMAE, d = {config.latent}, l = {config.extra_layers}",
        "ae_small": f"AE, d = {m['latent_ae_small']}",
    }
    colors = {"ae": "C0", "irmae": "C3", "ae_small": "C2"}
    fig = plt.figure(figsize=(13.5, 4.4), layout="constrained")
    outer = fig.add_gridspec(1, 3, width_ratios=[1.1, 1.0, 1.5])
    ax = fig.add_subplot(outer[0])
    for name in ("ae", "irmae", "ae_small"):
        spectrum = np.maximum(results["spectra"][name], 1e-12)
        ax.semilogy(
            np.arange(1, len(spectrum) + 1),
            spectrum,
            "o-",
            ms=3,
            color=colors[name],
            label=f"{labels[name]}: erank {m[f'effective_rank_{name}']:.1f}",
        )
    ax.set(
        xlabel="rank",
        ylabel="singular value / largest",
        title="Spectrum of the test-latent covariance",
        ylim=(1e-7, 2),
    )
    ax.legend(loc="lower left")

    ax = fig.add_subplot(outer[1])
    steps_per_epoch = len(results["train_loss"]["ae"]) / config.epochs
    for name in ("ae", "irmae", "ae_small"):
        loss = results["train_loss"][name]
        epoch = np.arange(1, len(loss) + 1) / steps_per_epoch
        ax.semilogy(
            epoch,
            loss,
            color=colors[name],
            lw=0.7,
            label=f"{labels[name]}: test MSE {m[f'test_mse_{name}']:.4f}",
        )
    ax.set(xlabel="epoch", ylabel="minibatch MSE per pixel", title="Training (Adam)")
    ax.legend(loc="upper right")

    rows = [("test digit", results["originals"])] + [
        (
            labels[name].split(",")[0] + (" (small d)" if name == "ae_small" else ""),
            results["reconstructions"][name],
        )
        for name in ("ae", "irmae", "ae_small")
    ]
    grid = outer[2].subgridspec(len(rows), k, hspace=0.04, wspace=0.04)
    for r, (label, images) in enumerate(rows):
        for c in range(k):
            a = fig.add_subplot(grid[r, c])
            a.imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            a.grid(False)
            for side in ("top", "right"):
                a.spines[side].set_visible(True)
            if c == 0:
                a.set_ylabel(label, fontsize=8)
            if r == 0 and c == k // 2:
                a.set_title("Test digits and reconstructions")
    fig.suptitle(
        f"IRMAE on 8x8 digits: {config.epochs} epochs, Adam eta = {config.eta:g}, "
        f"batch {config.batch_size}; green: plain AE with IRMAE's 99 %-variance rank as latent"
    )
    return fig


scenario = Scenario(
    name="irmae",
    description=(
        "Implicit rank-minimising autoencoder (Jing et al. 2020) on digits: extra linear "
        "layers collapse the latent spectrum at comparable error"
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
