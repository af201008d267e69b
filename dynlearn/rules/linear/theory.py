"""Closed forms of linear-network learning: mode strengths, half-way times, singular values.

Mode dynamics (Saxe, McClelland & Ganguli 2014; docs/references.md §5). Under the regression
flow with Sigma_x = I and Sigma_yx = U diag(s) V^T, a *decoupled* start (every factor aligned
with the modes and balanced, ``decoupled_init``) stays decoupled: W(t) = U diag(u(t)) V^T and
each mode strength u_r obeys the scalar balanced-mode ODE

    tau du/dt = N (u^2)^{1 - 1/N} (s - u)          (``balanced_mode_rate``)

(each factor carries a = u^{1/N}, tau da/dt = a^{N-1}(s - a^N), so du/dt = N a^{N-1} da/dt).
This is docs/references.md §5's (N_l - 1) u^{2 - 2/(N_l - 1)} (s - u) with N_l - 1 = N, and
Arora et al. 2019 Theorem 3 (below) for l = 1/2||W - S||^2. Closed forms:

    N = 2:  u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0),  t_half = tau/(2s) ln(s/u0 - 1)
    N = 1:  b(t) = s + (b0 - s) e^{-t/tau},                   t_half = tau ln(2 (1 - b0/s))
            (= tau ln 2 from b0 = 0, the same for every mode);
    N >= 3: u(t) by scipy's DOP853 (``balanced_mode_strength``); t_half in closed form below.

Half-way time for every integer N (``t_half_balanced``). With w = u^{1/N} (u = w^N,
du = N w^{N-1} dw) the integrand of t_half = tau int_{u0}^{s/2} du / (N u^{2-2/N} (s - u))
becomes rational, and splits as

    dw / (w^{N-1} (s - w^N)) = (dw / s) (w^{1-N} + w / (s - w^N)).

With w = s^{1/N} x the time collapses onto one function of r = u0/s per depth,

    t_half(s, u0) = s^{-(2 - 2/N)} F_N(u0/s),
    F_N(r) = tau [P_N(x) + Q_N(x)]_{x0}^{x1},   x0 = r^{1/N}, x1 = 2^{-1/N},
    P_N(x) = int x^{1-N} dx = ln x (N = 2),  x^{2-N} / (2 - N) (N != 2),
    Q_N(x) = int x / (1 - x^N) dx   (N >= 2; partial fractions over the N-th roots of unity
                                     e^{i phi_k}, phi_k = 2 pi k / N)
           = -(1/N) [ ln(1 - x) + [N even] ln(1 + x)
                      + sum_{k=1}^{floor((N-1)/2)} ( cos(2 phi_k) ln(x^2 - 2x cos phi_k + 1)
                                 - 2 sin(2 phi_k) arctan((x - cos phi_k) / sin phi_k) ) ]

(``t_half_collapsed`` is F_N; N = 1 has x / (1 - x) = -1 + 1/(1 - x), hence its own form
above). N = 2 gives back tau/(2s) ln(s/u0 - 1); N = 4 gives
tau/(2s) [v0^{-1} - v1^{-1} + (atanh(v1/sqrt s) - atanh(v0/sqrt s)) / sqrt s], v = sqrt(u).
``t_half_balanced_quadrature`` integrates the same time numerically, as the check.

Depth against depth at the same end-to-end start u0 (so the per-factor start u0^{1/N} grows
with N): depth N reaches s/2 before N = 1 where F_N(r) < s^{2-2/N} F_1(r). As r -> 1/2 both
sides vanish with slopes in the ratio 2^{2-2/N}/N, and F_N/F_1 falls monotonically from
infinity (r -> 0) to that limit (checked numerically for N = 2 ... 8), so for
s^{2-2/N} > 2^{2-2/N}/N depth N wins exactly above one start (``crossover_u0``) and for
smaller s never (N = 2: never for s <= 1).

Singular-value dynamics (Arora, Cohen, Hu & Luo 2019, "Implicit regularization in deep matrix
factorization", Theorem 3; docs/references.md §6): along the gradient flow of W = W_N ... W_1
from a balanced start, for any loss l, with the analytic SVD W = sum_r sigma_r u_r v_r^T,

    dsigma_r/dt = -N (sigma_r^2)^{1 - 1/N} <grad l(W), u_r v_r^T>.

(A common mistake writes sigma_r^{1 - 1/N}; that is wrong: for N = 2 and
l = 1/2 ||W - S||^2 aligned with S the correct form gives Saxe's 2 sigma (s - sigma).)
N = 1 is plain gradient flow, dsigma_r/dt = -<grad l, u_r v_r^T>: no pull toward low rank.
For N >= 2 the factor sigma^{2-2/N} speeds up large singular values and freezes small ones.

Theorem 3 alone is not a closed ODE unless the singular vectors stay put (the aligned case).
``SingularValueFlow`` closes it: it evolves (U, sigma, V) together under the end-to-end
dynamics of a balanced factorisation (Arora, Cohen & Hazan 2018, Theorem 1)

    dW/dt = -sum_{j=1}^{N} (W W^T)^{(j-1)/N} grad l(W) (W^T W)^{(N-j)/N}.

Written in the SVD basis, with P = U^T (dW/dt) V and G = U^T grad l(W) V,

    P_ik = -G_ik sum_{j=1}^{N} sigma_i^{2(j-1)/N} sigma_k^{2(N-j)/N},
    dsigma_r/dt = P_rr                          (= Theorem 3),
    dU/dt = U A,  dV/dt = V B,  A, B antisymmetric, for i != k
    A_ik = (sigma_k P_ik + sigma_i P_ki) / (sigma_k^2 - sigma_i^2),
    B_ik = (sigma_i P_ik + sigma_k P_ki) / (sigma_k^2 - sigma_i^2)

(the derivative of the SVD, from U^T dW V = A S - S B + dS). This needs a square W with
distinct positive singular values; it is the reduced system checked against the full
factorised flow in tests/autodiff/test_arora_theorem3.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from scipy import integrate, optimize

from dynlearn.rules.linear.flow import _check_depth

# ----------------------------------------------------------------------------- mode strengths


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


def _collapsed_antiderivative(x: np.ndarray, depth: int) -> np.ndarray:
    """P_N(x) + Q_N(x) of the module docstring, N >= 2 (additive constants dropped)."""
    N = depth
    power = np.log(x) if N == 2 else x ** (2.0 - N) / (2.0 - N)
    total = np.log1p(-x)
    if N % 2 == 0:
        total = total + np.log1p(x)
    for k in range(1, (N - 1) // 2 + 1):
        phi = 2.0 * np.pi * k / N
        c, s = np.cos(phi), np.sin(phi)
        total = total + np.cos(2 * phi) * np.log(x * x - 2.0 * x * c + 1.0)
        total = total - 2.0 * np.sin(2 * phi) * np.arctan((x - c) / s)
    return power - total / N


def t_half_collapsed(ratio, depth: int, tau: float = 1.0) -> np.ndarray:
    """F_N(r) = s^{2-2/N} t_half(s, u0) at r = u0/s: the half-way time of a balanced N-matrix
    mode with the singular value scaled out (module docstring; elementary for every N).

    r must lie in (0, 1/2): the start below half the singular value."""
    depth = _check_depth(depth)
    r = _check_positive("u0/s", ratio)
    if np.any(r >= 0.5):
        raise ValueError(f"u0/s = {r} must be below 1/2 (u0 below s/2) to have a half-way time")
    if depth == 1:
        return tau * np.log(2.0 * (1.0 - r))
    x0, x1 = r ** (1.0 / depth), 0.5 ** (1.0 / depth)
    return tau * (_collapsed_antiderivative(x1, depth) - _collapsed_antiderivative(x0, depth))


def t_half_balanced(s, u0, depth: int, tau: float = 1.0) -> np.ndarray:
    """Time for a balanced N-matrix mode to go from u0 to s/2, in closed form for every N:

    t_half = tau int_{u0}^{s/2} du / (N (u^2)^{1-1/N} (s - u)) = s^{-(2-2/N)} F_N(u0/s)

    (``t_half_collapsed``; equal to ``t_half_shallow`` for N = 1 and ``t_half_deep`` for
    N = 2). Vectorised over s and u0.
    """
    depth = _check_depth(depth)
    s, u0 = _check_positive("s", s), _check_positive("u0", u0)
    if np.any(u0 >= s / 2):
        raise ValueError(f"u0 = {u0} must be below s/2 = {s / 2} to have a half-way time")
    return s ** (2.0 / depth - 2.0) * t_half_collapsed(u0 / s, depth, tau)


def t_half_balanced_quadrature(s: float, u0: float, depth: int, tau: float = 1.0) -> float:
    """``t_half_balanced`` by numerical quadrature (scipy's quad in ln u, relative 1e-12): the
    independent check of the closed form."""
    s, u0 = float(_check_positive("s", s)), float(_check_positive("u0", u0))
    depth = _check_depth(depth)
    if not u0 < s / 2:
        raise ValueError(f"u0 = {u0} must be below s/2 = {s / 2} to have a half-way time")

    def dt_dlogu(log_u):
        u = np.exp(log_u)
        return tau * u / balanced_mode_rate(u, s, depth)

    value, _ = integrate.quad(dt_dlogu, np.log(u0), np.log(s / 2), epsabs=0.0, epsrel=1e-12)
    return value


def crossover_u0(s, depth: int) -> np.ndarray:
    """The end-to-end start above which a depth-N mode reaches s/2 before a depth-1 mode of the
    same singular value s started at the same u0; NaN where depth N never does (u0 < s/2).

    Solves F_N(r) = s^{2-2/N} F_1(r) for r = u0/s (module docstring: one root when
    s^{2-2/N} > 2^{2-2/N}/N, none otherwise; tau cancels) by Brent's method; returns r s.
    """
    depth = _check_depth(depth)
    if depth == 1:
        raise ValueError("crossover_u0 compares a depth N >= 2 with depth 1")
    s = _check_positive("s", s)
    out = np.full(s.shape, np.nan)
    r_top = 0.5 * (1.0 - 1e-9)  # F_N, F_1 -> 0 at r = 1/2; their ratio is finite there
    for i, s_i in np.ndenumerate(s):
        scale = s_i ** (2.0 - 2.0 / depth)

        def gap(log_r, scale=scale):
            r = np.exp(log_r)
            return np.log(t_half_collapsed(r, depth) / (scale * t_half_collapsed(r, 1)))

        if scale <= 2.0 ** (2.0 - 2.0 / depth) / depth or gap(np.log(r_top)) >= 0:
            continue
        lo = np.log(r_top)
        while gap(lo) < 0:  # F_N/F_1 -> infinity as r -> 0
            lo -= 5.0
        out[i] = s_i * np.exp(optimize.brentq(gap, lo, np.log(r_top), xtol=1e-14, rtol=1e-13))
    return out if out.ndim else float(out)


def balanced_mode_strength(
    t, s: float, u0: float, depth: int, tau: float = 1.0, rtol: float = 1e-10
) -> np.ndarray:
    """u(t) of the balanced-mode ODE tau du/dt = N (u^2)^{1-1/N} (s - u), u(0) = u0.

    Closed forms for N = 1, 2; scipy solve_ivp (DOP853) for N >= 3. t must be increasing
    and start at >= 0.
    """
    depth = _check_depth(depth)
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


# ------------------------------------------------------------------ singular values (Theorem 3)


def theorem3_rates(
    grad_W: ArrayLike, U: ArrayLike, sigma: ArrayLike, V: ArrayLike, depth: int
) -> jax.Array:
    """dsigma_r/dt = -N (sigma_r^2)^{1-1/N} u_r^T grad_W v_r (Arora et al. 2019, Theorem 3)
    for singular values ``sigma`` (k,) with vectors U (m, k), V (n, k) as columns."""
    N = _check_depth(depth)
    grad_W, U, sigma, V = map(jnp.asarray, (grad_W, U, sigma, V))
    inner = jnp.einsum("ir,ij,jr->r", U, grad_W, V)  # <grad l, u_r v_r^T>
    return -N * (sigma**2) ** (1.0 - 1.0 / N) * inner


def singular_value_rates(
    loss: Callable[[jax.Array], jax.Array], W: ArrayLike, depth: int
) -> jax.Array:
    """Theorem 3 at the end-to-end matrix W: SVD of W, grad l(W) by jax.grad, then
    ``theorem3_rates``. Returns dsigma/dt for the singular values in descending order."""
    W = jnp.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-D matrix, got shape {W.shape}")
    U, sigma, Vt = jnp.linalg.svd(W, full_matrices=False)
    return theorem3_rates(jax.grad(loss)(W), U, sigma, Vt.T, depth)


class SVDState(NamedTuple):
    """W = U diag(sigma) V^T with U, V (d, d) orthogonal and sigma (d,)."""

    U: jax.Array
    sigma: jax.Array
    V: jax.Array


def svd_state(W: ArrayLike) -> SVDState:
    """The starting state of ``SingularValueFlow`` for a square W (d, d); ValueError if W is
    not square or its singular values are not distinct and positive (the flow of the singular
    vectors divides by sigma_k^2 - sigma_i^2)."""
    W = jnp.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"SingularValueFlow needs a square matrix W, got shape {W.shape}")
    U, sigma, Vt = jnp.linalg.svd(W)
    gaps = -jnp.diff(sigma)
    if float(sigma[-1]) <= 0 or (gaps.size and float(jnp.min(gaps)) <= 1e-12 * float(sigma[0])):
        raise ValueError(
            f"SingularValueFlow needs distinct positive singular values, got {sigma}; "
            "start from a matrix with separated singular values"
        )
    return SVDState(U=U, sigma=sigma, V=Vt.T)


class SingularValueFlow(eqx.Module):
    """The closed (U, sigma, V) flow of a balanced depth-N factorisation for a loss l(W)
    (module docstring): Theorem 3 for sigma, the end-to-end dynamics for the vectors."""

    loss: Callable[[jax.Array], jax.Array]
    depth: int = eqx.field(static=True)

    def __check_init__(self):
        _check_depth(self.depth)

    def vector_field(self, t: Any, state: SVDState, args: Any = None) -> SVDState:
        U, sigma, V = state
        N = self.depth
        W = (U * sigma) @ V.T
        G = U.T @ jax.grad(self.loss)(W) @ V
        s2 = sigma**2
        # coupling_ik = sum_j sigma_i^{2(j-1)/N} sigma_k^{2(N-j)/N}
        coupling = sum(jnp.outer(s2 ** ((j - 1) / N), s2 ** ((N - j) / N)) for j in range(1, N + 1))
        P = -G * coupling
        dsigma = jnp.diagonal(P)
        gap = s2[None, :] - s2[:, None]  # sigma_k^2 - sigma_i^2
        off = ~jnp.eye(sigma.shape[0], dtype=bool)
        safe_gap = jnp.where(off, gap, 1.0)
        A = jnp.where(off, (sigma[None, :] * P + sigma[:, None] * P.T) / safe_gap, 0.0)
        B = jnp.where(off, (sigma[:, None] * P + sigma[None, :] * P.T) / safe_gap, 0.0)
        return SVDState(U=U @ A, sigma=dsigma, V=V @ B)

    def __call__(self, t: Any, state: SVDState, args: Any = None) -> SVDState:
        return self.vector_field(t, state, args)
