"""The training loop: one rule, one optimiser, one schedule of minibatches.

For each step n of the schedule ``data`` (a ``dynlearn.nn.batches.Minibatches``)::

    x_n, y_n, key_n = data.batch(n)                 # rows index[n], key fold_in(key, n)
    L_n, d_n = rule.loss_and_direction(state, x_n, y_n, key_n)
    state, opt_state = optimizer.step(state, d_n, opt_state)

``d_n`` is the rule's estimate of grad L (backprop's exact gradient, feedback alignment's,
predictive coding's after relaxation, ...). With the default optimiser, plain SGD at the
schedule's eta (state <- state - eta d_n), this loop is Euler's method with dt = eta for the
rule's flow d state/dt = -d(t): ``solve(rule, state, t1=num_steps * eta, method="euler",
dt=eta, args=data)`` returns the same state (docs/references.md §8; tested step for step).

``record(state)`` (any pytree of arrays: a test loss, an accuracy, an angle) is evaluated
before the first step and after every ``record_every`` steps; with ``record_step=True`` it is
called as ``record(state, n)``, n the number of steps taken (0, record_every, ...), e.g. to
fold n into the key of a stochastic measurement. Without a ``callback`` the whole
run is one compiled program that also runs inside ``jax.jit``, ``jax.vmap`` and
``dynlearn.sweep`` (the rule's hyperparameters and the schedule's eta are traced, so a sweep
over them compiles once). With ``callback(steps_done, num_steps)`` the run is cut into
compiled chunks of ``record_every`` steps and the callback is called on the host after each:
``progress=True`` passes a bar (``dynlearn.progress.progress_callback``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn._hyperparameters import is_traced
from dynlearn.nn.batches import Minibatches
from dynlearn.nn.optim import SGD, Optimizer
from dynlearn.progress import chunk_length, progress_callback, shown
from dynlearn.rules._rule import AbstractRule
from dynlearn.types import PyTree, State


class Trained(eqx.Module):
    """What ``train`` returns.

    ``state``: the rule's final state; ``opt_state``: the optimiser's (pass it back to continue);
    ``losses`` (num_steps,): the minibatch loss before each step (the data term, without weight
    decay), or, for a rule whose ``loss_and_direction`` returns a pytree in place of the loss
    (the loss with per-step measurements, e.g. a relaxation's energy), that pytree with every
    leaf stacked along a leading axis of num_steps; ``records``: ``record``'s pytree stacked
    along a leading axis of num_steps // record_every + 1 entries (entry 0 before training), or
    None.
    """

    state: State
    opt_state: PyTree
    losses: jax.Array
    records: PyTree = None


def train(
    rule: AbstractRule,
    state: State,
    data: Minibatches,
    optimizer: Optimizer | None = None,
    *,
    num_steps: int | jax.Array | None = None,
    record_every: int | None = None,
    record: Callable[[State], PyTree] | None = None,
    opt_state: PyTree = None,
    callback: Callable[[int, int], None] | None = None,
    record_opt_state: bool = False,
    record_step: bool = False,
    max_steps: int | None = None,
    progress: bool = False,
) -> Trained:
    """Train ``rule`` from ``state`` over the schedule ``data``; returns a ``Trained``.

    ``rule``: a ``dynlearn.rules.AbstractRule`` (every rule of
    ``dynlearn.rules.credit`` and ``dynlearn.rules.pc``; subclass it for a rule of your own).
    ``state``: ``rule.init(params)`` (the parameters themselves for every rule but
    Kolen-Pollack). ``optimizer``: an ``Optimizer`` of ``dynlearn.nn.optim`` (default: SGD at
    ``data.eta``). ``num_steps``: defaults to the schedule's table length; required for a
    full-batch schedule.
    ``opt_state``: continue from a previous run's optimiser state. ``record_opt_state`` and
    ``record_step`` pass more to ``record``: ``record(state, opt_state)`` (a momentum buffer,
    Adam's moments), ``record(state, n)`` with n the steps taken so far (an int32 array), or
    with both ``record(state, opt_state, n)``.

    ``max_steps`` (static) makes the number of steps a traced quantity: the compiled program
    has room for ``max_steps`` steps, and ``num_steps`` (default ``max_steps``; a Python int
    or an int array, e.g. ``round(t1 / eta)`` inside a sweep over learning rates) says how
    many of them act. Steps past ``num_steps`` leave the state and the optimiser's state
    unchanged and have loss NaN; records after ``num_steps`` repeat the final state's. A
    sweep over learning rates at a fixed flow time then compiles one program, not one per
    step count.

    ``callback(steps_done, num_steps)`` is called on the host before the first step and after
    every ``record_every`` steps (the run is then a sequence of compiled chunks, so it cannot
    run inside jit or vmap). ``progress=True`` shows a progress bar (``dynlearn.progress``: on a
    terminal or in a notebook, after 2 s): a callback over chunks of about 1/50 of the run
    (the same numbers bit for bit); where no bar can be drawn it runs as without.

    Examples:
        >>> import jax
        >>> from dynlearn.data.spiral import make_spiral
        >>> from dynlearn.nn import MLP, minibatches
        >>> from dynlearn.rules.credit import feedback_alignment
        >>> x, y = make_spiral(seed=0, n_per_class=100, num_classes=3)
        >>> mlp = MLP((2, 32, 3), ("relu", "softmax"), "softmax_cross_entropy")
        >>> rule = feedback_alignment(mlp, jax.random.key(1))
        >>> data = minibatches(x, y, batch_size=30, epochs=50, eta=0.5)
        >>> run = train(rule, mlp.init(jax.random.key(0)), data)
        >>> bool(run.losses[-10:].mean() < run.losses[:10].mean())
        True
    """
    if not isinstance(data, Minibatches):
        raise TypeError(
            f"data must be a dynlearn.nn.batches.Minibatches (data, index table, eta), got "
            f"{type(data).__name__}; build it with minibatches(x, y, batch_size=..., eta=...)"
        )
    if not isinstance(rule, AbstractRule):
        raise TypeError(
            f"rule must be an AbstractRule (a rule of dynlearn.rules.credit or dynlearn.rules.pc, "
            f"or your subclass of dynlearn.rules.AbstractRule), got {type(rule).__name__}"
        )
    _check_one_learning_rate(data, optimizer)
    _check_data(rule, data)
    if optimizer is None:
        if data.eta is None:
            raise ValueError(
                "no optimizer and no eta: give the schedule a learning rate "
                "(minibatches(..., eta=0.1)) or pass an optimizer (dynlearn.nn.optim.sgd(0.1))"
            )
        optimizer = SGD(data.eta)
    total, limit, every = _step_counts(data, num_steps, max_steps, record_every)
    if progress and callback is not None:
        raise ValueError("give progress=True or a callback, not both")
    if progress and shown():  # chunks only where a bar is drawn
        if record_every is None and record is None:
            every = chunk_length(total)
        callback = progress_callback(desc="train", unit="step")
    if opt_state is None:
        opt_state = optimizer.init(state)
    if record is not None:
        record = _Recorder(record, record_opt_state, record_step)
    stepper = _Stepper(rule, optimizer, data, limit)
    try:
        if callback is None:
            return _train_compiled(stepper, state, opt_state, total, every, record)
        return _train_with_callback(stepper, state, opt_state, total, every, record, callback)
    except TypeError as err:
        if "carry input and carry output must have equal types" not in str(err):
            raise
        raise ValueError(_dtype_mismatch(state, data)) from err


def _step_counts(data: Minibatches, num_steps, max_steps, record_every):
    """(steps in the compiled loop, traced number of acting steps or None, record interval),
    each checked against the schedule."""
    limit = None
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
        total = max_steps
        if num_steps is not None:
            limit = jnp.asarray(num_steps, jnp.int32)
            if not isinstance(limit, jax.core.Tracer) and not 0 <= int(limit) <= max_steps:
                raise ValueError(f"num_steps={num_steps} must lie in [0, max_steps={max_steps}]")
    else:
        total = data.num_steps if num_steps is None else num_steps
        if isinstance(total, jax.Array):
            raise ValueError(
                "num_steps is an array (traced, e.g. in a sweep): give the static bound "
                "max_steps= as well (the compiled loop's length)"
            )
    if total is None:
        raise ValueError("a full-batch schedule (no index table) needs num_steps=")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"num_steps must be a positive integer, got {total!r}")
    if data.num_steps is not None and total > data.num_steps:
        raise ValueError(f"num_steps={total} exceeds the schedule's {data.num_steps} steps")
    every = total if record_every is None else record_every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1 or total % every:
        raise ValueError(
            f"record_every={record_every!r} must be a positive integer dividing the number of "
            f"steps {total}"
        )
    return total, limit, every


def _dtype_mismatch(state, data: Minibatches) -> str:
    """One step changed the dtype of the state: say which dtypes meet and what to cast."""
    state_dtypes = sorted({str(jnp.result_type(a)) for a in jax.tree_util.tree_leaves(state)})
    data_dtypes = sorted({str(jnp.result_type(data.x)), str(jnp.result_type(data.y))})
    return (
        f"one training step changes the state's dtype: the state is {', '.join(state_dtypes)} "
        f"but the data are {', '.join(data_dtypes)}, and the update comes out in the wider "
        f"type. Cast one to the other, e.g. jax.tree.map(lambda a: a.astype(jnp.float64), "
        f"state) or minibatches(x.astype(np.float32), y.astype(np.float32), ...)"
    )


def _check_data(rule, data: Minibatches) -> None:
    """Fail fast on data that cannot train, as ``solve`` does for y0; each concrete array is
    copied to the host once (data traced inside jit or a sweep are left alone).

    NaN or inf in x or y: trained on, they turn every parameter into NaN without a word.
    Targets of the rule's MLP loss: softmax cross-entropy wants probability rows (one-hot:
    entries in [0, 1] summing to 1, one column per output), BCE entries in [0, 1]; a label
    written as a number (7 of 4 classes), a negative or a fractional one-hot row would train
    silently towards nothing."""
    host = {k: np.asarray(getattr(data, k)) for k in ("x", "y") if not is_traced(getattr(data, k))}
    for name, value in host.items():
        finite = np.isfinite(value)
        if not finite.all():
            row = int(np.argwhere(~finite)[0][0])
            raise ValueError(
                f"the data's {name} contains NaN or inf (first in row {row}): training on it "
                f"makes every parameter NaN; clean or drop those rows"
            )
    mlp = getattr(rule, "mlp", None)
    loss = getattr(mlp, "loss_name", None)
    if loss not in ("softmax_cross_entropy", "bce") or "y" not in host:
        return
    y = host["y"]
    n_out = mlp.sizes[-1]
    if y.shape[-1] != n_out:
        raise ValueError(
            f"targets have {y.shape[-1]} columns but the network has {n_out} outputs: give "
            f"one-hot rows (e.g. jax.nn.one_hot(labels, {n_out}))"
        )
    if np.any(y < 0) or np.any(y > 1):
        raise ValueError(f"{loss} targets must lie in [0, 1], got values in [{y.min()}, {y.max()}]")
    if loss == "softmax_cross_entropy" and not np.allclose(y.sum(-1), 1.0, atol=1e-6):
        row = int(np.argmax(np.abs(y.sum(-1) - 1.0)))
        raise ValueError(
            f"softmax cross-entropy targets must be probability rows (one-hot), but row {row} "
            f"sums to {y[row].sum():g}: give jax.nn.one_hot(labels, {n_out})"
        )


def _check_one_learning_rate(data: Minibatches, optimizer) -> None:
    """The schedule's eta is the flow time of one step (what ``solve(method="euler", dt=eta)``
    integrates); an optimiser with a different learning rate would train at its own while the
    schedule's time still counts eta per step. Refuse the pair where both are concrete, as
    ``solve`` refuses a dt other than the schedule's eta."""
    opt_eta = getattr(optimizer, "eta", None)
    if data.eta is None or opt_eta is None or is_traced(data.eta) or is_traced(opt_eta):
        return
    if not math.isclose(float(data.eta), float(opt_eta), rel_tol=1e-6):
        raise ValueError(
            f"the schedule's eta={float(data.eta):g} (the flow time of one step) differs from "
            f"the optimizer's learning rate {float(opt_eta):g}: give the learning rate once, "
            f"either on the schedule (minibatches(..., eta=...), no optimizer: SGD at that "
            f"eta) or on the optimizer (a schedule without eta)"
        )


