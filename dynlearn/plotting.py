"""Figures from trajectories: learning curves, mode strengths against Saxe's closed form, and
the singular values of a deep linear network's end-to-end map. The only library module that
imports matplotlib; importing it changes no global setting (the house style is applied inside
each helper, and by the scenario runner around a scenario's ``plot``).

Examples:
    >>> import jax.numpy as jnp, dynlearn
    >>> from dynlearn.plotting import plot_learning_curve
    >>> sol = dynlearn.solve(lambda t, y, a: -y, jnp.ones(2), 3.0, saveat=jnp.linspace(0, 3, 7))
    >>> ax = plot_learning_curve(sol, loss=lambda y: 0.5 * jnp.sum(y**2))
    >>> ax.get_xlabel()
    'time t'
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

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


def style():
    """The house style as a context manager: ``with style(): ...`` (nothing changes outside)."""
    return plt.rc_context(STYLE)


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.2, **kwargs):
    """``plt.subplots`` sized per panel, with constrained layout, in the house style.

    Returns ``(fig, axes)`` with ``axes`` always a 2-D array (``squeeze=False``): index it
    ``axes[row, col]`` whatever the grid, so code does not change with the panel count (pass
    ``squeeze=True`` for ``plt.subplots``' own shapes)."""
    kwargs.setdefault("layout", "constrained")
    kwargs.setdefault("squeeze", False)
    with style():
        return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` as PNG atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with style():
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


def _axes(ax):
    if ax is not None:
        return ax
    return figure()[1][0, 0]


def _saved_states(sol):
    """[(t_k, y_k)] of a Solution, one per saved time."""
    ts = np.asarray(sol.ts)
    return ts, [jax.tree.map(lambda leaf, k=k: leaf[k], sol.ys) for k in range(len(ts))]


def plot_learning_curve(run, loss=None, *, ax=None, label=None, log=True):
    """The loss along a training run or a flow.

    ``run``: a ``dynlearn.Trained`` (its minibatch losses per step; ``loss`` is ignored) or a
    ``dynlearn.Solution`` with ``loss(y) -> scalar`` evaluated at every saved time. Returns the
    axes (a new figure unless ``ax`` is given)."""
    from dynlearn.training import Trained

    with style():
        ax = _axes(ax)
        if isinstance(run, Trained):
            losses = np.asarray(run.losses)
            ax.plot(np.arange(len(losses)), losses, lw=1, label=label)
            ax.set_xlabel("step n")
            ax.set_ylabel("minibatch loss")
        else:
            if loss is None:
                raise ValueError("a Solution needs loss=: a function of the state y -> scalar")
            ts, states = _saved_states(run)
            values = np.array([float(loss(y)) for y in states])
            ax.plot(ts, values, lw=1.5, label=label)
            ax.set_xlabel("time t")
            ax.set_ylabel("loss")
        if log:
            ax.set_yscale("log")
        if label is not None:
            ax.legend()
    return ax


def _end_to_end_path(sol) -> np.ndarray:
    """W(t_k) = W_N ... W_1 at every saved time: (T, n_out, n_in)."""
    from dynlearn.rules.linear import end_to_end

    Ws = sol.ys if isinstance(sol.ys, (list, tuple)) else [sol.ys]
    return np.asarray(jax.vmap(lambda *w: end_to_end(list(w)))(*Ws))


def plot_mode_strengths(sol, sigma_yx, *, tau: float = 1.0, ax=None, closed_form=True):
    """Mode strengths u_r(t) = u_r^T W(t) v_r of a deep linear flow, with Saxe's closed form.

    ``sol``: a ``Solution`` of ``dynlearn.rules.linear.DeepLinearFlow`` (state: the list of
    weight matrices). ``sigma_yx``: the input-output correlation whose SVD U diag(s) V^T defines
    the modes, or a tuple (U, s, V) to fix the basis when singular values repeat. Dashed lines:
    the closed form for a decoupled, balanced start with the measured u_r(0)
    (``dynlearn.rules.linear.balanced_mode_strength``; Saxe et al. 2014, eq. 7 for N = 2), which
    is the exact solution only for such a start. Returns the axes."""
    from dynlearn.analysis.modes import mode_strengths
    from dynlearn.rules.linear import balanced_mode_strength

    if isinstance(sigma_yx, tuple):
        U, s, V = (np.asarray(a) for a in sigma_yx)
    else:
        U, s, Vt = np.linalg.svd(np.asarray(sigma_yx), full_matrices=False)
        V = Vt.T
    keep = s > 1e-12 * max(s.max(), 1e-300)
    U, s, V = U[:, keep], s[keep], V[:, keep]
    ts = np.asarray(sol.ts)
    u = mode_strengths(_end_to_end_path(sol), U, V)
    depth = len(sol.ys) if isinstance(sol.ys, (list, tuple)) else 1
    with style():
        ax = _axes(ax)
        for r in range(len(s)):
            (line,) = ax.plot(ts, u[:, r], lw=1.5, label=f"mode {r + 1} (s = {s[r]:.3g})")
            if closed_form and u[0, r] > 0:
                theory = balanced_mode_strength(ts, s[r], u[0, r], depth, tau=tau)
                ax.plot(ts, theory, "--", color="k", lw=0.8, alpha=0.8)
        ax.set_xlabel("time t")
        ax.set_ylabel("mode strength $u_r^T W v_r$")
        ax.set_title(
            f"{depth}-matrix linear net" + (" (dashed: closed form)" if closed_form else "")
        )
        ax.legend()
    return ax


def plot_singular_values(sol, *, ax=None, log=False):
    """Singular values of the end-to-end map W(t) = W_N ... W_1 along a linear flow (Arora et
    al. 2019: depth speeds up large singular values and freezes small ones). Returns the axes."""
    W = _end_to_end_path(sol)
    sv = np.linalg.svd(W, compute_uv=False)
    with style():
        ax = _axes(ax)
        ax.plot(np.asarray(sol.ts), sv, lw=1.2)
        ax.set_xlabel("time t")
        ax.set_ylabel(r"singular values $\sigma_r$ of $W$")
        if log:
            ax.set_yscale("log")
    return ax


__all__ = [
    "style",
    "figure",
    "save_figure",
    "plot_learning_curve",
    "plot_mode_strengths",
    "plot_singular_values",
    "image_data_label",
]
