"""scipy's own solve_ivp test problems, run through ``dynlearn.solve`` on every method.

The problems, their tolerances and their pass criteria are those of scipy's test suite
(scipy/integrate/_ivp/tests/test_ivp.py), rewritten from the equations:

* ``rational`` (test_integration, test_t_eval): y1' = y2/t, y2' = y2 (y1 + 2 y2 - 1)/(t (y1 - 1))
  on [5, 9], y(5) = (1/3, 2/9), exact y = (t/(t + 10), 10 t/(t + 10)^2); rtol 1e-3, atol 1e-6,
  scaled error < 5; saved times [5, 5.01, 7, 8, 8.01, 9] returned exactly.
* ``rational-max-step`` (test_max_step): the same with max_step = 0.5 (at least 8 steps).
* ``linear`` (test_integration_const_jac): y' = [[-1, -5], [1, 1]] y on [0, 2], y(0) = (0, 2),
  exact y = (-5 sin 2t, 2 cos 2t + sin 2t); scaled error < 10 (Radau, BDF: scipy's scope).
* ``zero-rhs`` (test_integration_zero_rhs): y' = 0 on [0, 10], y = 1 to 1e-15.
* ``gh-17341`` (test_tbound_respected_small_interval): y' = 2y on [0, 1e-4], undefined beyond.
* ``gh-8848`` (test_tbound_respected_larger_interval): a radial Schrödinger-type system in
  t = log r on [-17, 2], undefined outside, max_step 0.03, rtol 1e-5, atol 1e-8; checked here
  also against scipy's DOP853 at rtol = atol = 1e-12 (scipy's test checks success only).
* ``gh-9198`` (test_tbound_respected_oscillator): a constant field on [100, 200], undefined
  beyond 205, max_step = 100; exact y linear in t.
* ``oscillator-logistic`` (test_args): x' = -2y, y' = 2x, z' = 4 z (1 - z) on [0, 5], rtol 1e-10,
  atol 1e-13, exact (sin 2t, -cos 2t, logistic) to rtol 1e-9, atol 1e-12 (Radau: scipy's scope).

Two criteria are method-specific in scipy and stay so here: they bound a *global* error by
the *local* tolerance. On ``linear`` scipy's own RK45 reaches a scaled error of 13.6 at
t = 1.6 (where y1 passes near 0), kvaerno5 17.4, heun/midpoint/ralston 16.9; on
``oscillator-logistic`` the relative errors are 3e-9 (dopri5, RK45) to 2.5e-7 (BDF).

Every field here is NaN outside [t0, t1] of its problem (scipy's regressions raise there), so
any evaluation outside the interval fails the solve (the solver's non-finite check) and the test.

Differences from scipy's tests: ``solve`` integrates forward only (scipy's [5, 1] spans are
left out); saved times replace dense output (6 per problem, so that each method compiles one
program for every problem: the problem is chosen by an index in ``args``); Euler (fixed
steps, no tolerance) is checked by its first order instead: error(dt) / error(dt/2) ~ 2.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynlearn
from dynlearn.core.methods import DIFFRAX_SOLVERS, SCIPY_METHODS

N = 4  # every state is padded to 4 entries (unused ones have zero derivative)
OMEGA, K, T_FINAL, Z_FINAL = 2.0, 4.0, 5.0, 0.99
Z0 = np.exp(-K * T_FINAL) / ((1 - Z_FINAL) / Z_FINAL + np.exp(-K * T_FINAL))
GH9198_RATE = np.array([1.73307544e-02, 6.49376470e-06, 0.0, 0.0])


def _pad(*parts):
    parts = list(parts) + [jnp.zeros_like(parts[0])] * (N - len(parts))
    return jnp.stack(parts)


def _rational(t, y):
    return _pad(y[1] / t, y[1] * (y[0] + 2 * y[1] - 1) / (t * (y[0] - 1)))


def _linear(t, y):
    return _pad(-y[0] - 5 * y[1], y[0] + y[1])


def _zero(t, y):
    return jnp.zeros_like(y)


def _growth(t, y):
    return _pad(2 * y[0])


def _gh8848(t, y):
    r = jnp.exp(t)
    potential = -11 / r + 10 * r / (0.05 + r**2)
    p, q = y[0], y[1]
    return _pad(r * q, -2.0 * r * ((-0.2 - potential) * p + q / r))


def _gh9198(t, y):
    return jnp.asarray(GH9198_RATE, y.dtype)


def _oscillator_logistic(t, y):
    return _pad(-OMEGA * y[1], OMEGA * y[0], K * y[2] * (1 - y[2]))


BRANCHES = (_rational, _linear, _zero, _growth, _gh8848, _gh9198, _oscillator_logistic)


def field(t, y, args):
    """Problem ``args[0]``; NaN outside [args[1], args[2]] (undefined there)."""
    index, lo, hi = args
    dy = jax.lax.switch(index, BRANCHES, t, y)
    return jnp.where((t < lo) | (t > hi), jnp.nan, dy)


def _gh8848_reference(ts):
    def f(t, y):
        return np.asarray(_gh8848(t, jnp.asarray(y)))

    y0 = np.array([1.0, -11.0, 0.0, 0.0])
    return solve_ivp(f, (-17.0, 2.0), y0, "DOP853", t_eval=ts, rtol=1e-12, atol=1e-12).y.T


@dataclasses.dataclass(frozen=True)
class Problem:
    name: str
    index: int
    t0: float
    t1: float
    y0: tuple
    exact: object  # ts -> (len(ts), N) array
    saveat: tuple
    rtol: float = 1e-3  # scipy's defaults
    atol: float = 1e-6
    max_step: float = np.inf
    bound: float = 5.0  # scipy's bound on the scaled error
    euler_dt: float = 1e-3
    methods: tuple | None = None  # scipy's scope where its criterion is method-specific
    defined_until: float | None = None  # where the field stops being defined (default t1)


def _cols(*cols):
    return lambda ts: np.stack(
        [np.broadcast_to(np.asarray(c(ts), float), np.shape(ts)) for c in cols]
        + [np.zeros(np.shape(ts))] * (N - len(cols)),
        axis=-1,
    )


RATIONAL = _cols(lambda t: t / (t + 10), lambda t: 10 * t / (t + 10) ** 2)
PROBLEMS = [
    Problem("rational", 0, 5.0, 9.0, (1 / 3, 2 / 9), RATIONAL, (5, 5.01, 7, 8, 8.01, 9)),
    Problem(
        "rational-saved-inside", 0, 5.0, 9.0, (1 / 3, 2 / 9), RATIONAL, (5.01, 6, 7, 8, 8.01, 8.5)
    ),
    Problem(
        "rational-max-step",
        0,
        5.0,
        9.0,
        (1 / 3, 2 / 9),
        RATIONAL,
        tuple(np.linspace(5, 9, 6)),
        max_step=0.5,
    ),
    Problem(
        "linear",
        1,
        0.0,
        2.0,
        (0.0, 2.0),
        _cols(lambda t: -5 * np.sin(2 * t), lambda t: 2 * np.cos(2 * t) + np.sin(2 * t)),
        tuple(np.linspace(0, 2, 6)),
        bound=10.0,
        methods=("Radau", "BDF"),
    ),
    Problem(
        "zero-rhs",
        2,
        0.0,
        10.0,
        (1.0, 1.0, 1.0),
        _cols(*(lambda t: 1.0,) * 3),
        tuple(np.linspace(0, 10, 6)),
        euler_dt=0.1,
    ),
    Problem(
        "gh-17341",
        3,
        0.0,
        1e-4,
        (1.0,),
        _cols(lambda t: np.exp(2 * t)),
        tuple(np.linspace(0, 1e-4, 6)),
        euler_dt=1e-6,
    ),
    Problem(
        "gh-8848",
        4,
        -17.0,
        2.0,
        (1.0, -11.0),
        _gh8848_reference,
        tuple(np.linspace(-17, 2, 6)),
        rtol=1e-5,
        atol=1e-8,
        max_step=0.03,
    ),
    Problem(
        "gh-9198",
        5,
        100.0,
        200.0,
        (134.08298555, 138.82348612, 100.0, 0.0),
        lambda ts: (
            np.array([134.08298555, 138.82348612, 100.0, 0.0])
            + np.multiply.outer(np.asarray(ts) - 100.0, GH9198_RATE)
        ),
        tuple(np.linspace(100, 200, 6)),
        max_step=100.0,
        euler_dt=1.0,
        defined_until=205.0,
    ),
    Problem(
        "oscillator-logistic",
        6,
        0.0,
        T_FINAL,
        (0.0, -1.0, Z0),
        _cols(
            lambda t: np.sin(OMEGA * t),
            lambda t: -np.cos(OMEGA * t),
            lambda t: 1 / (((1 - Z0) / Z0) * np.exp(-K * t) + 1),
        ),
        tuple(np.linspace(0, T_FINAL, 6)),
        rtol=1e-10,
        atol=1e-13,
        methods=("Radau",),
    ),
]
ADAPTIVE = [m for m in DIFFRAX_SOLVERS if m != "euler"] + list(SCIPY_METHODS)


def compute_error(y, y_true, rtol, atol):
    """scipy's measure: the rms over components of |y - y_true| / (atol + rtol |y_true|)."""
    e = (y - y_true) / (atol + rtol * np.abs(y_true))
    return np.linalg.norm(e, axis=-1) / np.sqrt(e.shape[-1])