class _Stepper(eqx.Module):
    """One training step n: the batch, the rule's direction, the optimiser's update; with a
    ``limit``, steps n >= limit leave everything unchanged and report a NaN loss."""

    rule: Any
    optimizer: Any
    data: Minibatches
    limit: jax.Array | None

    def __call__(self, carry, n):
        state, opt_state = carry
        x, y, key = self.data.batch(n)
        loss, d = self.rule.loss_and_direction(state, x, y, key)
        new = self.optimizer.step(state, d, opt_state)
        if self.limit is None:
            return new, loss
        active = n < self.limit
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, carry)
        loss = jax.tree_util.tree_map(
            lambda v: (
                jnp.where(active, v, jnp.nan)
                if jnp.issubdtype(jnp.result_type(v), jnp.floating)
                else v
            ),
            loss,
        )
        return new, loss


def _chunk(stepper, state, opt_state, first, length):
    """Steps first, ..., first + length - 1 as one ``lax.scan``; returns the carry and losses."""
    steps = first + jnp.arange(length, dtype=jnp.int32)
    return jax.lax.scan(lambda carry, n: stepper(carry, n), (state, opt_state), steps)


class _Recorder(eqx.Module):
    """The user's ``record`` with the arguments it asked for (state[, opt_state][, n])."""

    fn: Callable  # a function (static under jit) or a Module whose arrays are traced
    with_opt_state: bool = eqx.field(static=True)
    with_step: bool = eqx.field(static=True)

    def __call__(self, state, opt_state, n):
        extra = ((opt_state,) if self.with_opt_state else ()) + ((n,) if self.with_step else ())
        return self.fn(state, *extra)


