"""Heavy-ball momentum as the damped second-order flow (docs/references.md §13).

    d theta/dt = v,    dv/dt = -a v - grad L(theta)          (theta'' + a theta' = -grad L)

Heavy ball (Polyak 1964; ``dynlearn.nn.optim.sgd(eta, momentum=beta)``, as optax.sgd)

    m_{n+1} = beta m_n + g_n,    theta_{n+1} = theta_n - eta m_{n+1},    g_n = grad L(theta_n),

is *exactly* the semi-implicit Euler scheme with dt = h of this flow when

    eta = h^2,    beta = 1 - a h,    v_n = -h m_n.

Proof: v_{n+1} = v_n + h(-a v_n - g_n) = (1 - a h) v_n - h g_n; with v = -h m this is
-h m_{n+1} = -h (beta m_n + g_n). Then theta_{n+1} = theta_n + h v_{n+1} = theta_n - h^2 m_{n+1}.
So ``solve(MomentumFlow(rule, a), (theta0, v0), n*h, method="semi-implicit-euler", dt=h)`` is
the heavy-ball loop step for step, and converges to the flow with global error O(h) as h -> 0 at
fixed damping a (Qian 1999; Su, Boyd & Candes 2016; Kovachki & Stuart, JMLR 2021).
The common mistake: the *explicit* Euler step of the pair moves theta with the old velocity,
theta_{n+1} = theta_n - eta m_n, which is not heavy ball.

The other limit, beta fixed and eta -> 0: the velocity relaxes in O(1) steps, i.e. in flow time
O(eta), and heavy ball follows the rescaled gradient flow

    d theta/dt = -grad L(theta) / (1 - beta)       at t = n eta, with error O(eta)

(``RescaledGradientFlow``; Kovachki & Stuart 2021, Thm 2.1 for beta fixed).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from dynlearn.core.counting import call_field


def check_base(base) -> None:
    if not (callable(base) or hasattr(base, "vector_field")):
        raise ValueError(
            f"base must be the gradient flow of L: f(t, theta, args) = -grad L or an object "
            f"with vector_field, e.g. Backprop(mlp); got {type(base).__name__}"
        )


def heavy_ball_hyperparameters(h: float, a: float) -> tuple[float, float]:
    """(eta, beta) = (h^2, 1 - a h): the heavy ball whose iterates are the semi-implicit Euler
    steps (dt = h) of the flow with damping a."""
    if not (h > 0 and a >= 0 and a * h < 1):
        raise ValueError(f"need h > 0, a >= 0 and a*h < 1 (so that 0 < beta <= 1); got {h}, {a}")
    return h * h, 1.0 - a * h


def velocity_from_momentum(m: Any, h: float) -> Any:
    """v = -h m: heavy ball's buffer m (optax's trace) as the flow's velocity."""
    return jax.tree.map(lambda x: -h * x, m)


class MomentumFlow(eqx.Module):
    """theta' = v, v' = -a v + f(theta): the damped flow of a gradient field f = -grad L.

    ``base`` is the gradient flow (a callable ``f(t, theta, args)`` or an object with
    ``vector_field``, e.g. ``Backprop(mlp)``); ``a`` >= 0 the damping. The state is the pair
    (theta, v), the split that ``method="semi-implicit-euler"`` steps.
    """

    base: Any
    a: jax.Array = eqx.field(converter=jnp.asarray)

    def __check_init__(self):
        check_base(self.base)
        if self.a.ndim != 0 or not bool(self.a >= 0):
            raise ValueError(f"a (damping) must be a scalar >= 0, got {self.a!r}")

    def vector_field(self, t: jax.Array, state: tuple[Any, Any], args: Any) -> tuple[Any, Any]:
        theta, v = state
        f = call_field(self.base, t, theta, args)
        return v, jax.tree.map(lambda vv, ff: -self.a * vv + ff, v, f)


class RescaledGradientFlow(eqx.Module):
    """d theta/dt = f(theta) / (1 - beta): heavy ball's limit at fixed beta, time t = n eta."""

    base: Any
    beta: jax.Array = eqx.field(converter=jnp.asarray)

    def __check_init__(self):
        check_base(self.base)
        if self.beta.ndim != 0 or not bool((self.beta >= 0) & (self.beta < 1)):
            raise ValueError(f"beta (momentum) must be a scalar in [0, 1), got {self.beta!r}")

    def vector_field(self, t: jax.Array, theta: Any, args: Any) -> Any:
        f = call_field(self.base, t, theta, args)
        return jax.tree.map(lambda ff: ff / (1.0 - self.beta), f)