def _solve(problem: Problem, method: str, **kw):
    hi = problem.t1 if problem.defined_until is None else problem.defined_until
    y0 = np.zeros(N)
    y0[: len(problem.y0)] = problem.y0
    return dynlearn.solve(
        field,
        jnp.asarray(y0),
        problem.t1,
        t0=problem.t0,
        method=method,
        saveat=np.asarray(problem.saveat, float),
        args=(jnp.int32(problem.index), problem.t0, hi),
        **kw,
    )


def _relevant(problem: Problem):
    """The padded state's entries that the problem uses (error over these only)."""
    return slice(0, len(problem.y0))


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
@pytest.mark.parametrize("method", ADAPTIVE)
def test_adaptive_method_meets_scipys_criteria(method, problem):
    if problem.methods is not None and method not in problem.methods:
        pytest.skip(f"scipy applies this criterion to {', '.join(problem.methods)} only")
    sol = _solve(problem, method, rtol=problem.rtol, atol=problem.atol, max_step=problem.max_step)
    assert sol.result == dynlearn.RESULTS.successful
    np.testing.assert_array_equal(np.asarray(sol.ts), np.asarray(problem.saveat, float))
    ys = np.asarray(sol.ys)[:, _relevant(problem)]
    y_true = problem.exact(np.asarray(problem.saveat, float))[:, _relevant(problem)]
    if problem.name == "zero-rhs":
        np.testing.assert_allclose(ys, 1.0, rtol=1e-15)
    elif problem.name == "oscillator-logistic":
        np.testing.assert_allclose(ys, y_true, rtol=1e-9, atol=1e-12)
    else:
        e = compute_error(ys, y_true, problem.rtol, problem.atol)
        assert np.all(e < problem.bound), (method, problem.name, e)
    if problem.max_step < np.inf:  # steps of at most max_step cover t1 - t0
        minimum = int(np.ceil((problem.t1 - problem.t0) / problem.max_step))
        accepted = sol.stats.get("num_accepted_steps", sol.stats["num_steps"])
        assert int(accepted) >= minimum


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_euler_converges_at_first_order(problem):
    """Fixed steps dt and dt/2: the error at the saved times halves (order 1) and is small."""
    ts = np.asarray(problem.saveat, float)
    y_true = problem.exact(ts)[:, _relevant(problem)]
    errors = []
    for dt in (problem.euler_dt, problem.euler_dt / 2):
        sol = _solve(problem, "euler", dt=dt)
        np.testing.assert_array_equal(np.asarray(sol.ts), ts)
        errors.append(np.max(np.abs(np.asarray(sol.ys)[:, _relevant(problem)] - y_true)))
    if problem.name in ("zero-rhs", "gh-9198"):  # Euler is exact for a constant field
        assert errors[0] < 1e-12 * np.max(np.abs(y_true))
        return
    order = np.log2(errors[0] / errors[1])
    assert 0.9 < order < 1.1, (problem.name, errors)
    # Euler's global error ~ dt: scipy's scaled error with rtol = atol = dt stays below 5
    e = compute_error(np.asarray(sol.ys)[:, _relevant(problem)], y_true, dt, dt)
    assert np.all(e < problem.bound), (problem.name, e)


