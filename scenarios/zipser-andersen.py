"""Zipser & Andersen (1988): a backprop network learns retinal -> head-centred coordinates; do
its hidden units develop gain fields like those of posterior parietal neurons (area 7a)?

Finding (the stored metrics): here they do not. The network localises the stimulus to ~1.3°,
but an additive model (eye position shifts a unit's response) fits its hidden units better
than the planar gain-field model (eye position scales it): median R² 0.835 against 0.824, the
gain model winning on 6 of 16 units. The paper's eye code, 32 monotonic ramp units instead of
2 linear ones (``compare_eye_units``), does not change that: 0.799 against 0.707, 4 of 16 units.
Most units are sigmoid ramps whose operating point eye position moves. (The paper's gain fields
were read from response plots; it did not fit an additive alternative.)

Task (docs/references.md §12, ``dynlearn.data.zipser_andersen``): input an 8x8 retinal map of a
Gaussian stimulus (1/e full width 15°, sigma = sqrt(2) w / 4) at retinal position r plus two
linear eye-position units e / 20°; target the same kind of 8x8 map at the head-centred
position h = r + e. Positions: e ~ U[-20°, 20°]^2, r uniform on the part of [-30°, 30°]^2
that keeps h inside [-30°, 30°]^2.

Network: 66-16-64, sigmoid hidden and output units, binary cross-entropy
-sum_k [y_k log y_hat_k + (1 - y_k) log(1 - y_hat_k)] (mean over examples), Xavier-normal
init. Trained by the hand-written backward pass (``MLP.backward``, delta_L = y_hat - y) and
Adam with bias correction (``dynlearn.nn.optim.adam``) at the reference settings: eta = 1e-4,
batch 100, 5000 training examples, reshuffled each epoch; 2000 epochs (100 000 steps, 20-40 s
on a 2-core machine), which that small rate needs: the loss sits on a plateau at the
mean-map level until epoch ~200. Quick mode uses eta = 1e-2 for 40 epochs (2 % of the steps;
Adam's step is ~eta per coordinate, so the larger rate moves faster) and reaches a position
error of about 2° instead of 1.25°.

Metrics (on 1000 fresh test examples):
* ``test_bce``: the loss above. For scale: ``bce_floor`` is the entropy of the soft targets
  (the least possible BCE) and ``bce_mean_map`` the BCE of always predicting the mean target.
* ``position_error_deg``: mean Euclidean distance between the decoded peaks of output and
  target, decoded by a log-parabola fit to the row and column marginals around their maxima
  (exact for a sampled Gaussian; ``ZipserAndersen.decode``).
* ``gain_field_r2``: median over hidden units of the R^2 of the planar gain-field model
  h_j(r, e) ≈ g_j(r) (beta_0 + beta_1 e_x + beta_2 e_y), fitted by least squares (closed form,
  ``planar_gain_fit``) to the unit's responses on a 5x5 grid of retinal positions times a 5x5
  grid of eye positions, both over [-15°, 15°]^2 (so h stays inside the trained range).
  R^2 alone does not prove a gain field: a response that is nearly constant plus small changes
  is fitted well by either model. So the same responses are also fitted by the additive model
  h_j(r, e) ≈ f_j(r) + k_x e_x + k_y e_y (``additive_r2``, median over units; eye position
  shifts the response instead of scaling it), and both fits are repeated on the untrained
  network (``gain_field_r2_init``, ``additive_r2_init``). A gain field shows as
  gain_field_r2 > additive_r2; ``gain_beats_additive_fraction`` counts the units where it is.
* ``eye_code_comparison``: the same R² medians, fraction, position error and test BCE for the
  figure's network (key ``eye_units``) and for a network trained on the same examples with each
  eye code in ``compare_eye_units`` (default 32 ramps, the paper's code).

Figure: one test example (retina with the gaze direction, output, target with decoded peaks),
the learning curves, and for every hidden unit its response against horizontal retinal
position at five horizontal eye positions (Andersen et al. 1985 style): curves that are scaled
copies of one another are a gain field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from dynlearn import train_epochs
from dynlearn.app.progress import progress_callback
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    checked_elsewhere,
    nonnegative,
    positive,
    require_training_progress,
    size,
)
from dynlearn.data import ZipserAndersen, additive_fit_r2, planar_gain_fit
from dynlearn.nn import MLP, adam, minibatches
from dynlearn.rules.credit import Backprop

EYE_CODE = checked_elsewhere(
    "2 (linear units) or a multiple of 4 that is >= 8 (ramps)", "0", "3", "4", "-8", "4100"
)


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    n_train: Annotated[int, size(max=1_000_000)] = 5000
    n_test: Annotated[int, size(max=1_000_000)] = 1000
    hidden: Annotated[int, size(max=4096)] = 16
    eta: Annotated[float, positive(max=1.0)] = 1e-4  # Adam: a step moves a weight by ~eta
    batch_size: Annotated[int, size(max=1_000_000)] = 100
    epochs: Annotated[int, size(max=100_000)] = 2000
    eval_every: Annotated[int, positive()] = 20  # epochs between the test curve's points
    width: Annotated[float, positive()] = 15.0  # 1/e full width of the stimulus, degrees
    position_range: Annotated[float, positive()] = 30.0  # |r|, |h| <= this, degrees
    eye_range: Annotated[float, positive()] = 20.0  # |e| <= this, degrees
    # the figure's network: 2 linear units, or 4K rectified ramps (K >= 2)
    eye_units: Annotated[int, EYE_CODE] = 2
    # further eye codes, trained on the same data
    compare_eye_units: Annotated[tuple[int, ...], EYE_CODE] = (32,)
    # gain-field probe grid over [-this, this]^2 (retina and eye)
    probe_range: Annotated[float, positive()] = 15.0
    probe_points: Annotated[int, size(max=1000)] = 5
    example: Annotated[int, nonnegative()] = 0  # which test example the figure shows


QUICK = {"eta": 1e-2, "epochs": 40, "eval_every": 5}


def bce_per_example(y_hat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-sum_k [y_k log y_hat_k + (1 - y_k) log(1 - y_hat_k)] for each row."""
    y_hat = np.clip(y_hat, 1e-12, 1 - 1e-12)
    return -np.sum(y * np.log(y_hat) + (1 - y) * np.log1p(-y_hat), axis=1)


