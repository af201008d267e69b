"""Shared figure helpers: the only dynlearn module that imports matplotlib."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if os.environ.get("MPLBACKEND") is None and not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
plt.rcParams.update(STYLE)


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.2, **kwargs):
    """``plt.subplots`` sized per panel, with constrained layout."""
    kwargs.setdefault("layout", "constrained")
    kwargs.setdefault("squeeze", False)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` as PNG atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
        plt.close(fig)


def image_data_label(dataset: str, image_shape) -> str:
    """Which images a figure was made on, for its title: e.g. "digits (8×8 images:
    scikit-learn's, not MNIST)" — the ``mnist`` and ``autoencoder`` scenarios fall back to the
    bundled digits when no MNIST files are found, and their names must not suggest otherwise."""
    h, w = image_shape
    note = ": scikit-learn's, not MNIST" if dataset == "digits" else ""
    return f"{dataset} ({h}×{w} images{note})"
