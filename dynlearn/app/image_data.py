"""The config fields and the training shared by the scenarios trained on image data
(``mnist``, ``autoencoder``): which data set, where, how much of it, batch size, epochs and
Adam's learning rate, and ``ImageDataConfig.train``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np

from dynlearn.app.scenario import (
    ScenarioConfig,
    Seed,
    checked_elsewhere,
    one_of,
    positive,
    require_training_progress,
    size,
)
from dynlearn.data.idx import (
    DATA_CHOICES,
    ImageData,
    check_mnist,
    load_image_data,
    resolve_image_data,
)
from dynlearn.nn import adam, minibatches
from dynlearn.progress import progress_callback
from dynlearn.rules.credit import Backprop
from dynlearn.training import EpochCurves, train_epochs


@dataclass(frozen=True)
class ImageDataConfig(ScenarioConfig):
    """The config fields of a scenario trained on ``load_image_data`` (``mnist``,
    ``autoencoder``); a scenario's ``Config`` derives from it and adds its own fields.

    ``batch_size`` / ``epochs`` = 0 pick the scenario's defaults for the data set that was
    loaded (``load``'s ``defaults``); ``max_train`` / ``max_test`` > 0 keep a seeded random
    subset (0: all).
    """

    seed: Seed = 0
    # "auto" | "digits" | "mnist" | "fashion-mnist"
    data: Annotated[str, one_of(*DATA_CHOICES)] = "auto"
    # "" -> $DYNLEARN_DATA
    data_dir: Annotated[str, checked_elsewhere("empty or a data folder", "/nonexistent/data")] = ""
    # 0: the scenario's default for the data set
    batch_size: Annotated[int, size(min=0, max=100_000)] = 0
    epochs: Annotated[int, size(min=0, max=100_000)] = 0  # 0: the scenario's default
    # > 0: a seeded random subset of the training set (0: all)
    max_train: Annotated[int, size(min=0, max=10_000_000)] = 0
    max_test: Annotated[int, size(min=0, max=10_000_000)] = 0
    # Adam's learning rate: each step moves a weight by about eta, so eta > 1 wipes out
    # weights of order 1
    eta: Annotated[float, positive(max=1.0)] = 1e-3

    def load(self, defaults: dict[str, tuple[int, int]]) -> tuple[ImageData, int, int]:
        """(the data, batch size, epochs): ``defaults`` maps the data set's name to the
        (batch_size, epochs) used where the config says 0; the batch is at most the training
        set."""
        data = load_image_data(
            self.data,
            self.data_dir or None,
            seed=self.seed,
            max_train=self.max_train,
            max_test=self.max_test,
        )
        default_batch, default_epochs = defaults[data.name]
        batch_size = min(self.batch_size or default_batch, len(data.split.x_train))
        return data, batch_size, self.epochs or default_epochs

    def check_data(self) -> str:
        """The data set that ``load`` will use; FileNotFoundError before any work if its files
        are missing (an explicit ``data_dir`` is never replaced by the digits), IDXError naming
        the file and the problem if one is malformed (headers, lengths, labels: ``check_mnist``)."""
        name = resolve_image_data(self.data, self.data_dir or None)
        if name != "digits":
            check_mnist(name, self.data_dir or None)
        return name

    def data_sizes(self, defaults: dict[str, tuple[int, int]]) -> dict[str, int]:
        """What ``load`` will give, from the files' headers (``check_data`` first): the
        numbers of training and test images (after max_train / max_test), pixels per image,
        batch size and epochs."""
        name = self.check_data()
        if name == "digits":
            n_train, n_test, pixels = 1347, 450, 64  # load_digits_split's 75/25 split of 1797
        else:
            info = check_mnist(name, self.data_dir or None)
            n_train, n_test = info["n_train"], info["n_test"]
            pixels = info["image_shape"][0] * info["image_shape"][1]
        n_train = min(n_train, self.max_train or n_train)
        n_test = min(n_test, self.max_test or n_test)
        batch, epochs = defaults[name]
        return {
            "n_train": n_train,
            "n_test": n_test,
            "pixels": pixels,
            "batch_size": min(self.batch_size or batch, n_train),
            "epochs": self.epochs or epochs,
        }

    def memory(self, defaults: dict[str, tuple[int, int]], widths) -> dict[str, float]:
        """The arrays of ``train`` for an MLP of hidden ``widths`` on this data: the images,
        their activations in a full-data pass (the test curve), the minibatch table."""
        d = self.data_sizes(defaults)
        n, n_test, pixels = d["n_train"], d["n_test"], d["pixels"]
        sizes = (pixels, *widths, pixels)
        params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
        return {
            "the images (max_train + max_test x pixels)": (n + n_test) * pixels,
            "the activations of a pass over the test set (max_test x hidden)": 2
            * n_test
            * sum(sizes),
            "the activations of a minibatch (batch_size x hidden)": 4
            * d["batch_size"]
            * sum(sizes),
            "the minibatch table (epochs x max_train)": d["epochs"] * n,
            "the parameters and Adam's moments (hidden)": 4 * params,
        }

    def train(self, mlp, params, x, y, x_test, y_test, batch_size, epochs, label) -> EpochCurves:
        """Backprop with Adam at ``eta`` on shuffled minibatches (``minibatches`` seeded with
        the config's seed), with the epoch learning curves on (x_test, y_test) and a progress
        bar labelled ``label``: the training of both image scenarios."""
        data = minibatches(x, y, batch_size=batch_size, epochs=epochs, seed=self.seed)
        curves = train_epochs(
            Backprop(mlp),
            params,
            data,
            adam(self.eta),
            epochs=epochs,
            x_test=x_test,
            y_test=y_test,
            callback=progress_callback(label),
        )
        require_training_progress(np.asarray(curves.train_curve), "the training loss", "eta")
        return curves


__all__ = ["ImageDataConfig"]