@jax.jit(static_argnums=0)
def _hidden(mlp: MLP, params, x):
    """The hidden layer's activity on the inputs x (one compiled program per shape)."""
    return mlp.forward(params, x)[1]


@jax.jit(static_argnums=0)
def _predict_and_loss(mlp: MLP, params, x, y):
    """(outputs on x, the loss on (x, y)) as one compiled program."""
    return mlp.predict(params, x), mlp.loss_value(params, x, y)


def hidden_responses(mlp: MLP, params, za: ZipserAndersen, retinal, eye) -> np.ndarray:
    """Hidden activity h[a, b, j] of unit j for retinal position a and eye position b."""
    R = np.repeat(retinal, len(eye), axis=0)
    E = np.tile(eye, (len(retinal), 1))
    h = _hidden(mlp, params, jnp.asarray(za.encode(R, E)))
    return np.asarray(h).reshape(len(retinal), len(eye), -1)


def train_and_probe(config: Config, eye_units: int) -> dict:
    """Train the network with ``eye_units`` eye-position units and probe its hidden units."""
    za = ZipserAndersen(
        width=config.width,
        position_range=config.position_range,
        eye_range=config.eye_range,
        eye_units=eye_units,
    )
    train = za.sample([config.seed, 0], config.n_train)
    test = za.sample([config.seed, 1], config.n_test)
    mlp = MLP((za.n_inputs, config.hidden, za.n_outputs), ("sigmoid", "sigmoid"), "bce")
    params = mlp.init(jax.random.PRNGKey(config.seed), "xavier_normal")
    params_init = params
    x, y = jnp.asarray(train.x), jnp.asarray(train.y)
    x_test, y_test = jnp.asarray(test.x), jnp.asarray(test.y)
    batches = minibatches(
        x, y, batch_size=config.batch_size, epochs=config.epochs, seed=config.seed
    )
    curves = train_epochs(
        Backprop(mlp),
        params,
        batches,
        adam(config.eta),
        epochs=config.epochs,
        x_test=x_test,
        y_test=y_test,
        callback=progress_callback(f"zipser-andersen steps ({eye_units} eye units)"),
    )
    params = curves.run.state
    require_training_progress(curves.train_curve, "the training loss", "eta")
    train_curve = np.asarray(curves.train_curve)[1:].tolist()  # epoch means (no init entry)
    # the test loss every eval_every epochs and after the last
    test_epochs = [
        e for e in range(1, config.epochs + 1) if e % config.eval_every == 0 or e == config.epochs
    ]
    test_curve = np.asarray(curves.test_curve)[test_epochs].tolist()

    out, test_bce = map(np.asarray, _predict_and_loss(mlp, params, x_test, y_test))
    errors = np.linalg.norm(za.decode(out) - za.decode(test.y), axis=1)

    grid = np.linspace(-config.probe_range, config.probe_range, config.probe_points)
    probe = np.array([[gx, gy] for gy in grid for gx in grid])  # (points^2, 2)
    H = hidden_responses(mlp, params, za, probe, probe)
    H0 = hidden_responses(mlp, params_init, za, probe, probe)
    units = range(config.hidden)
    r2 = np.array([planar_gain_fit(H[:, :, j], probe).r2 for j in units])
    r2_add = np.array([additive_fit_r2(H[:, :, j], probe) for j in units])
    r2_init = np.array([planar_gain_fit(H0[:, :, j], probe).r2 for j in units])
    r2_add_init = np.array([additive_fit_r2(H0[:, :, j], probe) for j in units])

    return {
        "za": za,
        "mlp": mlp,
        "params": params,
        "train": train,
        "test": test,
        "out": out,
        "errors": errors,
        "grid": grid,
        "r2": r2,
        "r2_add": r2_add,
        "r2_init": r2_init,
        "r2_add_init": r2_add_init,
        "test_bce": float(test_bce),
        "train_curve": train_curve,
        "test_epochs": test_epochs,
        "test_curve": test_curve,
        "steps": int(batches.num_steps),
    }


