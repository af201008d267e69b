"""stats["nfev"], computed in the graph from the step counts and each solver's tableau,
equals an exact count of the evaluations (EvaluationCounter, a per-call host callback)."""

import jax.numpy as jnp
import pytest

import dynlearn
from dynlearn.core import EvaluationCounter


def rotation_decay(t, y, args):
    """A smooth field with rejected steps at loose tolerance (oscillation + decay)."""
    return jnp.stack([-0.1 * y[0] + 5.0 * y[1], -5.0 * y[0] - 0.1 * y[1]])


EXPLICIT = ["heun", "midpoint", "ralston", "bosh3", "tsit5", "dopri5", "dopri8"]


# fixed steps: one solver per kind of tableau (no FSAL, FSAL, high order); the adaptive count
# (accepted and rejected steps, FSAL reuse) is checked for every solver
CASES = [(m, True) for m in EXPLICIT] + [(m, False) for m in ("heun", "bosh3", "dopri8")]


@pytest.mark.parametrize("method, adaptive", CASES)
def test_nfev_equals_the_exact_count(method, adaptive):
    counter = EvaluationCounter()
    kwargs = {"rtol": 1e-3, "atol": 1e-6} if adaptive else {"dt": 0.05}
    sol = dynlearn.solve(
        counter.wrap(rotation_decay), jnp.array([1.0, 0.0]), 3.0, method=method, **kwargs
    )
    assert int(sol.stats["nfev"]) == counter.read()
    if adaptive and method == "bosh3":
        assert int(sol.stats["num_rejected_steps"]) > 0  # the count includes rejected steps


def test_nfev_euler_and_steady_state_are_exact():
    counter = EvaluationCounter()
    sol = dynlearn.solve(
        counter.wrap(rotation_decay), jnp.array([1.0, 0.0]), 1.0, method="euler", dt=0.01
    )
    assert int(sol.stats["nfev"]) == counter.read() == 100
    for method, kw in [("euler", {"dt": 0.01}), ("tsit5", {}), ("dopri5", {"rtol": 1e-3})]:
        counter = EvaluationCounter()
        sol = dynlearn.solve(
            counter.wrap(lambda t, y, args: -y),
            jnp.array([1.0, 0.0]),
            20.0,
            method=method,
            until=dynlearn.steady_state(1e-3),
            **kw,
        )
        assert bool(sol.stats["event"])
        assert int(sol.stats["nfev"]) == counter.read()


def test_nfev_kvaerno5_is_a_lower_bound():
    """The implicit stages' Newton iterations and Jacobians are not visible outside diffrax:
    nfev counts one evaluation per stage, never more than the real count."""
    counter = EvaluationCounter()
    sol = dynlearn.solve(
        counter.wrap(rotation_decay), jnp.array([1.0, 0.0]), 3.0, method="kvaerno5"
    )
    assert 0 < int(sol.stats["nfev"]) <= counter.read()


def test_nfev_scipy_is_scipys_count():
    import numpy as np
    from scipy.integrate import solve_ivp

    sol = dynlearn.solve(rotation_decay, jnp.array([1.0, 0.0]), 3.0, method="RK45")
    ref = solve_ivp(
        lambda t, y: np.asarray(rotation_decay(t, y, None)),
        (0, 3.0),
        [1.0, 0.0],
        rtol=1e-6,
        atol=1e-8,
    )
    assert int(sol.stats["nfev"]) == ref.nfev
