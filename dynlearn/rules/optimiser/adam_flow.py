"""Adam as an ODE (Barakat & Bianchi, SIAM J. Optim. 2021; docs/references.md §13).

With beta1 = 1 - a eta and beta2 = 1 - b eta scaled with the learning rate, Adam's iterates
follow, at t = n eta and with error O(eta), the non-autonomous flow on z = (theta, m, v)

    dm/dt     = a (g - m),            g = grad L(theta)
    dv/dt     = b (g^2 - v),          (elementwise square)
    dtheta/dt = -m_hat / (sqrt(v_hat) + eps),
    m_hat = m / (1 - e^{-a t}),       v_hat = v / (1 - e^{-b t}),      m(0) = v(0) = 0.

Barakat & Bianchi write this as dz/dt = h(t, z) with the bias corrections as time factors,
h_theta = -(1 - e^{-a t})^{-1} m / (eps + sqrt((1 - e^{-b t})^{-1} v)): the same field, since
(1 - beta1^n) = 1 - (1 - a eta)^n -> 1 - e^{-a t} at t = n eta. At t = 0 the corrections are
0/0; their limit, m ~ a t g and v ~ b t g^2, gives m_hat = g and v_hat = g^2 (used at t = 0).

The moment updates of Adam are *exactly* Euler steps of the m and v equations:
m_{n+1} = beta1 m_n + (1 - beta1) g_n = m_n + eta a (g_n - m_n), and likewise for v. The theta
step then uses the new moments, as the semi-implicit Euler scheme does (state split
(theta, (m, v)), ``core/_semi_implicit.py``); only the discrete bias corrections 1 - beta^{n+1}
differ from 1 - e^{-a t} (by O(eta) relatively), which is why Adam is a first-order scheme of
this flow rather than the scheme itself.

With the usual *fixed* beta1, beta2 the moment averages span a vanishing stretch of flow time
as eta -> 0, and Adam follows the sign-like flow d theta/dt = -g / (|g| + eps) (``SignLikeFlow``;
Ma, Wu & E 2022) with error O(eta / (1 - beta2)) as long as no g_i crosses zero.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.core.counting import call_field
from dynlearn.rules.optimiser.momentum_flow import check_base


def adam_hyperparameters(eta: float, a: float, b: float) -> tuple[float, float]:
    """(beta1, beta2) = (1 - a eta, 1 - b eta): the Adam whose limit is ``AdamFlow(a, b)``."""
    if not (eta > 0 and a > 0 and b > 0 and a * eta < 1 and b * eta < 1):
        raise ValueError(
            f"need eta, a, b > 0 with a*eta < 1 and b*eta < 1 (betas in (0, 1)); "
            f"got eta={eta}, a={a}, b={b}"
        )
    return 1.0 - a * eta, 1.0 - b * eta


def _bias_corrected(x, rate, t, limit):
    """x / (1 - e^{-rate t}) for t > 0, ``limit`` at t = 0 (no 0/0 in either branch)."""
    positive = t > 0
    denom = -jnp.expm1(-rate * jnp.where(positive, t, 1.0))
    return jnp.where(positive, x / denom, limit)


class AdamFlow(eqx.Module):
    """The Adam ODE on the state (theta, (m, v)) for a gradient field f = -grad L.

    ``base`` is the gradient flow (``f(t, theta, args)`` or an object with ``vector_field``,
    e.g. ``Backprop(mlp)``); ``a``, ``b`` > 0 the moment rates (beta1 = 1 - a eta,
    beta2 = 1 - b eta); ``eps`` Adam's epsilon. Start from m = v = 0 at t = 0.
    """

    base: Any
    a: jax.Array = eqx.field(converter=jnp.asarray)
    b: jax.Array = eqx.field(converter=jnp.asarray)
    eps: jax.Array = eqx.field(converter=jnp.asarray, default=1e-8)

    def __check_init__(self):
        check_base(self.base)
        for name in ("a", "b"):
            value = getattr(self, name)
            if value.ndim != 0 or not bool(value > 0):
                raise ValueError(f"{name} must be a positive scalar, got {value!r}")
        if self.eps.ndim != 0 or not bool(self.eps >= 0):
            raise ValueError(f"eps must be a scalar >= 0, got {self.eps!r}")

    def vector_field(self, t: jax.Array, state: tuple[Any, Any], args: Any) -> tuple[Any, Any]:
        theta, (m, v) = state
        g = jax.tree.map(jnp.negative, call_field(self.base, t, theta, args))
        dm = jax.tree.map(lambda gg, mm: self.a * (gg - mm), g, m)
        dv = jax.tree.map(lambda gg, vv: self.b * (gg * gg - vv), g, v)

        def dtheta(gg, mm, vv):
            m_hat = _bias_corrected(mm, self.a, t, gg)
            v_hat = _bias_corrected(vv, self.b, t, gg * gg)
            # v >= 0 along the flow; a Runge-Kutta stage can undershoot 0 where g = 0
            return -m_hat / (jnp.sqrt(jnp.maximum(v_hat, 0.0)) + self.eps)

        return jax.tree.map(dtheta, g, m, v), (dm, dv)


class SignLikeFlow(eqx.Module):
    """d theta/dt = f / (|f| + eps) elementwise, f = -grad L: Adam's limit at fixed betas."""

    base: Any
    eps: jax.Array = eqx.field(converter=jnp.asarray, default=1e-8)

    def __check_init__(self):
        check_base(self.base)

    def vector_field(self, t: jax.Array, theta: Any, args: Any) -> Any:
        f = call_field(self.base, t, theta, args)
        return jax.tree.map(lambda ff: ff / (jnp.abs(ff) + self.eps), f)
