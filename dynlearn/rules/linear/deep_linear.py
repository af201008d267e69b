"""Gradient flow of a deep linear network (Saxe, McClelland & Ganguli, ICLR 2014).

A linear network with N weight matrices maps x to y_hat = W x with the end-to-end map
W = W_N ... W_2 W_1, W_i of shape (n_i, n_{i-1}), n_0 = n_in, n_N = n_out. Throughout this
module **N is the number of weight matrices** (N = 1 shallow, N = 2 one hidden layer); a
network with N weight matrices has N + 1 layers of units (docs/references.md §5 counts those,
N_l = N + 1).

Loss (input/output statistics Sigma_x = E[x x^T], Sigma_yx = E[y x^T]):

    L(W_1..W_N) = 1/2 E||y - W x||^2
                = 1/2 tr(Sigma_y) - tr(Sigma_yx^T W) + 1/2 tr(W Sigma_x W^T).

Gradient flow, with W_{>i} = W_N ... W_{i+1} and W_{<i} = W_{i-1} ... W_1 (empty products
are identities):

    tau dW_i/dt = -dL/dW_i = W_{>i}^T (Sigma_yx - W Sigma_x) W_{<i}^T.

For N = 2 this is tau dW1/dt = W2^T (Sigma_yx - W2 W1 Sigma_x),
tau dW2/dt = (Sigma_yx - W2 W1 Sigma_x) W1^T (Saxe et al. 2014, eq. 3); for N = 1 it is
tau dW/dt = Sigma_yx - W Sigma_x.

Mode dynamics (Sigma_x = I, Sigma_yx = U diag(s) V^T). From a *decoupled* start (every
factor aligned with the modes and balanced, ``decoupled_init``) the flow stays decoupled:
W(t) = U diag(u(t)) V^T and each mode strength u_r obeys the scalar balanced-mode ODE

    tau du/dt = N (u^2)^{1 - 1/N} (s - u)          (``balanced_mode_rate``)

(each factor carries a = u^{1/N}, tau da/dt = a^{N-1}(s - a^N), so du/dt = N a^{N-1} da/dt).
This is docs/references.md §5's (N_l - 1) u^{2 - 2/(N_l - 1)} (s - u) with N_l - 1 = N, and Arora et
al. 2019 Theorem 3 for l = 1/2||W - S||^2. Closed forms:

    N = 2:  u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0),  t_half = tau/(2s) ln(s/u0 - 1)
    N = 1:  b(t) = s + (b0 - s) e^{-t/tau},                   t_half = tau ln(2 (1 - b0/s))
            (= tau ln 2 from b0 = 0, the same for every mode).

Conserved by the full flow (any start, any Sigma_x): W_{i+1}^T W_{i+1} - W_i W_i^T
(``balance_gaps``); per mode of a decoupled N = 2 flow, a^2 - b^2.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate

Weights = tuple[jax.Array, ...]

INIT_DISTRIBUTIONS = ("uniform", "normal")


def _as_float_array(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.result_type(float))


def end_to_end(Ws: Sequence[jax.Array]) -> jax.Array:
    """W = W_N ... W_2 W_1 for Ws = (W_1, ..., W_N)."""
    W = Ws[0]
    for W_i in Ws[1:]:
        W = W_i @ W
    return W


def check_weights(Ws: Sequence[jax.Array], n_out: int | None = None, n_in: int | None = None):
    """Raise ValueError unless Ws = (W_1, ..., W_N) chain: W_i is (n_i, n_{i-1})."""
    if len(Ws) < 1:
        raise ValueError("a linear network needs at least one weight matrix (depth N >= 1)")
    for i, W_i in enumerate(Ws, start=1):
        if jnp.ndim(W_i) != 2:
            raise ValueError(f"W_{i} must be a matrix, got shape {jnp.shape(W_i)}")
    for i in range(1, len(Ws)):
        if Ws[i].shape[1] != Ws[i - 1].shape[0]:
            raise ValueError(
                f"W_{i + 1} has shape {Ws[i].shape} but W_{i} has shape {Ws[i - 1].shape}: "
                f"W_{i + 1} must have {Ws[i - 1].shape[0]} columns"
            )
    if n_in is not None and Ws[0].shape[1] != n_in:
        raise ValueError(f"W_1 must have n_in = {n_in} columns, got shape {Ws[0].shape}")
    if n_out is not None and Ws[-1].shape[0] != n_out:
        raise ValueError(f"W_N must have n_out = {n_out} rows, got shape {Ws[-1].shape}")


class DeepLinearFlow(eqx.Module):
    """tau dW_i/dt = W_{>i}^T (Sigma_yx - W Sigma_x) W_{<i}^T over Ws = (W_1, ..., W_N).

    Saxe, McClelland & Ganguli 2014, eq. 3 generalised to N weight matrices; the state is
    the tuple of weight matrices, the depth N is len(Ws). Fields are arrays (traced, so a
    new tau or target does not recompile).
    """

    Sigma_yx: jax.Array
    Sigma_x: jax.Array
    tau: jax.Array

    def __init__(self, Sigma_yx, Sigma_x=None, tau: float = 1.0):
        Sigma_yx = _as_float_array(Sigma_yx)
        if Sigma_yx.ndim != 2:
            raise ValueError(f"Sigma_yx must be a (n_out, n_in) matrix, got {Sigma_yx.shape}")
        n_in = Sigma_yx.shape[1]
        Sigma_x = jnp.eye(n_in) if Sigma_x is None else _as_float_array(Sigma_x)
        if Sigma_x.shape != (n_in, n_in):
            raise ValueError(
                f"Sigma_x must be ({n_in}, {n_in}) to match Sigma_yx {Sigma_yx.shape}, "
                f"got {Sigma_x.shape}"
            )
        if not float(tau) > 0.0:
            raise ValueError(f"tau must be positive, got {tau}")
        self.Sigma_yx = Sigma_yx
        self.Sigma_x = Sigma_x
        self.tau = _as_float_array(tau)

    def error(self, Ws: Sequence[jax.Array]) -> jax.Array:
        """E = Sigma_yx - W Sigma_x = -dL/dW (the end-to-end gradient's negative)."""
        return self.Sigma_yx - end_to_end(Ws) @ self.Sigma_x

    def loss(self, Ws: Sequence[jax.Array]) -> jax.Array:
        """L + const = -tr(Sigma_yx^T W) + 1/2 tr(W Sigma_x W^T) (drops 1/2 tr Sigma_y)."""
        W = end_to_end(Ws)
        return -jnp.sum(self.Sigma_yx * W) + 0.5 * jnp.sum((W @ self.Sigma_x) * W)

    def vector_field(self, t, Ws: Weights, args=None) -> Weights:
        """dW_i/dt = W_{>i}^T E W_{<i}^T / tau for every i, E = Sigma_yx - W Sigma_x."""
        check_weights(Ws, n_out=self.Sigma_yx.shape[0], n_in=self.Sigma_yx.shape[1])
        N = len(Ws)
        # W_{<i} for i = 1..N (W_{<1} = I is never formed).
        below = [None] * N
        for i in range(1, N):
            below[i] = Ws[0] if i == 1 else Ws[i - 1] @ below[i - 1]
        W = Ws[0] if N == 1 else Ws[N - 1] @ below[N - 1]
        E = self.Sigma_yx - W @ self.Sigma_x
        dWs = [None] * N
        left = E  # W_{>i}^T E, starting at i = N where W_{>N} = I
        for i in range(N - 1, -1, -1):
            dWs[i] = left if i == 0 else left @ below[i].T
            if i > 0:
                left = Ws[i].T @ left
        return tuple(dW / self.tau for dW in dWs)


def balance_gaps(Ws: Sequence[jax.Array]) -> tuple[jax.Array, ...]:
    """D_i = W_{i+1}^T W_{i+1} - W_i W_i^T for i = 1..N-1, conserved by ``DeepLinearFlow``.

    d/dt (W_i W_i^T) = d/dt (W_{i+1}^T W_{i+1}) = W_{>i}^T E W_{<i+1}^T + transpose
    (Saxe et al. 2014; Arora, Cohen & Hazan 2018, Theorem 1). Works on a leading time axis.
    """
    mT = lambda A: jnp.swapaxes(A, -1, -2)  # noqa: E731
    return tuple(mT(Ws[i + 1]) @ Ws[i + 1] - Ws[i] @ mT(Ws[i]) for i in range(len(Ws) - 1))


# ----------------------------------------------------------------------------- initialisation


def _hidden_widths(hidden, depth: int, k: int) -> tuple[int, ...]:
    if hidden is None:
        return (k,) * (depth - 1)
    if isinstance(hidden, (int, np.integer)):
        return (int(hidden),) * (depth - 1)
    hidden = tuple(int(h) for h in hidden)
    if len(hidden) != depth - 1:
        raise ValueError(
            f"hidden must give depth - 1 = {depth - 1} widths for depth {depth}, got {hidden}"
        )
    return hidden


def decoupled_init(
    U,
    V,
    u0,
    depth: int,
    hidden: int | Sequence[int] | None = None,
    key: jax.Array | None = None,
) -> Weights:
    """Balanced start aligned with the modes (U, V): every mode has strength u0.

    With k modes (U (n_out, k), V (n_in, k), orthonormal columns) and a = u0^{1/N}:

        W_1 = R_1 diag(a) V^T,  W_i = R_i diag(a) R_{i-1}^T,  W_N = U diag(a) R_{N-1}^T,

    so W = U diag(u0) V^T and W_{i+1}^T W_{i+1} = W_i W_i^T (balanced). R_i (n_i, k) has
    orthonormal columns: the first k coordinate axes, or a random orthonormal frame drawn
    with ``key``. Saxe et al. 2014 §2 ("decoupled initial conditions"); for N = 1 the start
    is W = U diag(u0) V^T. u0 is a scalar or one value per mode, u0 >= 0.
    """
    U, V = np.asarray(U, dtype=float), np.asarray(V, dtype=float)
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
        raise ValueError(
            f"U (n_out, k) and V (n_in, k) must hold the same number k of modes as columns, "
            f"got U {U.shape} and V {V.shape}"
        )
    k = U.shape[1]
    for name, M in (("U", U), ("V", V)):
        if not np.allclose(M.T @ M, np.eye(k), atol=1e-6):
            raise ValueError(f"{name} must have orthonormal columns")
    depth = int(depth)
    if depth < 1:
        raise ValueError(f"depth (number of weight matrices) must be >= 1, got {depth}")
    u0 = np.broadcast_to(np.asarray(u0, dtype=float), (k,))
    if np.any(u0 < 0):
        raise ValueError(f"u0 must be >= 0 (a balanced factor carries u0^(1/N)), got {u0}")
    widths = _hidden_widths(hidden, depth, k)
    if any(h < k for h in widths):
        raise ValueError(f"every hidden width must be >= the number of modes k = {k}: {widths}")
    keys = [None] * len(widths) if key is None else list(jax.random.split(key, len(widths)))
    frames = [V]
    for h, kk in zip(widths, keys, strict=True):
        if kk is None:
            frames.append(np.eye(h, k))
        else:
            Q, _ = np.linalg.qr(np.asarray(jax.random.normal(kk, (h, k)), dtype=float))
            frames.append(Q)
    frames.append(U)
    a = u0 ** (1.0 / depth)
    return tuple(_as_float_array((frames[i + 1] * a) @ frames[i].T) for i in range(depth))


def small_random_init(
    key: jax.Array, sizes: Sequence[int], scale: float, distribution: str = "uniform"
) -> Weights:
    """W_i = scale * U(0, 1) (a common textbook start) or scale * N(0, 1), shape (n_i, n_{i-1}).

    sizes = (n_in, n_1, ..., n_out) lists the widths from input to output.
    """
    if distribution not in INIT_DISTRIBUTIONS:
        raise ValueError(
            f"unknown distribution {distribution!r}; valid: {', '.join(INIT_DISTRIBUTIONS)}"
        )
    sizes = tuple(int(n) for n in sizes)
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ValueError(f"sizes must list at least two positive widths, got {sizes}")
    draw = jax.random.uniform if distribution == "uniform" else jax.random.normal
    keys = jax.random.split(key, len(sizes) - 1)
    return tuple(
        scale * draw(kk, (n_out, n_in), dtype=jnp.result_type(float))
        for kk, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    )


# ----------------------------------------------------------------------------- mode theory


def _check_positive(name: str, value) -> np.ndarray:
    value = np.asarray(value, dtype=float)
    if np.any(value <= 0):
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def balanced_mode_rate(u, s, depth: int):
    """tau du/dt = N (u^2)^{1 - 1/N} (s - u): one mode of a balanced, decoupled N-matrix net.

    N = number of weight matrices (docs/references.md §5 writes N_l - 1 = N); N = 2 gives
    2u(s - u), N = 1 gives s - u; Arora et al. 2019 Theorem 3 with l = 1/2||W - S||^2.
    """
    return depth * (u * u) ** (1.0 - 1.0 / depth) * (s - u)


def deep_mode_strength(t, s, u0, tau: float = 1.0) -> np.ndarray:
    """N = 2 closed form u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0) (Saxe 2014, eq. 7).

    Evaluated as the equivalent logistic s / (1 + (s/u0 - 1) e^{-2st/tau}) to avoid overflow.
    """
    s, u0 = _check_positive("s", s), _check_positive("u0", u0)
    t = np.asarray(t, dtype=float)
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-2.0 * s * t / tau))