def run(config: Config) -> dict:
    main = train_and_probe(config, config.eye_units)
    za, mlp, params, train, test = (main[k] for k in ("za", "mlp", "params", "train", "test"))
    out, errors, grid, train_curve = main["out"], main["errors"], main["grid"], main["train_curve"]
    r2, r2_add, r2_init, r2_add_init = (main[k] for k in ("r2", "r2_add", "r2_init", "r2_add_init"))
    comparison = {}
    for units in (config.eye_units, *config.compare_eye_units):
        probe = main if units == config.eye_units else train_and_probe(config, units)
        comparison[str(units)] = {
            "gain_field_r2": float(np.median(probe["r2"])),
            "additive_r2": float(np.median(probe["r2_add"])),
            "gain_beats_additive_fraction": float(np.mean(probe["r2"] > probe["r2_add"])),
            "position_error_deg": float(probe["errors"].mean()),
            "test_bce": probe["test_bce"],
        }

    # Andersen-style curves: response vs horizontal retinal position, at horizontal eye
    # positions `grid` (e_y = 0), along the retinal row r_y in `grid` where the unit varies most
    r_x = np.linspace(-config.probe_range, config.probe_range, 31)
    retinal_fine = np.array([[rx, ry] for ry in grid for rx in r_x])
    eye_x = np.column_stack([grid, np.zeros_like(grid)])
    curves = hidden_responses(mlp, params, za, retinal_fine, eye_x)
    curves = curves.reshape(len(grid), len(r_x), len(grid), config.hidden)  # [r_y, r_x, e_x, j]
    spread = curves.max(axis=(1, 2)) - curves.min(axis=(1, 2))  # (r_y, j)
    best_row = np.argmax(spread, axis=0)
    gain_curves = np.stack([curves[best_row[j], :, :, j] for j in range(config.hidden)])

    mean_map = np.asarray(train.y).mean(axis=0, keepdims=True)
    k = config.example
    metrics = {
        "test_bce": main["test_bce"],
        "position_error_deg": float(errors.mean()),
        "gain_field_r2": float(np.median(r2)),
        "additive_r2": float(np.median(r2_add)),
        "gain_beats_additive_fraction": float(np.mean(r2 > r2_add)),
        "gain_field_r2_init": float(np.median(r2_init)),
        "additive_r2_init": float(np.median(r2_add_init)),
        "train_bce_last_epoch": train_curve[-1],
        "bce_floor": float(bce_per_example(test.y, test.y).mean()),
        "bce_mean_map": float(
            bce_per_example(np.broadcast_to(mean_map, test.y.shape), test.y).mean()
        ),
        "position_error_median_deg": float(np.median(errors)),
        "gain_field_r2_per_unit": r2,
        "steps": main["steps"],
        "eye_code_comparison": comparison,
    }
    return {
        "metrics": metrics,
        "train_curve": np.array(train_curve),
        "test_epochs": np.array(main["test_epochs"]),
        "test_curve": np.array(main["test_curve"]),
        "example_retina": test.x[k, : za.n_outputs],
        "example_eye": test.eye[k],
        "example_output": out[k],
        "example_target": test.y[k],
        "example_decoded": za.decode(out[k : k + 1])[0],
        "example_head": test.head[k],
        "example_retinal": test.retinal[k],
        "r_x": r_x,
        "eye_x": grid,
        "row_y": grid[best_row],
        "gain_curves": gain_curves,  # (unit, r_x, e_x)
        "r2": r2,
        "r2_additive": r2_add,
        "extent": za.extent,
        "n_bins": za.n_bins,
    }


