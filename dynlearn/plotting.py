"""Figures from trajectories: learning curves, the angle between two rules' updates, a result
against a swept parameter, mode strengths against Saxe's closed form, and the singular values
of a deep linear network's end-to-end map. The only library module that
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


def plot_learning_curve(
    run, loss=None, *, ax=None, label=None, log=True, smooth="auto", steps_per_epoch=None
):
    """The loss along a training run or a flow. Returns the axes (a new figure unless ``ax``).

    ``run``:

    * a ``dynlearn.Trained``: its minibatch loss before each step n (``loss`` is ignored; for a
      rule that reports a pytree, e.g. ``pc.Relaxation``, its ``.loss``). The per-step values
      are noisy, so by default they are drawn faint under a mean: ``steps_per_epoch=k`` draws
      the mean of each epoch (steps e k ... (e + 1) k - 1), ``smooth=w`` a moving mean over w
      steps; each mean sits at the centre of its steps (no lag). ``smooth="auto"`` (default)
      takes w = n // 50 (2% of the n steps) when that is at least 2, and ``smooth=None`` draws
      the raw losses alone.
    * a ``dynlearn.training.EpochCurves`` (``train_epochs``): the train curve (entry 0 the
      initial loss, then each epoch's mean minibatch loss) and the test curve, per epoch.
    * a ``dynlearn.Solution`` with ``loss(y) -> scalar`` evaluated at every saved time.
    """
    from dynlearn.training import EpochCurves, Trained

    legend = label is not None
    with style():
        ax = _axes(ax)
        if isinstance(run, EpochCurves):
            epochs = np.arange(len(run.train_curve))
            ax.plot(epochs, np.asarray(run.train_curve), lw=1.5, label=_join(label, "train"))
            ax.plot(epochs, np.asarray(run.test_curve), "--", lw=1.5, label=_join(label, "test"))
            ax.set_xlabel("epoch")
            ax.set_ylabel("loss")
            legend = True
        elif isinstance(run, Trained):
            _plot_step_losses(ax, _step_losses(run), label, smooth, steps_per_epoch)
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
        if legend:
            ax.legend()
    return ax


def _join(label, what):
    return what if label is None else f"{label}: {what}"


def _step_losses(run) -> np.ndarray:
    """The per-step losses of a Trained run (``.loss`` of a reported pytree)."""
    losses = run.losses
    if not isinstance(losses, (np.ndarray, jax.Array)):
        losses = getattr(losses, "loss", None)
        if losses is None:
            raise ValueError(
                f"run.losses is a {type(run.losses).__name__} without a .loss field: plot "
                f"the numbers you want with ax.plot"
            )
    return np.asarray(losses)


def moving_mean(values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres, means): the mean of ``values[k : k + window]`` for k = 0 ... n - window, at
    the centre k + (window - 1) / 2 of its indices."""
    values = np.asarray(values, dtype=float)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(
            f"smooth must be a window of at least 1 step, 'auto' or None, got {window!r}"
        )
    if window > len(values):
        raise ValueError(f"smooth={window} is longer than the run ({len(values)} steps)")
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    return np.arange(len(means)) + (window - 1) / 2, means


def epoch_means(values, steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres, means): the mean of each epoch's ``steps_per_epoch`` values, at the centre of
    the epoch's step indices."""
    values = np.asarray(values, dtype=float)
    k = steps_per_epoch
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or len(values) % k:
        raise ValueError(
            f"steps_per_epoch={k!r} must be a positive integer dividing the {len(values)} steps"
        )
    means = values.reshape(-1, k).mean(axis=1)
    return np.arange(len(means)) * k + (k - 1) / 2, means


def _plot_step_losses(ax, losses, label, smooth, steps_per_epoch):
    n = len(losses)
    if steps_per_epoch is not None:
        centres, means = epoch_means(losses, steps_per_epoch)
        what = "epoch mean"
    else:
        window = max(n // 50, 1) if smooth == "auto" else smooth
        centres, means = (None, None) if window in (None, 1) else moving_mean(losses, window)
        what = f"mean over {window} steps"
    if centres is None:
        ax.plot(np.arange(n), losses, lw=1, label=label)
    else:
        (raw,) = ax.plot(np.arange(n), losses, lw=0.8, alpha=0.3)
        ax.plot(centres, means, lw=1.6, color=raw.get_color(), label=label)
        what = f"minibatch loss ({what})"
    ax.set_xlabel("step n")
    ax.set_ylabel("minibatch loss" if centres is None else what)


def _steps_axis(tree, name: str) -> int:
    """The length of the leading (step) axis shared by every leaf of ``tree``."""
    lengths = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(tree)}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(
            f"{name} must be a pytree whose every leaf has the same leading step axis (e.g. "
            f"train's records), got leading sizes {sorted(map(str, lengths))}; stack a list of "
            f"pytrees with jax.tree.map(lambda *a: jnp.stack(a), *trees)"
        )
    return lengths.pop()


def update_angles(u, v, *, params: bool = False, per_layer: bool = False) -> np.ndarray:
    """The angle in degrees between two sequences of updates, step by step
    (``dynlearn.analysis.alignment``: arccos(<u_k, v_k> / (||u_k|| ||v_k||))).

    ``u``, ``v``: pytrees whose leaves have a leading step axis (K, ...), e.g. two rules'
    directions recorded along training. ``params=True``: they are parameter trajectories and
    the updates are their differences theta_{k+1} - theta_k (K - 1 angles). ``per_layer``:
    one angle per layer of a parameter list [{"W", "b"}, ...] (``layer_angles_deg``), shape
    (K, layers); otherwise one angle over all parameters (``angle_deg``), shape (K,)."""
    from dynlearn.analysis.alignment import angle_deg, layer_angles_deg

    if _steps_axis(u, "u") != _steps_axis(v, "v"):
        raise ValueError(f"u and v have {_steps_axis(u, 'u')} and {_steps_axis(v, 'v')} steps")
    if params:
        u, v = (jax.tree.map(lambda a: a[1:] - a[:-1], t) for t in (u, v))
    angle = layer_angles_deg if per_layer else angle_deg
    return np.asarray(jax.vmap(angle)(u, v))


def plot_update_angles(
    u, v=None, *, params=False, per_layer=False, steps=None, ax=None, label=None
):
    """The angle between two rules' updates over training (e.g. feedback alignment against
    backprop, Lillicrap et al. 2016, Fig. 2): 0 deg the same direction, 90 deg orthogonal.

    ``u``, ``v``: two sequences of updates or, with ``params=True``, of parameters (see
    ``update_angles``); or ``u`` alone: angles already computed, (K,) or (K, layers).
    ``per_layer``: one line per layer. ``steps``: the x values (default 0 ... K - 1).
    Returns the axes."""
    angles = (
        np.asarray(u, dtype=float)
        if v is None
        else update_angles(u, v, params=params, per_layer=per_layer)
    )
    if angles.ndim not in (1, 2):
        raise ValueError(f"angles must have shape (K,) or (K, layers), got {angles.shape}")
    x = np.arange(len(angles)) if steps is None else np.asarray(steps)
    if x.shape != angles.shape[:1]:
        raise ValueError(
            f"steps has shape {x.shape}; the {len(angles)} angles need ({len(angles)},)"
        )
    with style():
        ax = _axes(ax)
        if angles.ndim == 1:
            ax.plot(x, angles, lw=1.5, label=label)
        else:
            for l in range(angles.shape[1]):
                ax.plot(x, angles[:, l], lw=1.5, label=_join(label, f"layer {l + 1}"))
        ax.set_xlabel("step n")
        ax.set_ylabel("angle between updates (deg)")
        ax.set_ylim(bottom=0.0)
        if label is not None or angles.ndim == 2:
            ax.legend()
    return ax


SPREADS = ("std", "range", None)


def plot_sweep(
    xs,
    ys,
    *,
    ax=None,
    label=None,
    logx=False,
    logy=False,
    spread="std",
    xlabel=None,
    ylabel=None,
    marker="o",
):
    """A quantity against a swept parameter: x = the swept values (M,), y = one result per
    member (M,) or per member and seed (M, S). With seeds the line is the mean over seeds and
    ``spread`` shades mean +- std ("std"), min ... max ("range"), or nothing (None). Points
    are drawn in increasing x; a NaN (a diverged member) leaves a gap. ``logx``, ``logy``: log
    axes. Returns the axes."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs.ndim != 1 or ys.ndim not in (1, 2) or len(ys) != len(xs):
        raise ValueError(
            f"xs must be (M,) and ys (M,) or (M, seeds) with the same M, got {xs.shape} and "
            f"{ys.shape}"
        )
    if spread not in SPREADS:
        raise ValueError(f"unknown spread {spread!r}; valid: 'std', 'range', None")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    mean = ys if ys.ndim == 1 else ys.mean(axis=1)
    with style():
        ax = _axes(ax)
        (line,) = ax.plot(xs, mean, marker=marker, ms=4, lw=1.5, label=label)
        if ys.ndim == 2 and spread is not None:
            if spread == "std":
                sd = ys.std(axis=1)
                low, high = mean - sd, mean + sd
            else:
                low, high = ys.min(axis=1), ys.max(axis=1)
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, lw=0)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        if xlabel is not None:
            ax.set_xlabel(xlabel)
        if ylabel is not None:
            ax.set_ylabel(ylabel)
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
    "plot_update_angles",
    "plot_sweep",
    "update_angles",
    "plot_mode_strengths",
    "plot_singular_values",
    "image_data_label",
]
