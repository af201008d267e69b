"""The config fields and the training shared by the scenarios trained on image data
(``mnist``, ``autoencoder``): which data set, where, how much of it, batch size, epochs and
Adam's learning rate, and ``ImageDataConfig.train``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from dynlearn.app.progress import progress_callback
from dynlearn.app.scenario import (
    ScenarioConfig,
    Seed,
    checked_elsewhere,
    nonnegative,
    one_of,
    positive,
)
from dynlearn.data.idx import DATA_CHOICES, ImageData, load_image_data, resolve_image_data
from dynlearn.nn import adam, minibatches
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
    batch_size: Annotated[int, nonnegative(max=100_000)] = 0
    epochs: Annotated[int, nonnegative(max=100_000)] = 0  # 0: the scenario's default
    # > 0: a seeded random subset of the training set (0: all)
    max_train: Annotated[int, nonnegative()] = 0
    max_test: Annotated[int, nonnegative()] = 0
    eta: Annotated[float, positive()] = 1e-3  # Adam's learning rate

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
        are missing (an explicit ``data_dir`` is never replaced by the digits)."""
        return resolve_image_data(self.data, self.data_dir or None)

    def train(self, mlp, params, x, y, x_test, y_test, batch_size, epochs, label) -> EpochCurves:
        """Backprop with Adam at ``eta`` on shuffled minibatches (``minibatches`` seeded with
        the config's seed), with the epoch learning curves on (x_test, y_test) and a progress
        bar labelled ``label``: the training of both image scenarios."""
        data = minibatches(x, y, batch_size=batch_size, epochs=epochs, seed=self.seed)
        return train_epochs(
            Backprop(mlp),
            params,
            data,
            adam(self.eta),
            epochs=epochs,
            x_test=x_test,
            y_test=y_test,
            callback=progress_callback(label),
        )
