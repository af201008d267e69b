"""solve(progress=True): a progress bar on stderr, and the same numbers as without it."""

import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn


def rotation_decay(t, y, args):
    return jnp.stack([-0.1 * y[0] - y[1], y[0] - 0.1 * y[1]])


@pytest.mark.parametrize(
    "method, kw",
    [("euler", {"dt": 0.01}), ("tsit5", {}), ("kvaerno5", {}), ("RK45", {})],
)
def test_progress_bar_appears_and_changes_no_number(method, kw, capfd, monkeypatch):
    monkeypatch.setattr("dynlearn.progress.shown", lambda: True)  # as on a terminal
    ts = np.linspace(0.0, 5.0, 11)
    y0 = jnp.array([1.0, 0.0])
    plain = dynlearn.solve(rotation_decay, y0, 5.0, method=method, saveat=ts, **kw)
    assert "%|" not in capfd.readouterr().err
    shown = dynlearn.solve(rotation_decay, y0, 5.0, method=method, saveat=ts, progress=True, **kw)
    err = capfd.readouterr().err
    assert "100.00%|" in err  # the bar ran to the end
    np.testing.assert_array_equal(np.asarray(shown.ys), np.asarray(plain.ys))
    np.testing.assert_array_equal(np.asarray(shown.ts), np.asarray(plain.ts))
    assert int(shown.stats["num_steps"]) == int(plain.stats["num_steps"])


def test_progress_must_be_a_bool():
    with pytest.raises(TypeError, match="progress must be True or False"):
        dynlearn.solve(rotation_decay, jnp.ones(2), 1.0, progress="yes")


def test_no_bar_where_none_can_be_drawn(capfd):
    """The tests' DYNLEARN_NO_PROGRESS=1 (or stderr a log file): the solve runs as without."""
    sol = dynlearn.solve(rotation_decay, jnp.ones(2), 1.0, method="tsit5", progress=True)
    assert "%|" not in capfd.readouterr().err
    np.testing.assert_array_equal(
        np.asarray(sol.ys), np.asarray(dynlearn.solve(rotation_decay, jnp.ones(2), 1.0).ys)
    )
