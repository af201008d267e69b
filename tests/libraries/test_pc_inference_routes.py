"""The three inference routes reach the same PC equilibrium: Euler (dynlearn.solve), the
adaptive diffrax steady-state solve, and scipy's solve_ivp (docs/references.md §9).

Distances are bounded by the maths: where F is strongly convex with smallest Hessian
eigenvalue lambda_min, ||x - x*|| <= ||grad F(x)|| / lambda_min, so two states with residuals
r_1, r_2 (rms of dx/dt) lie within (r_1 + r_2) / lambda_min (rms) of each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dynlearn.core import SolveError, solve, steady_state
from dynlearn.nn.mlp import MLP
from dynlearn.rules.pc.energy import Clamped, PredictiveCoding
from dynlearn.rules.pc.inference import infer, residual


@pytest.fixture(scope="module")
def problem():
    mlp = MLP((10, 12, 12, 4), ("tanh", "tanh", "identity"), "mse")
    k = jax.random.split(jax.random.PRNGKey(5), 3)
    params = mlp.init(k[0], "xavier_normal")
    x = jax.random.uniform(k[1], (6, 10))
    y = jax.nn.one_hot(jax.random.randint(k[2], (6,), 0, 4), 4)
    pc = PredictiveCoding(mlp, params)
    args = Clamped(x, y)
    return pc, args, pc.initial_states(x)


def _rms_distance(a, b):
    fa, _ = ravel_pytree(a)
    fb, _ = ravel_pytree(b)
    return float(jnp.sqrt(jnp.mean((fa - fb) ** 2)))


def _lambda_min(pc, xs, args):
    flat, unravel = ravel_pytree(xs)
    H = jax.hessian(lambda v: pc.energy(unravel(v), args))(flat)
    return float(np.linalg.eigvalsh(np.asarray(H))[0])


def test_adaptive_reaches_the_euler_equilibrium_with_fewer_evaluations(problem):
    pc, args, xs0 = problem
    tol = 1e-6
    many = infer(pc, xs0, args, method="euler", gamma=0.02, T=20_000, tol=tol)
    adaptive = infer(pc, xs0, args, method="adaptive", tol=tol)
    assert adaptive.residual < tol and many.residual < tol
    lam = _lambda_min(pc, many.xs, args)
    assert lam > 0.05  # the equilibrium is a strict minimum
    assert _rms_distance(adaptive.xs, many.xs) <= 1.05 * (adaptive.residual + many.residual) / lam
    assert adaptive.nfev < many.nfev
    # solve's count: Tsit5 is FSAL, 6 new stages per step, plus the steady-state test after
    # every step, plus one stage and one test at t0 (diffrax's initial step selection costs no
    # evaluation of the field here: see dynlearn/core/_diffrax.py)
    assert adaptive.nfev == 7 * adaptive.num_steps + 2


def test_scipy_and_euler_agree_at_the_equilibrium(problem):
    pc, args, xs0 = problem
    euler = infer(pc, xs0, args, method="euler", gamma=0.1, T=3000)
    for method in ("RK45", "LSODA"):
        ref = infer(pc, xs0, args, method=method, gamma=0.1, T=3000)
        assert ref.residual < 1e-7
        assert _rms_distance(ref.xs, euler.xs) < 1e-7


def test_euler_with_tolerance_stops_at_the_first_step_below_it(problem):
    pc, args, xs0 = problem
    tol = 1e-4
    res = infer(pc, xs0, args, method="euler", gamma=0.1, T=2000, tol=tol)
    n = res.num_steps
    assert res.nfev == n + 1 and res.residual < tol
    # the plain loop (core's euler_steps_until) stops where solve's checked loop stops
    ref = solve(pc, xs0, 200.0, method="euler", dt=0.1, args=args, until=steady_state(tol))
    assert int(ref.stats["num_steps"]) == n
    assert _rms_distance(jax.tree.map(lambda y: y[-1], ref.ys), res.xs) < 1e-14
    same = infer(pc, xs0, args, method="euler", gamma=0.1, T=n)  # dynlearn.solve's Euler
    assert _rms_distance(same.xs, res.xs) < 1e-14
    before = infer(pc, xs0, args, method="euler", gamma=0.1, T=n - 1)
    assert float(residual(pc, before.xs, args)) >= tol
    with pytest.raises(SolveError, match="raise T"):
        infer(pc, xs0, args, method="euler", gamma=0.1, T=n - 1, tol=tol)


def test_newton_reaches_the_euler_equilibrium(problem):
    pc, args, xs0 = problem
    tol = 1e-6
    newton = infer(pc, xs0, args, method="newton", tol=tol)
    assert newton.residual < tol
    assert float(residual(pc, newton.xs, args)) == pytest.approx(newton.residual, rel=1e-12)
    many = infer(pc, xs0, args, method="euler", gamma=0.02, T=20_000, tol=tol)
    lam = _lambda_min(pc, many.xs, args)
    assert _rms_distance(newton.xs, many.xs) <= 1.05 * (newton.residual + many.residual) / lam
    # quadratic convergence (beta = 1: the start is O(1) away): a few steps, each one
    # Jacobian of (12 + 12) JVPs per row, against thousands of Euler steps
    assert newton.num_steps <= 6 and newton.nfev == newton.num_steps + 1
    assert newton.njvp == 24 * newton.num_steps


def test_newton_on_generative_pc_with_missing_pixels():
    """Generative PC (all states free, a decay prior, a mask): rows are independent too."""
    from dynlearn.rules.pc.generative import GenerativePC, Observed

    mlp = MLP((3, 8, 6), ("tanh", "identity"), "mse")
    k = jax.random.split(jax.random.PRNGKey(7), 3)
    gpc = GenerativePC(mlp, mlp.init(k[0], "xavier_normal"), decay=0.5)
    y = jax.random.normal(k[1], (5, 6))
    mask = (jax.random.uniform(k[2], (5, 6)) > 0.3).astype(y.dtype)
    args = Observed(y, mask)
    xs0 = gpc.initial_states(5, y.dtype)
    tol = 1e-8
    newton = infer(gpc, xs0, args, method="newton", tol=tol)
    euler = infer(gpc, xs0, args, method="euler", gamma=0.1, T=50_000, tol=tol)
    flat, unravel = ravel_pytree(euler.xs)
    H = jax.hessian(lambda v: gpc.energy(unravel(v), args))(flat)
    lam = float(np.linalg.eigvalsh(np.asarray(H))[0])
    assert lam > 0.1 and newton.residual < tol
    assert _rms_distance(newton.xs, euler.xs) <= 1.05 * (newton.residual + euler.residual) / lam


def test_newton_errors_say_what_to_change(problem):
    pc, args, xs0 = problem
    with pytest.raises(ValueError, match="give tol"):
        infer(pc, xs0, args, method="newton")
    with pytest.raises(SolveError, match="did not reach residual"):
        infer(pc, xs0, args, method="newton", tol=1e-12, max_steps=1)
    with pytest.raises(ValueError, match="leading axis"):
        infer(pc, xs0, Clamped(args.x, args.y[:3]), method="newton", tol=1e-6)
