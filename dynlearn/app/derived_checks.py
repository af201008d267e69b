"""Quantities derived from several config values, checked before any work.

Values that each lie in their declared range can still combine into a run that cannot work:
t1 / eta = 1e8 Euler steps, a derived time that is NaN, a threshold that overflows. A
scenario's ``check`` computes them with these helpers; each refusal is a ``ConfigError``
(exit status 2) that names the keys involved.
"""

from __future__ import annotations

import math

from dynlearn.app.errors import ConfigError

# Euler steps of one trajectory that a scenario may plan without saying so: about an hour of
# the cheapest step on 2 cores. A scenario whose step is expensive passes a smaller budget.
MAX_STEPS = 10**7


def require_finite(value: float, what: str, keys: str) -> float:
    """``value`` (a quantity derived from ``keys``) as a float; ConfigError if NaN or inf."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{what} comes out as {value} from {keys}: change {keys}")
    return value


def require_steps(num_steps: float, what: str, keys: str, *, max_steps: int = MAX_STEPS) -> int:
    """``num_steps`` (derived from ``keys``: t1 / eta, epochs x batches, ...) as an int;
    ConfigError if it is not finite, below 1 or above ``max_steps``."""
    num = require_finite(num_steps, what, keys)
    if num < 1:
        raise ConfigError(f"{what} = {num:.3g} from {keys}: at least one step is needed")
    if num > max_steps:
        raise ConfigError(
            f"{what} = {num:.3g} from {keys}: more than the {max_steps:.0e} steps this scenario "
            f"allows (hours of computing); change {keys}"
        )
    return int(round(num))


def euler_steps(t1: float, dt: float, keys: str = "t1, eta", *, max_steps: int = MAX_STEPS) -> int:
    """t1 / dt, the number of Euler steps (gradient-descent steps) to reach t1: ConfigError
    unless it is a whole number (to 1e-9 relative) in [1, ``max_steps``]; ``keys`` name the
    config keys of t1 and dt in the messages."""
    n = require_steps(
        t1 / dt if dt > 0 else math.inf,
        f"the step count {keys.replace(', ', '/')}",
        keys,
        max_steps=max_steps,
    )
    if not whole_steps(t1, dt):
        raise ConfigError(f"{keys}: t1={t1:g} must be a whole number of steps dt={dt:g}")
    return n


def whole_steps(t: float, step: float) -> bool:
    """True when ``t`` is a whole number (>= 1) of steps ``step``, to 1e-9 relative: a time
    that Euler with dt = step (gradient descent at eta = step) reaches exactly."""
    n = t / step
    return abs(n - round(n)) < 1e-9 * max(n, 1.0) and round(n) >= 1