class _Times:
    """Records every time at which a field is evaluated (a host callback; a diagnostic)."""

    def __init__(self):
        self.seen = []

    def wrap(self, f):
        def recorded(t, y, args):
            jax.debug.callback(lambda t: self.seen.append(float(t)), t, ordered=True)
            return f(t, y, args)

        return recorded


def test_kvaerno5_never_evaluates_the_field_beyond_t1():
    """gh-17341: y' = 2y on [0, 1e-4]. Kvaerno5's stage c_2 = 1.23 evaluated f at t = 1.23e-4
    (the other methods' stages lie in [0, 1]; the NaN guard above covers them all)."""
    times = _Times()
    sol = dynlearn.solve(
        times.wrap(lambda t, y, a: 2 * y), jnp.ones(1), 1e-4, method="kvaerno5", rtol=1e-3,
        atol=1e-6,
    )  # fmt: skip
    jax.effects_barrier()
    assert times.seen and 0.0 <= min(times.seen) and max(times.seen) <= 1e-4
    np.testing.assert_allclose(np.asarray(sol.y1), np.exp(2e-4), rtol=1e-6)


@pytest.mark.parametrize("method", ["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"])
def test_max_step_and_first_step_pass_through_to_scipy(method):
    """scipy's test_max_step/test_first_step options give scipy's own steps: the same nfev
    and the same solution as solve_ivp with those options."""
    options = dict(rtol=1e-3, atol=1e-6, max_step=0.5, first_step=0.1)
    reference = solve_ivp(
        lambda t, y: np.asarray(_rational(t, jnp.asarray(y)))[:2],
        (5.0, 9.0),
        [1 / 3, 2 / 9],
        method=method,
        **options,
    )
    assert reference.t[1] - 5.0 == pytest.approx(0.1)  # scipy's check of first_step
    sol = dynlearn.solve(
        lambda t, y, a: _rational(t, y)[:2], jnp.array([1 / 3, 2 / 9]), 9.0, t0=5.0,
        method=method, **options,
    )  # fmt: skip
    assert int(sol.stats["num_steps"]) == reference.t.size - 1
    np.testing.assert_allclose(np.asarray(sol.y1), reference.y[:, -1], rtol=1e-12)


