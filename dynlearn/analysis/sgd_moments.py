"""Exact first and second moments of SGD and of its stochastic modified equations on
least squares, and the stationary covariances on a quadratic (docs/references.md §13).

Least squares, L(theta) = (1/N) sum_i l_i,  l_i = (x_i^T theta - y_i)^2 / 2. Every
per-example gradient is affine, grad l_i = x_i x_i^T theta - x_i y_i = G_i z with
z = (theta, 1) and G_i = [x_i x_i^T, -x_i y_i]. SGD with B examples drawn uniformly *with
replacement* at every step, theta_{n+1} = theta_n - eta (1/B) sum_b grad l_{i_b}, is then a
random linear map of z, and the second moment Z_n = E[z_n z_n^T] (mean in its last column)
follows the closed recursion

    Z_{n+1} = M Z_n M^T + (eta^2 / B) (1/N) sum_i D_i Z_n D_i^T,
    M = I - eta [G; 0],   D_i = [G_i - G; 0],   G = (1/N) sum_i G_i.

The stochastic modified equation (Li, Tai & E, ICML 2017; JMLR 2019)

    dTheta = -grad(L + (eta/4) ||grad L||^2) dt + sqrt(eta Sigma(Theta)) dW,
    Sigma(theta) = (1/B) Cov_i[grad l_i(theta)]        (one minibatch gradient's covariance),

has the affine drift A z with A = -(I + (eta/2) H) G (order 2; -G for order 1, H = (1/N)
sum x_i x_i^T) and eta Sigma quadratic in z, so its second moment closes too (Itô):

    dZ/dt = A~ Z + Z A~^T + (eta / B) (1/N) sum_i D_i Z D_i^T,     A~ = [A; 0],

a linear ODE in Z, solved here exactly by the matrix exponential of its (d+1)^2 generator.
The gradient flow is the same ODE with the order-1 drift and no noise. Test functions that are
quadratic in theta (the loss, ||theta - theta*||^2) have expectations tr(K Z): no Monte Carlo.

Stationary covariances on L(theta) = (1/N) sum_i (theta - a_i)^T H (theta - a_i) / 2, whose
minibatch noise Sigma = H Cov_i(a_i) H / B does not depend on theta: SGD's exact one solves the
discrete Lyapunov equation C = (I - eta H) C (I - eta H)^T + eta^2 Sigma; the SME's solves
H' C + C H' = eta Sigma with H' = H (order 1) or H' = H + (eta/2) H^2 (order 2). Li, Tai & E
bound the weak error on a finite horizon only; the stationary comparison is this elementary
calculation (ours, not theirs). In the eigenbasis of H (eigenvalues l_k, s = Q^T Sigma Q),

    SGD      c_kl = eta s_kl / (l_k + l_l - eta l_k l_l)
    order 1  c_kl = eta s_kl / (l_k + l_l)
    order 2  c_kl = eta s_kl / (l_k + l_l + (eta/2)(l_k^2 + l_l^2)),

so on a diagonal entry the order-1 SME is off by -eta l / 2 relatively and the order-2 SME by
-eta l / (1 + eta l / 2): both O(eta) relatively (O(eta^2) absolutely, which is all the
finite-horizon weak order 2 promises). The order-2 *drift* is not what goes wrong: per unit
time SGD's mean contracts along an eigenvector at the exact AR(1) rate
r = -ln(1 - eta l) / eta = l + eta l^2 / 2 + O(eta^2), which the order-2 drift matches to
O(eta^2) and the order-1 drift does not. What is missing is the diffusion of the same order:
an Ornstein-Uhlenbeck process with rate r has SGD's stationary variance eta^2 s / (1 - (1 -
eta l)^2) only with diffusion D = eta s (2 r eta) / (1 - e^{-2 r eta}) = eta s (1 + eta l +
O(eta^2)), i.e. eta (Sigma + (eta/2)(H Sigma + Sigma H)) in matrix form. With that diffusion
(``"sme2_corrected"``) the diagonal gap is -(eta l)^2 / 2 / (1 + eta l / 2): O(eta^2).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov, solve_discrete_lyapunov


def _augmented_gradients(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """G_i = [x_i x_i^T, -x_i y_i], shape (N, d, d+1): grad l_i(theta) = G_i (theta, 1)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (N, d) and y (N,), got {x.shape} and {y.shape}")
    return np.concatenate([x[:, :, None] * x[:, None, :], -(x * y[:, None])[:, :, None]], axis=2)


