"""solve(..., until=steady_state(tol)) stops where the rms of the field first drops below tol.

For dy/dt = -lam y the field is -lam y(t) = -lam e^{-lam t} y0, so rms(f) < tol from
t* = ln(lam rms(y0) / tol) / lam on; Euler's iterates are y_n = (1 - lam dt)^n y0, so it stops
at the first n with lam (1 - lam dt)^n rms(y0) < tol.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

import dynlearn

LAM, TOL = 2.0, 1e-4
Y0 = jnp.array([1.0, -2.0, 0.5])
RMS0 = float(jnp.sqrt(jnp.mean(Y0**2)))


def decay(t, y, lam):
    return -lam * y


def test_euler_stops_at_the_first_step_below_tol():
    dt = 0.05
    n_star = math.ceil(math.log(TOL / (LAM * RMS0)) / math.log(1 - LAM * dt))
    sol = dynlearn.solve(
        decay, Y0, 100.0, method="euler", dt=dt, args=LAM, until=dynlearn.steady_state(TOL)
    )
    assert bool(sol.stats["event"]) and sol.result == dynlearn.RESULTS.event_occurred
    assert int(sol.stats["num_steps"]) == n_star
    np.testing.assert_allclose(sol.ts, [0.0, n_star * dt], rtol=1e-12)
    np.testing.assert_allclose(sol.ys[-1], (1 - LAM * dt) ** n_star * Y0, rtol=1e-12)


def test_adaptive_stops_just_after_the_closed_form_time():
    t_star = math.log(LAM * RMS0 / TOL) / LAM
    sol = dynlearn.solve(
        decay, Y0, 100.0, args=LAM, rtol=1e-10, atol=1e-12, until=dynlearn.steady_state(TOL)
    )
    t_stop = float(sol.stats["t_final"])
    assert bool(sol.stats["event"])
    # it stops at the end of the first step after t*, and the state there is the exact one
    assert t_star <= t_stop < t_star + 0.5
    np.testing.assert_allclose(sol.ts, [0.0, t_stop])
    np.testing.assert_allclose(sol.ys[-1], np.exp(-LAM * t_stop) * Y0, rtol=1e-8)
    assert LAM * np.exp(-LAM * t_stop) * RMS0 < TOL


def test_no_event_before_t1_integrates_to_t1_and_works_under_vmap():
    sol = dynlearn.solve(decay, Y0, 1.0, args=LAM, until=dynlearn.steady_state(TOL))
    assert not bool(sol.stats["event"]) and float(sol.stats["t_final"]) == 1.0
    stops = jax.vmap(
        lambda lam: dynlearn.solve(
            decay, Y0, 100.0, args=lam, rtol=1e-10, atol=1e-12, until=dynlearn.steady_state(TOL)
        ).stats["t_final"]
    )(jnp.array([1.0, 2.0, 4.0]))
    t_stars = [math.log(lam * RMS0 / TOL) / lam for lam in (1.0, 2.0, 4.0)]
    assert np.all(np.asarray(stops) >= np.asarray(t_stars))
    assert np.all(np.asarray(stops) < np.asarray(t_stars) + 0.5)