def _recorded(record, state, opt_state, n):
    return None if record is None else record(state, opt_state, n)


@eqx.filter_jit
def _train_compiled(stepper, state, opt_state, total, every, record):
    def chunk(carry, c):
        carry, losses = _chunk(stepper, *carry, c * every, every)
        return carry, (losses, _recorded(record, *carry, (c + 1) * every))

    first = _recorded(record, state, opt_state, jnp.int32(0))
    chunks = jnp.arange(total // every, dtype=jnp.int32)
    (state, opt_state), (losses, recs) = jax.lax.scan(chunk, (state, opt_state), chunks)
    if record is not None:
        recs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, recs)
    losses = jax.tree_util.tree_map(lambda a: a.reshape(-1, *a.shape[2:]), losses)
    return Trained(state, opt_state, losses, recs)


@eqx.filter_jit
def _compiled_chunk(stepper, state, opt_state, first, every, record):
    (state, opt_state), losses = _chunk(stepper, state, opt_state, first, every)
    return state, opt_state, losses, _recorded(record, state, opt_state, first + every)


_compiled_record = eqx.filter_jit(_recorded)


def _train_with_callback(stepper, state, opt_state, total, every, record, callback):
    losses, recs = [], [_compiled_record(record, state, opt_state, jnp.int32(0))]
    callback(0, total)
    for first in range(0, total, every):
        state, opt_state, chunk_losses, rec = _compiled_chunk(
            stepper, state, opt_state, jnp.int32(first), every, record
        )
        losses.append(chunk_losses)
        recs.append(rec)
        callback(first + every, total)
    records = None
    if record is not None:
        records = jax.tree_util.tree_map(lambda *r: jnp.stack(r), *recs)
    losses = jax.tree_util.tree_map(lambda *chunks: jnp.concatenate(chunks), *losses)
    return Trained(state, opt_state, losses, records)


