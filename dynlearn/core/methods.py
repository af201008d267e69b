"""The registry: each method name and the backend that runs it.

A backend (``core/_backend.py``) is one object behind one interface; adding a method is one
line here (or :func:`register_backend` from outside). ``solve(method=NAME)`` looks NAME up.
"""

from __future__ import annotations

import diffrax

from dynlearn.core._backend import AbstractBackend
from dynlearn.core._diffrax import DiffraxBackend
from dynlearn.core._euler import EULER
from dynlearn.core._scipy import ScipyBackend
from dynlearn.core._semi_implicit import SEMI_IMPLICIT_EULER

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

BACKENDS: dict[str, AbstractBackend] = {
    # diffrax's Euler steps by (t0 + dt) - t0, not dt: "euler" is the practitioner's loop
    **{name: DiffraxBackend(cls) for name, cls in DIFFRAX_SOLVERS.items() if name != "euler"},
    "euler": EULER,
    **{name: ScipyBackend(implicit=name in SCIPY_IMPLICIT) for name in SCIPY_METHODS},
    "semi-implicit-euler": SEMI_IMPLICIT_EULER,
}


def register_backend(name: str, backend: AbstractBackend) -> None:
    """Make ``solve(method=name)`` run ``backend`` (an :class:`AbstractBackend`)."""
    if not isinstance(backend, AbstractBackend):
        raise TypeError(f"backend must be an AbstractBackend, got {type(backend).__name__}")
    if name in BACKENDS:
        raise ValueError(f"method {name!r} is already registered: choose another name")
    BACKENDS[name] = backend


def backend_for(method: str) -> AbstractBackend:
    """The backend of a method name; ValueError listing the valid names."""
    if isinstance(method, str) and method in BACKENDS:
        return BACKENDS[method]
    hint = ""
    lowered = {m.lower(): m for m in BACKENDS}
    if isinstance(method, str) and method.lower() in lowered:
        hint = f" (did you mean {lowered[method.lower()]!r}? names are case-sensitive)"
    others = [m for m in BACKENDS if m not in METHODS]
    raise ValueError(
        f"unknown method {method!r}{hint}. Valid: diffrax {', '.join(DIFFRAX_SOLVERS)}; "
        f"scipy {', '.join(SCIPY_METHODS)}; split state (q, p) {', '.join(SPLIT_METHODS)}"
        + (f"; registered {', '.join(others)}" if others else "")
    )
