"""Names of the integration methods and which backend runs each."""

from __future__ import annotations

import diffrax
import numpy as np

DIFFRAX_SOLVERS = {
    "euler": diffrax.Euler,
    "heun": diffrax.Heun,
    "midpoint": diffrax.Midpoint,
    "ralston": diffrax.Ralston,
    "bosh3": diffrax.Bosh3,
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
}
SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
SCIPY_IMPLICIT = ("Radau", "BDF", "LSODA")
# fixed-step schemes for a state split (q, p): a step (core/_semi_implicit.py) in Euler's loop
SPLIT_METHODS = ("semi-implicit-euler",)
METHODS = tuple(DIFFRAX_SOLVERS) + SCIPY_METHODS + SPLIT_METHODS


IMPLICIT = ("kvaerno5",) + SCIPY_IMPLICIT


def stiff_hint(method: str, dtype=np.float64) -> str:
    """What to try when ``method`` ran out of steps or its step size collapsed: a stiff
    solver for an explicit method; for a stiff solver (never itself) float64, a looser rtol,
    or another stiff solver."""
    if method not in IMPLICIT:
        return "the problem may be stiff (try method='kvaerno5' or 'BDF')"
    others = " or ".join(repr(m) for m in ("BDF", "Radau", "kvaerno5") if m != method)
    precision = "" if np.dtype(dtype) == np.float64 else "a float64 state, "
    return (
        f"{method} is a stiff solver already: try {precision}a looser rtol/atol, or method={others}"
    )


def backend_of(method: str) -> str:
    """'diffrax', 'scipy' or 'split' for a valid method name; ValueError listing the valid names."""
    if method in DIFFRAX_SOLVERS:
        return "diffrax"
    if method in SCIPY_METHODS:
        return "scipy"
    if method in SPLIT_METHODS:
        return "split"
    hint = ""
    lowered = {m.lower(): m for m in METHODS}
    if isinstance(method, str) and method.lower() in lowered:
        hint = f" (did you mean {lowered[method.lower()]!r}? names are case-sensitive)"
    raise ValueError(
        f"unknown method {method!r}{hint}. Valid: diffrax {', '.join(DIFFRAX_SOLVERS)}; "
        f"scipy {', '.join(SCIPY_METHODS)}; split state (q, p) {', '.join(SPLIT_METHODS)}"
    )
