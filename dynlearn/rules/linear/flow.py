"""Gradient flow of a linear network W = W_N ... W_2 W_1 under a loss l(W).

A linear network with N weight matrices maps x to y_hat = W x with the end-to-end map
W = W_N ... W_2 W_1, W_i of shape (n_i, n_{i-1}), n_0 = n_in, n_N = n_out (W_1 acts first).
Throughout this package **N is the number of weight matrices** (N = 1 shallow, N = 2 one hidden
layer); a network with N weight matrices has N + 1 layers of units (docs/references.md §5 counts
those, N_l = N + 1). The state is ``Weights``, the list [W_1, ..., W_N].

Flow (docs/references.md §5 and §6). For any loss l of the end-to-end map, gradient flow on
every factor is, with W_{>i} = W_N ... W_{i+1} and W_{<i} = W_{i-1} ... W_1 (empty products
are identities),

    tau dW_i/dt = -dl(W_N ... W_1)/dW_i = -W_{>i}^T grad l(W) W_{<i}^T

(Arora, Cohen, Hu & Luo 2019, Section 3; tau = 1 there). Gradient descent with step eta is
Euler's method with dt = eta (``dynlearn.solve(flow, Ws, t1, method="euler", dt=eta)``;
docs/references.md §8). The losses:

* ``RegressionLoss(Sigma_yx, Sigma_x)``: Saxe, McClelland & Ganguli 2014. With input/output
  statistics Sigma_x = E[x x^T], Sigma_yx = E[y x^T],

      L = 1/2 E||y - W x||^2 = 1/2 tr(Sigma_y) - tr(Sigma_yx^T W) + 1/2 tr(W Sigma_x W^T),
      grad L(W) = -(Sigma_yx - W Sigma_x),

  so tau dW_i/dt = W_{>i}^T (Sigma_yx - W Sigma_x) W_{<i}^T. For N = 2 this is
  tau dW1/dt = W2^T (Sigma_yx - W2 W1 Sigma_x), tau dW2/dt = (Sigma_yx - W2 W1 Sigma_x) W1^T
  (Saxe et al. 2014, eq. 3); for N = 1 it is tau dW/dt = Sigma_yx - W Sigma_x.
* ``QuadraticLoss(S)``: l = 1/2 ||W - S||_F^2, the aligned case of docs/references.md §6
  (= RegressionLoss(S) with Sigma_x = I, plus the constant 1/2 ||S||_F^2).
* ``MatrixCompletionLoss(target, mask)``: l = 1/2 sum over the observed entries of
  (W_ij - W*_ij)^2 (Arora et al. 2019, Section 2).
* any callable W -> scalar (grad l from jax.grad).

Balancedness. D_i = W_{i+1}^T W_{i+1} - W_i W_i^T (``balance_gaps``) is conserved by the flow
for every loss, from any start (Arora, Cohen & Hazan 2018, Theorem 1; Du, Hu & Lee 2018;
Saxe et al. 2014 for the quadratic loss), so a balanced start stays balanced; per mode of a
decoupled N = 2 regression flow this is a^2 - b^2. The closed forms of the mode strengths and
singular values are in ``dynlearn.rules.linear.theory``, the starts in
``dynlearn.rules.linear.init``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynlearn.types import Weights


def _as_float_array(x) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _check_depth(depth: int) -> int:
    """N as a positive int; ValueError otherwise (a bool or 1.5 is not a depth)."""
    if isinstance(depth, bool) or int(depth) != depth or depth < 1:
        raise ValueError(
            f"depth N (number of weight matrices) must be a positive integer (1 = shallow), "
            f"got {depth!r}"
        )
    return int(depth)


def _check_list(Ws) -> None:
    """A bare array is refused: [W_1, ..., W_N] must be a list (or tuple) of matrices."""
    if isinstance(Ws, (jax.Array, np.ndarray)):
        raise ValueError(
            "Ws must be a list of matrices [W_1, ..., W_N], got a single array of shape "
            f"{tuple(jnp.shape(Ws))}; for a single matrix W pass [W]"
        )
    if len(Ws) < 1:
        raise ValueError(
            "a linear network needs at least one weight matrix W_1 (depth N >= 1), "
            "got an empty list"
        )


def end_to_end(Ws: Weights) -> jax.Array:
    """W = W_N ... W_2 W_1 for Ws = [W_1, ..., W_N]; works on leading (e.g. time) axes."""
    _check_list(Ws)
    W = jnp.asarray(Ws[0])
    for W_i in Ws[1:]:
        W = jnp.asarray(W_i) @ W
    return W


def check_weights(
    Ws: Weights, n_out: int | None = None, n_in: int | None = None, *, batched: bool = False
) -> None:
    """ValueError unless Ws = [W_1, ..., W_N] chain: W_i is (n_i, n_{i-1}).

    ``batched``: every W_i may carry the same leading axes (a trajectory); the chain is
    checked on the last two axes. ``n_out``/``n_in``: the rows of W_N / columns of W_1.
    """
    _check_list(Ws)
    for i, W_i in enumerate(Ws, start=1):
        ndim = jnp.ndim(W_i)
        if ndim != 2 and not (batched and ndim > 2):
            raise ValueError(f"W_{i} must be a matrix, got shape {jnp.shape(W_i)}")
    shapes = [jnp.shape(W_i)[-2:] for W_i in Ws]
    for i in range(1, len(Ws)):
        if shapes[i][1] != shapes[i - 1][0]:
            raise ValueError(
                f"Ws do not chain: W_{i + 1} has shape {shapes[i]} but W_{i} has shape "
                f"{shapes[i - 1]}: W_{i + 1} must have {shapes[i - 1][0]} columns"
            )
    if n_in is not None and shapes[0][1] != n_in:
        raise ValueError(f"W_1 must have n_in = {n_in} columns, got shape {shapes[0]}")
    if n_out is not None and shapes[-1][0] != n_out:
        raise ValueError(f"W_N must have n_out = {n_out} rows, got shape {shapes[-1]}")


def balance_gaps(Ws: Weights) -> list[jax.Array]:
    """D_i = W_{i+1}^T W_{i+1} - W_i W_i^T for i = 1..N-1, conserved by ``DeepLinearFlow``.

    d/dt (W_i W_i^T) = d/dt (W_{i+1}^T W_{i+1}) = -W_{>i}^T grad l(W) W_{<i+1}^T + transpose
    (Arora, Cohen & Hazan 2018, Theorem 1 and Definition 1; Saxe et al. 2014). Zero for a
    balanced factorisation. Works on a leading time axis.
    """
    check_weights(Ws, batched=True)
    mT = lambda A: jnp.swapaxes(A, -1, -2)  # noqa: E731
    return [mT(Ws[i + 1]) @ Ws[i + 1] - Ws[i] @ mT(Ws[i]) for i in range(len(Ws) - 1)]


# ----------------------------------------------------------------------------- losses


class RegressionLoss(eqx.Module):
    """L(W) + const = -tr(Sigma_yx^T W) + 1/2 tr(W Sigma_x W^T) (drops 1/2 tr Sigma_y).

    The squared error 1/2 E||y - W x||^2 of a linear map written with the input/output
    statistics Sigma_x = E[x x^T] (identity if None) and Sigma_yx = E[y x^T] (Saxe,
    McClelland & Ganguli 2014; docs/references.md §5). ``grad`` is the closed form
    -(Sigma_yx - W Sigma_x), used by ``DeepLinearFlow`` instead of jax.grad.
    """

    Sigma_yx: jax.Array
    Sigma_x: jax.Array

    def __init__(self, Sigma_yx, Sigma_x=None):
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
        self.Sigma_yx = Sigma_yx
        self.Sigma_x = Sigma_x

    @property
    def shape(self) -> tuple[int, int]:
        """(n_out, n_in) of the end-to-end map W."""
        return self.Sigma_yx.shape

    def error(self, W: jax.Array) -> jax.Array:
        """E = Sigma_yx - W Sigma_x = -grad L(W)."""
        return self.Sigma_yx - W @ self.Sigma_x

    def grad(self, W: jax.Array) -> jax.Array:
        """grad L(W) = -(Sigma_yx - W Sigma_x)."""
        return -self.error(W)

    def __call__(self, W: jax.Array) -> jax.Array:
        return -jnp.sum(self.Sigma_yx * W) + 0.5 * jnp.sum((W @ self.Sigma_x) * W)


class QuadraticLoss(eqx.Module):
    """l(W) = 1/2 ||W - S||_F^2 (the aligned case of docs/references.md §6: with
    S = U diag(s) V^T and a start aligned with U, V, every singular value obeys
    dsigma/dt = N sigma^{2-2/N} (s - sigma)). Equal to ``RegressionLoss(S)`` plus the
    constant 1/2 ||S||_F^2: the same flow."""

    S: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        return jnp.shape(self.S)

    def __call__(self, W: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum((W - self.S) ** 2)


class MatrixCompletionLoss(eqx.Module):
    """l(W) = 1/2 sum_{(i,j) in Omega} (W_ij - W*_ij)^2 over the observed entries Omega
    (``mask`` is 1 on Omega, 0 elsewhere; ``target`` holds W*, only its observed entries
    matter). Arora et al. 2019 Section 2 (sum rather than mean: only rescales time)."""

    target: jax.Array
    mask: jax.Array

    def __check_init__(self):
        if jnp.shape(self.target) != jnp.shape(self.mask) or jnp.ndim(self.target) != 2:
            raise ValueError(
                "target and mask must be 2-D arrays of the same shape, got "
                f"{jnp.shape(self.target)} and {jnp.shape(self.mask)}"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return jnp.shape(self.target)

    def __call__(self, W: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(self.mask * (W - self.target) ** 2)


# ----------------------------------------------------------------------------- the flow


class DeepLinearFlow(eqx.Module):
    """tau dW_i/dt = -W_{>i}^T grad l(W) W_{<i}^T over Ws = [W_1, ..., W_N] (module docstring).

    Saxe et al. 2014, eq. 3 generalised to N weight matrices and to any loss of the
    end-to-end map (Arora et al. 2019, Section 3; docs/references.md §5-6). ``loss`` maps W
    (n_out, n_in) to a scalar; a loss with a ``grad`` method (``RegressionLoss``) supplies
    grad l in closed form, any other goes through jax.grad. An equinox Module loss keeps its
    data arrays traced (a new target or tau does not recompile). The depth N is len(Ws).
    ``DeepLinearFlow.from_statistics(Sigma_yx, Sigma_x, tau)`` is the Saxe flow.
    """

    loss: Callable[[jax.Array], jax.Array]
    tau: jax.Array

    def __init__(self, loss: Callable[[jax.Array], jax.Array], tau: float = 1.0):
        if not callable(loss):
            raise ValueError(
                f"loss must be a callable W -> scalar (e.g. RegressionLoss(Sigma_yx)), "
                f"got {type(loss).__name__}; for input/output statistics use "
                "DeepLinearFlow.from_statistics(Sigma_yx, Sigma_x)"
            )
        if not float(tau) > 0.0:
            raise ValueError(f"tau must be positive, got {tau}")
        self.loss = loss
        self.tau = _as_float_array(tau)

    @classmethod
    def from_statistics(cls, Sigma_yx, Sigma_x=None, tau: float = 1.0) -> DeepLinearFlow:
        """The Saxe flow: ``DeepLinearFlow(RegressionLoss(Sigma_yx, Sigma_x), tau)``."""
        return cls(RegressionLoss(Sigma_yx, Sigma_x), tau)

    def grad(self, W: jax.Array) -> jax.Array:
        """grad l(W): the loss's closed form if it has one, else jax.grad."""
        closed_form = getattr(self.loss, "grad", None)
        return closed_form(W) if callable(closed_form) else jax.grad(self.loss)(W)

    def objective(self, Ws: Weights) -> jax.Array:
        """l(W_N ... W_1), the function the flow descends (tau times its rate of decrease).

        On a trajectory (``sol.ys``: every W_i with a leading time axis) it returns the curve,
        one value per saved time, like ``end_to_end``."""
        W = end_to_end(Ws)
        if W.ndim > 2:  # leading (time) axes: the loss of each end-to-end matrix
            flat = W.reshape((-1,) + W.shape[-2:])
            return jax.vmap(self.loss)(flat).reshape(W.shape[:-2])
        return self.loss(W)

    def vector_field(self, t: Any, Ws: Weights, args: Any = None) -> Weights:
        """dW_i/dt = -W_{>i}^T grad l(W) W_{<i}^T / tau for every i.

        Computed in backprop's order: W_{<i} forward, then W_{>i}^T grad l(W) by one
        multiplication per factor going backward.
        """
        n_out, n_in = getattr(self.loss, "shape", (None, None))
        check_weights(Ws, n_out=n_out, n_in=n_in)
        N = len(Ws)
        # W_{<i} for i = 1..N (W_{<1} = I is never formed).
        below = [None] * N
        for i in range(1, N):
            below[i] = Ws[0] if i == 1 else Ws[i - 1] @ below[i - 1]
        W = Ws[0] if N == 1 else Ws[N - 1] @ below[N - 1]
        E = -self.grad(W)
        dWs = [None] * N
        left = E  # -W_{>i}^T grad l, starting at i = N where W_{>N} = I
        for i in range(N - 1, -1, -1):
            dWs[i] = left if i == 0 else left @ below[i].T
            if i > 0:
                left = Ws[i].T @ left
        dWs = [dW / self.tau for dW in dWs]
        return tuple(dWs) if isinstance(Ws, tuple) else dWs  # the state's own container

    def __call__(self, t: Any, Ws: Weights, args: Any = None) -> Weights:
        return self.vector_field(t, Ws, args)