def _plot_example(top, axes, results: dict) -> None:
    """The shown test example: the retina, the network's output and the head-centred target
    map (``axes``: three axes of the subfigure ``top``)."""
    ext, n = results["extent"], results["n_bins"]
    maps = [
        ("retina (input)", results["example_retina"]),
        ("network output", results["example_output"]),
        ("target: head-centred map", results["example_target"]),
    ]
    e, r, h = results["example_eye"], results["example_retinal"], results["example_head"]
    for ax, (title, v) in zip(axes, maps, strict=True):
        im = ax.imshow(
            v.reshape(n, n),
            origin="lower",
            extent=(-ext, ext, -ext, ext),
            cmap="viridis",
            vmin=0,
            vmax=1,
        )
        ax.set(title=title, xlabel="horizontal (deg)", ylabel="vertical (deg)")
        ax.grid(False)
    axes[0].plot(*r, "w+", ms=10, mew=2, label=f"stimulus r = ({r[0]:.0f}, {r[1]:.0f})")
    axes[0].annotate(
        "",
        xy=(e[0], e[1]),
        xytext=(0, 0),
        arrowprops={"arrowstyle": "->", "color": "orange", "lw": 2},
    )
    axes[0].plot([], [], color="orange", lw=2, label=f"eye e = ({e[0]:.0f}, {e[1]:.0f})")
    axes[0].legend(loc="upper left", fontsize=7, labelcolor="white", handlelength=1.2)
    d = results["example_decoded"]
    axes[1].plot(*d, "rx", ms=10, mew=2, label=f"decoded ({d[0]:.1f}, {d[1]:.1f})")
    axes[1].legend(loc="upper left", fontsize=7, labelcolor="white")
    axes[2].plot(*h, "w+", ms=10, mew=2, label=f"h = r + e = ({h[0]:.1f}, {h[1]:.1f})")
    axes[2].legend(loc="upper left", fontsize=7, labelcolor="white")
    top.colorbar(im, ax=axes, shrink=0.8, label="activity")


def _plot_learning_curve(ax, results: dict) -> None:
    """Train and test BCE per epoch against the mean-map predictor and the entropy floor."""
    m = results["metrics"]
    epochs = np.arange(1, len(results["train_curve"]) + 1)
    ax.plot(epochs, results["train_curve"], label="train (epoch mean)")
    ax.plot(results["test_epochs"], results["test_curve"], "o-", ms=2, label="test")
    ax.axhline(m["bce_mean_map"], color="grey", ls=":", label="predict mean map")
    ax.axhline(m["bce_floor"], color="k", ls="--", lw=0.8, label="floor (target entropy)")
    ax.set(
        xscale="log",
        xlabel="epoch",
        ylabel="BCE per example",
        title=f"learning curve\ntest BCE {m['test_bce']:.2f}, "
        f"position error {m['position_error_deg']:.2f}°",
    )
    ax.legend()


