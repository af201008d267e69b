"""A backend is one object behind one interface: a toy one, registered here, runs through
``solve`` (its checks, its solve, its failure message) like the built-in ones."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynlearn
from dynlearn.core._backend import AbstractBackend, Problem
from dynlearn.core.counting import all_finite, call_field
from dynlearn.core.methods import BACKENDS, register_backend
from dynlearn.core.solution import RESULTS, Solution


@dataclasses.dataclass(frozen=True)
class ClassicalRK4(AbstractBackend):
    """Fixed steps of the classical Runge-Kutta method (Hairer, Norsett & Wanner I, §II.1):
    k1 = f(t, y), k2 = f(t + h/2, y + h k1/2), k3 = f(t + h/2, y + h k2/2),
    k4 = f(t + h, y + h k3), y' = y + h (k1 + 2 k2 + 2 k3 + k4)/6; global error O(h^4)."""

    def check(self, problem: Problem) -> None:
        if problem.dt is None:
            raise ValueError("method='rk4' takes fixed steps: give dt")

    def solve(self, problem: Problem) -> Solution:
        p = problem
        h = jnp.asarray(p.dt, p.dtype)
        n = round((p.t1 - p.t0) / p.dt)

        def step(i, y):
            t = p.t0 + i * h
            k1 = call_field(p.f, t, y, p.args)
            k2 = call_field(p.f, t + h / 2, y + h / 2 * k1, p.args)
            k3 = call_field(p.f, t + h / 2, y + h / 2 * k2, p.args)
            k4 = call_field(p.f, t + h, y + h * k3, p.args)
            return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        y1 = jax.lax.fori_loop(0, n, step, p.y0)
        ok = all_finite(y1)
        stats = {"num_steps": n, "nfev": 4 * n, "t_final": jnp.asarray(p.t1), "event": False}
        result = RESULTS.where(ok, RESULTS.successful, RESULTS.state_nonfinite)
        ts = jnp.asarray([p.t0, p.t1], p.dtype)
        return Solution(ts, jnp.stack([p.y0, y1]), stats, result, p.method)

    def failure_message(self, sol: Solution, problem: Problem) -> str:
        return f"rk4 diverged before t1={problem.t1:g}: lower dt"


@pytest.fixture
def rk4():
    register_backend("rk4", ClassicalRK4())
    yield "rk4"
    del BACKENDS["rk4"]


def decay(t, y, k):
    return -k * y


def test_a_registered_backend_runs_through_solve_at_its_order(rk4):
    errors = []
    for dt in (0.1, 0.05):
        sol = dynlearn.solve(decay, jnp.ones(2), 1.0, method=rk4, dt=dt, args=1.5)
        assert sol.method == "rk4" and sol.ys.shape == (2, 2)
        errors.append(float(jnp.max(jnp.abs(sol.y1 - math.exp(-1.5)))))
    assert errors[0] < 1e-5
    assert 3.8 < np.log2(errors[0] / errors[1]) < 4.2  # fourth order


def test_a_registered_backend_is_traceable_and_checked(rk4):
    y1 = jax.jit(lambda k: dynlearn.solve(decay, jnp.ones(1), 1.0, method=rk4, dt=0.1, args=k).y1)
    np.testing.assert_allclose(
        np.asarray(y1(2.0)), math.exp(-2.0), rtol=1e-4
    )  # (kh)^4 / 120 ~ 1e-5
    with pytest.raises(ValueError, match="method='rk4' takes fixed steps: give dt"):
        dynlearn.solve(decay, jnp.ones(1), 1.0, method=rk4)  # its own check
    with pytest.raises(ValueError, match="t1=0.0 must be greater than t0"):
        dynlearn.solve(decay, jnp.ones(1), 0.0, method=rk4, dt=0.1)  # solve's shared checks
    with pytest.raises(dynlearn.SolveError, match="rk4 diverged before t1=1: lower dt"):
        dynlearn.solve(decay, jnp.ones(1), 1.0, method=rk4, dt=0.01, args=1e5)  # its message


def test_unknown_method_lists_registered_backends(rk4):
    with pytest.raises(ValueError, match="unknown method 'RK5'.*registered rk4"):
        dynlearn.solve(decay, jnp.ones(1), 1.0, method="RK5")
    with pytest.raises(ValueError, match="'rk4' is already registered"):
        register_backend("rk4", ClassicalRK4())
    with pytest.raises(TypeError, match="must be an AbstractBackend"):
        register_backend("rk5", lambda p: None)


def test_every_method_name_has_a_backend():
    assert set(BACKENDS) == set(dynlearn.core.METHODS)
    assert all(isinstance(b, AbstractBackend) for b in BACKENDS.values())