class EpochCurves(eqx.Module):
    """What ``train_epochs`` returns: the ``Trained`` run and its two learning curves, each
    of epochs + 1 entries. ``train_curve``: entry 0 the loss of the initial parameters on the
    whole training set, entry e > 0 the mean of epoch e's minibatch losses; ``test_curve``:
    the loss on the whole test set before training (entry 0) and after each epoch."""

    run: Trained
    train_curve: jax.Array
    test_curve: jax.Array


def _data_loss(rule, state, x, y):
    """The rule's MLP's loss at ``state`` on (x, y)."""
    return rule.mlp.loss_value(rule.params(state), x, y)


_compiled_data_loss = eqx.filter_jit(_data_loss)


def train_epochs(
    rule: Any,
    state: State,
    data: Minibatches,
    optimizer: Optimizer | None = None,
    *,
    epochs: int,
    x_test: jax.Array,
    y_test: jax.Array,
    callback: Callable[[int, int], None] | None = None,
) -> EpochCurves:
    """``train`` over a schedule of ``epochs`` passes (``minibatches(..., epochs=epochs)``)
    with the textbook learning curves (``EpochCurves``): the test loss is ``record``-ed after
    every epoch (``record_every`` = the steps per epoch). ``rule``: a rule with an ``mlp``
    and ``params(state)`` (every rule of ``dynlearn.rules.credit``).

    Examples:
        >>> import jax
        >>> from dynlearn.data.spiral import make_spiral
        >>> from dynlearn.nn import MLP, adam, minibatches
        >>> from dynlearn.rules.credit import Backprop
        >>> x, y = make_spiral(seed=0, n_per_class=100, num_classes=3)
        >>> mlp = MLP((2, 32, 3), ("relu", "softmax"), "softmax_cross_entropy")
        >>> data = minibatches(x, y, batch_size=30, epochs=20)
        >>> curves = train_epochs(Backprop(mlp), mlp.init(jax.random.key(0)), data, adam(1e-2),
        ...                       epochs=20, x_test=x, y_test=y)
        >>> curves.train_curve.shape, curves.test_curve.shape
        ((21,), (21,))
        >>> bool(curves.test_curve[-1] < curves.test_curve[0])
        True
    """
    if data.num_steps is None or data.num_steps % epochs:
        raise ValueError(
            f"epochs={epochs} must divide the schedule's {data.num_steps} steps (build it with "
            f"minibatches(..., epochs={epochs}))"
        )
    run = train(
        rule,
        state,
        data,
        optimizer,
        record_every=data.num_steps // epochs,
        record=jax.tree_util.Partial(_data_loss, rule, x=x_test, y=y_test),
        callback=callback,
    )
    epoch_means = [jnp.mean(losses) for losses in run.losses.reshape(epochs, -1)]
    initial = _compiled_data_loss(rule, state, data.x, data.y)
    return EpochCurves(run, jnp.stack([initial, *epoch_means]), run.records)