def shallow_mode_strength(t, s, b0=0.0, tau: float = 1.0) -> np.ndarray:
    """N = 1 closed form b(t) = s + (b0 - s) e^{-t/tau} (Saxe 2014 §1)."""
    t = np.asarray(t, dtype=float)
    s = np.asarray(s, dtype=float)
    return s + (np.asarray(b0, dtype=float) - s) * np.exp(-t / tau)


def t_half_deep(s, u0, tau: float = 1.0) -> np.ndarray:
    """Time for an N = 2 mode to reach s/2 from u0 < s/2: tau/(2s) ln(s/u0 - 1)."""
    s, u0 = _check_positive("s", s), _check_positive("u0", u0)
    return tau / (2.0 * s) * np.log(s / u0 - 1.0)


def t_half_shallow(s, b0=0.0, tau: float = 1.0) -> np.ndarray:
    """N = 1 time from b0 < s/2 to s/2: tau ln(2(1 - b0/s)), = tau ln 2 at b0 = 0."""
    s = _check_positive("s", s)
    return tau * np.log(2.0 * (1.0 - np.asarray(b0, dtype=float) / s))


def t_half_balanced(s: float, u0: float, depth: int, tau: float = 1.0) -> float:
    """Time for a balanced N-matrix mode to go from u0 to s/2.

    t_half = tau * int_{u0}^{s/2} du / (N (u^2)^{1-1/N} (s - u)), by quadrature in ln u
    (closed forms above for N = 1, 2; no elementary one for N >= 3).
    """
    s, u0 = float(_check_positive("s", s)), float(_check_positive("u0", u0))
    if not u0 < s / 2:
        raise ValueError(f"u0 = {u0} must be below s/2 = {s / 2} to have a half-way time")

    def dt_dlogu(log_u):
        u = np.exp(log_u)
        return tau * u / balanced_mode_rate(u, s, depth)

    value, _ = integrate.quad(dt_dlogu, np.log(u0), np.log(s / 2), epsabs=0.0, epsrel=1e-12)
    return value


def balanced_mode_strength(
    t, s: float, u0: float, depth: int, tau: float = 1.0, rtol: float = 1e-10
) -> np.ndarray:
    """u(t) of the balanced-mode ODE tau du/dt = N (u^2)^{1-1/N} (s - u), u(0) = u0.

    Closed forms for N = 1, 2; scipy solve_ivp (DOP853) for N >= 3. t must be increasing
    and start at >= 0.
    """
    depth = int(depth)
    if depth < 1:
        raise ValueError(f"depth (number of weight matrices) must be >= 1, got {depth}")
    t = np.asarray(t, dtype=float)
    if depth == 1:
        return shallow_mode_strength(t, s, u0, tau)
    if depth == 2:
        return deep_mode_strength(t, s, u0, tau)
    sol = integrate.solve_ivp(
        lambda _t, u: balanced_mode_rate(u, s, depth) / tau,
        (0.0, float(t[-1])),
        [float(u0)],
        method="DOP853",
        t_eval=t,
        rtol=rtol,
        atol=rtol * 1e-2 * min(abs(u0), abs(s)),
    )
    if not sol.success:
        raise RuntimeError(f"balanced-mode ODE failed: {sol.message}")
    return sol.y[0]