def _pad(A: np.ndarray) -> np.ndarray:
    """[A; 0]: a (d, d+1) block as the (d+1, d+1) map that leaves the constant 1 in place."""
    zeros = np.zeros(A.shape[:-2] + (1, A.shape[-1]))
    return np.concatenate([A, zeros], axis=-2)


def _z0(theta0) -> np.ndarray:
    z = np.append(np.asarray(theta0, dtype=float), 1.0)
    return np.outer(z, z)


def least_squares_sgd_moments(x, y, theta0, eta: float, batch_size: int, num_steps: int):
    """Z_n = E[z_n z_n^T], n = 0..num_steps, of SGD (with-replacement minibatches of
    ``batch_size``) on least squares; shape (num_steps + 1, d + 1, d + 1)."""
    G_i = _augmented_gradients(x, y)
    G = G_i.mean(0)
    M = np.eye(G.shape[1]) - eta * _pad(G)
    D_i = _pad(G_i - G)
    Z = _z0(theta0)
    out = [Z]
    for _ in range(num_steps):
        noise = np.einsum("iab,bc,idc->ad", D_i, Z, D_i) / len(D_i)
        Z = M @ Z @ M.T + (eta**2 / batch_size) * noise
        out.append(Z)
    return np.array(out)


def least_squares_sme_moments(
    x, y, theta0, eta: float, batch_size: int, ts, *, order: int = 2, noise: bool = True
):
    """Z(t) = E[z z^T] at the times ``ts`` for the SME on least squares: ``order`` 2 (drift
    -grad(L + eta/4 ||grad L||^2)) or 1 (-grad L); ``noise=False`` drops the diffusion (with
    order 1: the gradient flow). Shape (len(ts), d + 1, d + 1)."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    G_i = _augmented_gradients(x, y)
    G = G_i.mean(0)
    d = G.shape[0]
    H = G[:, :d]
    A = -G if order == 1 else -(np.eye(d) + 0.5 * eta * H) @ G
    A = _pad(A)
    eye = np.eye(d + 1)
    # row-major vec: vec(A Z) = (A kron I) vec Z, vec(Z A^T) = (I kron A) vec Z
    K = np.kron(A, eye) + np.kron(eye, A)
    if noise:
        D_i = _pad(G_i - G)
        K = K + (eta / batch_size) * np.einsum("iab,icd->acbd", D_i, D_i).reshape(K.shape) / len(
            D_i
        )
    z0 = _z0(theta0).reshape(-1)
    return np.array([(expm(K * t) @ z0).reshape(d + 1, d + 1) for t in np.asarray(ts)])


def least_squares_expectations(x, y, theta_star, Z: np.ndarray) -> dict[str, np.ndarray]:
    """E L(theta) and E ||theta - theta*||^2 from second moments Z (..., d+1, d+1)."""
    x = np.asarray(x, dtype=float)
    w = np.concatenate([x, -np.asarray(y, dtype=float).reshape(-1, 1)], axis=1)
    K_loss = 0.5 * w.T @ w / len(w)
    P = np.concatenate([np.eye(x.shape[1]), -np.asarray(theta_star, dtype=float)[:, None]], 1)
    K_dist = P.T @ P
    return {
        "loss": np.einsum("ab,...ba->...", K_loss, Z),
        "dist2": np.einsum("ab,...ba->...", K_dist, Z),
    }


def stationary_covariances(H, Sigma, eta: float) -> dict[str, np.ndarray]:
    """Stationary covariances of SGD (exact, discrete Lyapunov) and of the order-1 and order-2
    SMEs (continuous Lyapunov) for constant gradient noise Sigma (one minibatch's); and of the
    order-2 drift with the matching diffusion eta (Sigma + (eta/2)(H Sigma + Sigma H))
    (``"sme2_corrected"``; module docstring)."""
    H = np.asarray(H, dtype=float)
    Sigma = np.asarray(Sigma, dtype=float)
    eye = np.eye(len(H))
    H2 = H + 0.5 * eta * H @ H
    D2 = eta * (Sigma + 0.5 * eta * (H @ Sigma + Sigma @ H))
    return {
        "discrete": solve_discrete_lyapunov(eye - eta * H, eta**2 * Sigma),
        "sme1": solve_continuous_lyapunov(H, eta * Sigma),
        "sme2": solve_continuous_lyapunov(H2, eta * Sigma),
        "sme2_corrected": solve_continuous_lyapunov(H2, D2),
    }
