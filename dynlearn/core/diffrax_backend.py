"""diffrax backend of :func:`dynlearn.solve` (adaptive PID steps or constant steps)."""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp

from dynlearn.core.counting import counted_field


@eqx.filter_jit
def diffrax_solve(f, y0, args, t0, t1, dt, ts, solver, rtol, atol, max_steps):
    """One compiled diffeqsolve; ``dt=None`` means adaptive steps with rtol/atol.

    The arrays (y0, args, t0, t1, dt, ts, rtol, atol, and arrays inside an equinox-Module f)
    are traced, so new values of the same shapes reuse the compiled code.
    """
    if dt is None:
        controller = diffrax.PIDController(rtol=rtol, atol=atol)
    else:
        controller = diffrax.ConstantStepSize()
    return diffrax.diffeqsolve(
        diffrax.ODETerm(counted_field(f)),
        solver,
        t0=t0,
        t1=t1,
        dt0=dt,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=False,
    )


def result_message(result) -> str | None:
    """None for success, else diffrax's message for the failure."""
    if bool(result == diffrax.RESULTS.successful):
        return None
    text = repr(result)
    return text[text.find("<") + 1 : text.rfind(">")] if "<" in text else text


def reached_max_steps(result) -> bool:
    return bool(result == diffrax.RESULTS.max_steps_reached)


def num_steps(sol) -> int:
    return int(jnp.asarray(sol.stats["num_steps"]))