def test_first_step_and_max_step_diffrax():
    """diffrax: the first step tried is first_step (its last stage, c = 1, is at t0 +
    first_step) and no step exceeds max_step (at least (t1 - t0)/max_step steps)."""
    times = _Times()
    sol = dynlearn.solve(
        times.wrap(lambda t, y, a: _rational(t, y)[:2]), jnp.array([1 / 3, 2 / 9]), 9.0,
        t0=5.0, method="tsit5", rtol=1e-3, atol=1e-6, first_step=0.1, max_step=0.5,
    )  # fmt: skip
    jax.effects_barrier()
    first = times.seen[: len(DIFFRAX_SOLVERS["tsit5"]().tableau.c) + 1]  # f(t0), 1st step
    assert max(first) == pytest.approx(5.1, rel=1e-12)
    assert int(sol.stats["num_accepted_steps"]) >= 8
    e = compute_error(np.asarray(sol.y1), np.asarray(RATIONAL(9.0))[:2], 1e-3, 1e-6)
    assert e < 5


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(max_step=0.0), "max_step must be a positive number"),
        (dict(first_step=-1.0), "first_step must be a positive number"),
        (dict(first_step=5.0), r"first_step=5 exceeds t1 - t0 = 4"),
        (dict(max_step=0.5, dt=0.1, method="heun"), "the step is fixed: drop max_step"),
        (dict(first_step=0.5, dt=0.1, method="euler"), "the step is fixed: drop first_step"),
        (dict(max_step="0.5"), "max_step must be a real number"),
    ],
)
def test_bad_step_bounds_are_refused(kw, match):
    kw = {"method": "tsit5", **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        dynlearn.solve(lambda t, y, a: -y, jnp.ones(2), 9.0, t0=5.0, **kw)