def _plot_gain_fields(bottom, results: dict) -> None:
    """One panel per hidden unit: response against retinal x at five eye positions."""
    import matplotlib.pyplot as plt

    m = results["metrics"]
    curves, r_x, eye_x = results["gain_curves"], results["r_x"], results["eye_x"]
    units = curves.shape[0]
    cols = 4
    rows = -(-units // cols)
    gaxes = bottom.subplots(rows, cols, sharex=True, squeeze=False)
    colours = plt.cm.coolwarm(np.linspace(0, 1, len(eye_x)))
    for j, ax in enumerate(gaxes.flat):
        if j >= units:
            ax.axis("off")
            continue
        for i, ex in enumerate(eye_x):
            ax.plot(r_x, curves[j, :, i], color=colours[i], label=f"eye x = {ex:+.1f}°")
        ax.set_title(
            f"unit {j + 1} (r_y = {results['row_y'][j]:+.1f}°): R² gain "
            f"{results['r2'][j]:.2f}, additive {results['r2_additive'][j]:.2f}",
            fontsize=8,
        )
        if j % cols == 0:
            ax.set_ylabel("response")
        if j // cols == rows - 1:
            ax.set_xlabel("retinal x (deg)")
    handles, labels = gaxes.flat[0].get_legend_handles_labels()
    bottom.legend(handles, labels, loc="outside lower center", ncol=len(eye_x))
    others = "; ".join(
        f"{k} eye units: {c['gain_field_r2']:.2f} vs {c['additive_r2']:.2f}"
        for k, c in list(m["eye_code_comparison"].items())[1:]
    )
    bottom.suptitle(
        "Hidden units: response vs retinal position at five eye positions. Median R² of the "
        f"planar gain model {m['gain_field_r2']:.2f}, of the additive model "
        f"{m['additive_r2']:.2f} (untrained net: {m['gain_field_r2_init']:.2f}, "
        f"{m['additive_r2_init']:.2f})" + (f"\nsame task, {others}" if others else ""),
        fontsize=10,
    )


def plot(results: dict, config: Config):
    import matplotlib.pyplot as plt

    import dynlearn.plotting  # noqa: F401  (house style)

    fig = plt.figure(figsize=(13, 11.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 2.1])
    axes = top.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.5]})
    _plot_example(top, axes[:3], results)
    _plot_learning_curve(axes[3], results)
    _plot_gain_fields(bottom, results)
    fig.suptitle("Zipser–Andersen: retinal + eye position -> head-centred position", fontsize=12)
    return fig


def check(config: Config) -> list[str]:
    """Minibatch, evaluation grid and shown example within the data; the data must fit."""
    if config.batch_size > config.n_train:
        raise ValueError(f"batch_size={config.batch_size} must be <= n_train={config.n_train}")
    if config.eval_every > config.epochs:
        raise ValueError(f"eval_every={config.eval_every} must be <= epochs={config.epochs}")
    if config.example >= config.n_test:
        raise ValueError(f"example={config.example} must be < n_test={config.n_test}")
    _check_eye_codes(config)
    return []


def _check_eye_codes(config: Config) -> None:
    codes = [("eye_units", config.eye_units)]
    codes += [("compare_eye_units", units) for units in config.compare_eye_units]
    for key, units in codes:
        if not (units == 2 or (8 <= units <= 4096 and units % 4 == 0)):
            raise ValueError(
                f"{key}: {units} eye-position units is not valid: it must be 2 (linear units) "
                f"or a multiple of 4 in 8..4096 (ramps: axes x slopes x thresholds; the paper "
                f"used 32)"
            )


def memory(config: Config) -> dict[str, float]:
    """The data set and its activations, the minibatch table, and the probe grids (every
    retinal position of the grid at every eye position: probe_points^4 inputs)."""
    _check_eye_codes(config)  # the network's inputs depend on them
    za = ZipserAndersen(
        width=config.width,
        position_range=config.position_range,
        eye_range=config.eye_range,
        eye_units=max(config.eye_units, *config.compare_eye_units),
    )
    rows = config.n_train + config.n_test
    width = za.n_inputs + za.n_outputs + config.hidden
    points = config.probe_points
    return {
        "the data set and its activations ((n_train + n_test) x hidden)": 2 * rows * width,
        "a minibatch's activations (batch_size x hidden)": 4 * config.batch_size * width,
        "the minibatch table (epochs x n_train)": config.epochs * config.n_train,
        "the gain-field probes (probe_points^4 x hidden)": 2 * points**4 * width,
        "the Andersen curves (probe_points^2 x 31 x hidden)": 2 * points**2 * 31 * width,
    }


scenario = Scenario(
    name="zipser-andersen",
    description="Zipser-Andersen: retina + eye -> head-centred map; hidden units fit an additive "
    "model better than a gain field",
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
