"""Progress bars: one home (``dynlearn.progress``) for the library and the app, drawn only on a
terminal or in a notebook, DYNLEARN_NO_PROGRESS=1 honoured; ``sweep(progress=True)`` moves a
bar over parts of the batch run by one compiled program, with progress=False's numbers.

A terminal is simulated by replacing ``dynlearn.progress._on_terminal`` (pytest's captured
stderr is not one) and the 2 s delay by 0, so a bar is drawn into the captured stderr.
"""

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
import dynlearn.progress as bars

ROOT = Path(__file__).resolve().parents[2]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.delenv("DYNLEARN_NO_PROGRESS", raising=False)
    monkeypatch.setattr(bars, "_on_terminal", lambda: True)
    monkeypatch.setattr(bars, "DELAY_S", 0.0)


def test_a_bar_is_shown_only_where_someone_can_watch_it(monkeypatch):
    monkeypatch.delenv("DYNLEARN_NO_PROGRESS", raising=False)
    monkeypatch.setattr(bars, "_in_notebook", lambda: False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file
    assert not bars.shown()
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert bars.shown()
    monkeypatch.setenv("DYNLEARN_NO_PROGRESS", "1")
    assert not bars.shown()
    monkeypatch.setenv("DYNLEARN_NO_PROGRESS", "0")
    assert bars.shown()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(bars, "_in_notebook", lambda: True)  # tqdm's widget, not stderr
    assert bars.shown()


def test_no_escape_codes_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("DYNLEARN_NO_PROGRESS", raising=False)
    monkeypatch.setattr(bars, "DELAY_S", 0.0)
    for _ in bars.progress(range(3), desc="loop"):
        pass
    with bars.progress_callback(desc="steps") as callback:
        callback(0, 4)
        callback(4, 4)
    assert capsys.readouterr().err == ""


def test_the_app_uses_the_library_bars():
    import dynlearn.app.progress as app

    assert app.progress is bars.progress
    assert app.progress_callback is bars.progress_callback
    assert app.heartbeat is bars.heartbeat


def test_chunk_length_divides_the_run():
    assert bars.chunk_length(100) == 2
    assert bars.chunk_length(97) == 1  # a prime: one step per chunk
    assert bars.chunk_length(1000, parts=50) == 20
    assert bars.chunk_length(30) == 1


def _sweep_twice(fn, xs, **kwargs):
    plain = dynlearn.sweep(fn, xs, **kwargs)
    with dynlearn.count_compilations() as compiled:
        shown = dynlearn.sweep(fn, xs, progress=True, **kwargs)
    return plain, shown, compiled.compilations


def _decay(y0):
    """An adaptive solve (a while loop per member): ``"map"`` on CPU, members one by one."""
    sol = dynlearn.solve(lambda t, y, args: -y * y * jnp.cos(y), y0, 3.0, rtol=1e-8, atol=1e-10)
    return sol.ys[-1]


def test_sweep_progress_one_program_and_the_same_bits(terminal, capsys):
    xs = jnp.linspace(0.5, 3.0, 23)  # 8 parts of 3 members, the last padded with 1 copy
    plain, shown, compilations = _sweep_twice(_decay, xs)
    assert compilations == 1
    assert shown.shape == plain.shape == (23,)
    np.testing.assert_array_equal(np.asarray(shown), np.asarray(plain))
    assert "sweep" in capsys.readouterr().err  # the bar was drawn


def _matrix_power(a):
    """Vmapped (no loop): a matrix product whose summation order may follow the batch size."""
    m = jnp.array([[0.9, 0.2, 0.0], [0.1, 0.8, 0.3], [0.0, 0.4, 0.7]]) * a
    return {"m8": jnp.linalg.matrix_power(m, 8), "trace": jnp.trace(m)}


@pytest.mark.parametrize("chunk_size", [None, 2])
def test_sweep_progress_vmapped_agrees_to_rounding(terminal, capsys, chunk_size):
    xs = jnp.linspace(0.5, 1.5, 17)
    plain, shown, compilations = _sweep_twice(_matrix_power, xs, chunk_size=chunk_size)
    assert compilations == 1
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(shown), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-13, atol=0)
    assert "member" in capsys.readouterr().err


def test_sweep_progress_without_a_terminal_is_the_plain_sweep(capsys):
    xs = jnp.linspace(0.5, 3.0, 5)
    np.testing.assert_array_equal(
        dynlearn.sweep(_decay, xs, progress=True), dynlearn.sweep(_decay, xs)
    )
    assert capsys.readouterr().err == ""


def test_train_progress_draws_a_bar_with_the_same_numbers(terminal, capsys):
    from dynlearn.data.spiral import make_spiral
    from dynlearn.nn import MLP, minibatches
    from dynlearn.rules.credit import Backprop

    x, y = make_spiral(seed=0, n_per_class=20, num_classes=2)
    mlp = MLP((2, 8, 2), ("tanh", "softmax"), "softmax_cross_entropy")
    data = minibatches(x, y, batch_size=10, epochs=3, eta=0.1)
    p0 = mlp.init(jax.random.key(0))
    plain = dynlearn.train(Backprop(mlp), p0, data)
    shown = dynlearn.train(Backprop(mlp), p0, data, progress=True)
    np.testing.assert_array_equal(plain.losses, shown.losses)
    for a, b in zip(jax.tree.leaves(plain.state), jax.tree.leaves(shown.state), strict=True):
        np.testing.assert_array_equal(a, b)
    assert "step" in capsys.readouterr().err


SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import dynlearn
    import dynlearn.progress as bars
    bars._on_terminal = lambda: True
    assert len(jax.devices()) == 4

    def member(x):  # one by one on each device: the same bits in any grouping
        return {"y": jnp.sin(x) * jnp.exp(-x), "z": jnp.stack([x, x * x])}

    for n in (10, 12):  # 10: the last part padded; 12: the result spread over the devices
        fn = lambda x: member(x)  # a new function: compiled afresh
        xs = jnp.linspace(0.0, 2.0, n)
        with dynlearn.count_compilations() as once:
            plain = dynlearn.sweep(fn, xs, strategy="map")
        with dynlearn.count_compilations() as parts:
            shown = dynlearn.sweep(fn, xs, strategy="map", progress=True)
        for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(shown)):
            assert np.array_equal(np.asarray(a), np.asarray(b)), n
            assert len(b.sharding.device_set) == (4 if n % 4 == 0 else 1), (n, b.sharding)
        print(n, once.compilations, parts.compilations)
    """
)


def test_sweep_progress_over_four_host_devices():
    env = dict(os.environ, PYTHONPATH=str(ROOT), DYNLEARN_NO_PROGRESS="0")
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    done = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Parts of 4 members compile what one batch compiles: the sharded program and one
    # un-dealing program per output leaf (2), once for all the parts; for n = 12 the
    # un-dealing programs of n = 10's parts are reused.
    assert done.stdout.split() == ["10", "3", "3", "12", "3", "1"], done.stdout
