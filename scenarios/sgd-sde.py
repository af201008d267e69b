"""SGD's noise as a stochastic modified equation (Li, Tai & E 2017, 2019; docs/references.md §13).

Minibatch SGD (B examples drawn uniformly with replacement per step) against

* the gradient flow           d theta = -grad L dt                          (weak error O(eta))
* the order-2 SME             dTheta = -grad(L + eta/4 ||grad L||^2) dt + sqrt(eta Sigma) dW
                                                                            (weak error O(eta^2))

(and the order-1 SME, -grad L dt + sqrt(eta Sigma) dW, O(eta)), Sigma(theta) the covariance of
one minibatch gradient. Weak error at fixed time t1: |E phi(theta_n) - E phi(Theta(n eta))| for
phi = the loss and ||theta - theta*||^2.

1. Least squares (``num_examples`` x ``dim``): SGD's second moments follow a closed recursion
   and the SMEs' moment ODEs close (``analysis/sgd_moments.py``), so every expectation is exact
   and the O(eta^2) term is not hidden by Monte-Carlo noise. ``weak_slope_vs_flow`` and
   ``weak_slope_vs_sme2`` (phi = loss; ``..._dist2`` for ||theta - theta*||^2) with the
   least-squares standard error of the fitted slope.
2. A 1-``hidden``-1 tanh network on ``net_examples`` points of a sine, MSE, learning rates
   ``net_etas`` up to time ``net_t1`` (larger than the exact part's: the O(eta^2) gap must
   stand above the Monte-Carlo noise): Monte Carlo over ``num_paths`` SGD paths and
   SME paths by ``solve_sde`` (Euler–Maruyama, the SME's noise being multiplicative and
   non-commutative; its own weak error O(dt) is removed by Richardson extrapolation
   2 E[dt/2] - E[dt] on the same Brownian paths, a weak-order-2 estimate). Slopes with
   Monte-Carlo standard errors (fit weighted by the errors' standard errors). The paths are
   ``dynlearn.sweep`` members (vmapped: fixed-step loops) with eta, dt and the step count
   traced, so every learning rate reuses one SGD and one SME program.
3. Stationary covariance on the quadratic L = (1/N) sum_i (theta - a_i)^T H (theta - a_i) / 2
   (minibatch noise Sigma = H Cov(a) H / B, independent of theta): the exact discrete Lyapunov
   solution, the SMEs' continuous Lyapunov solutions, the empirical covariance of
   ``num_paths`` long SGD chains, and of long order-2 SME paths solved by ShARK (additive noise,
   where it is a correct Itô solver of strong order 1.5).
   ``stationary_cov_rel_error_*`` are relative Frobenius errors against the SGD chains'
   covariance. Li, Tai & E's weak-error bounds hold on finite horizons only; the stationary
   comparison is this project's own elementary calculation (``analysis/sgd_moments.py``): along
   an eigenvector of H (eigenvalue l) SGD's variance is eta^2 s / (1 - (1 - eta l)^2), the
   order-1 SME's eta s / (2 l) (relative gap -eta l / 2) and the order-2 SME's
   eta s / (2 l + eta l^2) (gap -eta l / (1 + eta l / 2)). The order-2 drift is not the culprit:
   its rate l + eta l^2 / 2 is the closer one to SGD's exact per-time rate
   -ln(1 - eta l) / eta = l + eta l^2 / 2 + O(eta^2). What is missing is the O(eta^2)
   correction of the diffusion that goes with it: with eta (Sigma + (eta/2)(H Sigma + Sigma H))
   the gap is -(eta l)^2 / 2 / (1 + eta l / 2) (``stationary_cov_*sme2_corrected*``).
   ``stationary_var_rel_error`` gives each covariance's signed relative error of the variance
   along each eigenvector (``stationary_eta_lambdas``: eta l) against the chains, with the
   chains' Monte-Carlo standard error ``stationary_var_mc_rel_stderr``.

Network weak errors whose difference lies within 2 Monte-Carlo standard errors of zero are
unresolved (``weak_resolved_vs_*``): they are drawn as upper bounds and left out of the slope
fits (a slope from fewer than two resolved learning rates is null).

The network Monte Carlo (2 x 10 000 SME paths per learning rate, with steps eta / 4 and
eta / 8) dominates the run time (the JSON's ``wall_time_s``); it shows progress per learning
rate.

Figure: (a) least squares, E L over time: SGD (dots), order-2 SME, gradient flow; (b) exact
weak errors against eta with fitted slopes; (c) the network's Monte-Carlo weak errors with
error bars; (d) the stationary variance of each covariance along H's eigenvectors relative to
the SGD chains, over the exact gaps against eta l.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import dynlearn
from dynlearn import train
from dynlearn.analysis import (
    fit_order,
    least_squares_expectations,
    least_squares_sgd_moments,
    least_squares_sme_moments,
    stationary_covariances,
)
from dynlearn.app.progress import progress
from dynlearn.app.scenario import (
    Scenario,
    ScenarioConfig,
    Seed,
    euler_steps,
    nonnegative,
    positive,
    require_steps,
    size,
)
from dynlearn.nn import MLP, Minibatches
from dynlearn.rules.credit import Backprop
from dynlearn.rules.linear import QuadraticBowl
from dynlearn.rules.optimiser import StochasticModifiedEquation


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    etas: Annotated[tuple[float, ...], positive(max=1.0)] = (
        0.1,
        0.05,
        0.025,
        0.0125,
    )  # least squares (exact moments)
    batch_size: Annotated[int, size(max=100_000)] = 2
    num_paths: Annotated[int, size(min=10, max=200_000)] = 10000
    t1: Annotated[float, positive()] = 2.0
    net_etas: Annotated[tuple[float, ...], positive(max=1.0)] = (
        0.2,
        0.1,
        0.05,
        0.025,
    )  # network Monte Carlo
    net_t1: Annotated[float, positive()] = 1.0
    # least squares
    num_examples: Annotated[int, size(max=100_000)] = 32
    # the exact SME moments take exp of a (dim+1)^2 x (dim+1)^2 generator per saved time
    dim: Annotated[int, size(max=30)] = 3
    label_noise: Annotated[float, nonnegative()] = 0.5
    # network Monte Carlo
    hidden: Annotated[int, size(max=4096)] = 8
    net_examples: Annotated[int, size(max=100_000)] = 16
    # SME step dt = eta / sde_substeps (and dt / 2 for Richardson)
    sde_substeps: Annotated[int, positive(max=1000)] = 4
    # stationary covariance
    stationary_eta: Annotated[float, positive()] = 0.1
    stationary_lambdas: Annotated[tuple[float, ...], positive()] = (1.0, 0.25)
    # per chain, one every 1 / (eta lambda_min) steps
    stationary_samples: Annotated[int, size(max=100_000)] = 20

    def __post_init__(self):
        super().__post_init__()  # the declared ranges; below, those between fields
        if len(self.etas) < 2:
            raise ValueError(f"etas must hold at least two learning rates: {self.etas}")
        for eta in self.etas:
            euler_steps(self.t1, eta, "t1, etas", max_steps=MAX_LS_STEPS)
        if len(self.net_etas) < 2:
            raise ValueError(f"net_etas must hold at least two learning rates: {self.net_etas}")
        for eta in self.net_etas:
            n = euler_steps(self.net_t1, eta, "net_t1, net_etas")
            require_steps(
                2 * n * self.sde_substeps,
                "the SME steps per path (2 net_t1/net_etas x sde_substeps)",
                "net_t1, net_etas, sde_substeps",
            )
        if len(self.stationary_lambdas) != 2:
            raise ValueError(f"stationary_lambdas: two eigenvalues, got {self.stationary_lambdas}")
        if not 0 < self.stationary_eta * max(self.stationary_lambdas) < 2:
            raise ValueError("stationary_eta * max(stationary_lambdas) must lie in (0, 2)")
        require_steps(
            stationary_thinning(self) * (10 + self.stationary_samples),
            "the SGD steps per stationary chain ((10 + stationary_samples) / (stationary_eta "
            "min(stationary_lambdas)))",
            "stationary_eta, stationary_lambdas, stationary_samples",
        )


# The least-squares moments take a matrix exponential per step (per saved time).
MAX_LS_STEPS = 10**5


def stationary_thinning(config: Config) -> float:
    """SGD steps between two samples of a stationary chain: 1 / (eta lambda_min), rounded up."""
    return math.ceil(min(1e300, 1.0 / (config.stationary_eta * min(config.stationary_lambdas))))


def memory(config: Config) -> dict[str, float]:
    """The largest arrays of the three parts (index tables count as one float per entry)."""
    d1, N, B, P = config.dim + 1, config.num_examples, config.batch_size, config.num_paths
    n_ls = round(config.t1 / min(config.etas))
    n_net = round(config.net_t1 / min(config.net_etas))
    params = 3 * config.hidden + 1
    chain = stationary_thinning(config) * (10 + config.stationary_samples)
    return {
        "the per-example gradients (num_examples x (dim+1)^2)": 3 * N * d1 * d1,
        "the SME moment generator ((dim+1)^4)": 4 * d1**4,
        "the exact moments (t1/min(etas) x (dim+1)^2)": 4 * (n_ls + 1) * d1 * d1,
        "the network paths' minibatch tables (num_paths x net_t1/min(net_etas) x batch_size)": P
        * n_net
        * B,
        "the network paths' states (num_paths x hidden x net_examples)": 4
        * P
        * params
        * (config.net_examples + 2),
        "the stationary chains' minibatch tables (num_paths x chain steps x batch_size)": P
        * chain
        * B,
        "the stationary samples (num_paths x stationary_samples)": 4
        * P
        * config.stationary_samples,
        "the examples (num_examples x dim)": N * (config.dim + 2),
    }


QUICK = {
    "etas": (0.1, 0.05, 0.025),
    "t1": 1.0,
    "net_etas": (0.2, 0.1, 0.05),
    "num_paths": 1000,  # slopes within their tests' bounds (1.23 +- 0.03, 2.39 +- 0.26)
    "stationary_samples": 5,
}


def _with_replacement(key, num_steps: int, num_examples: int, batch_size: int) -> jax.Array:
    """The index table of SGD drawing ``batch_size`` of ``num_examples`` rows uniformly with
    replacement at each step (step n from the n-th of ``num_steps`` keys split from ``key``)."""
    keys = jax.random.split(key, num_steps)
    return jax.vmap(lambda k: jax.random.randint(k, (batch_size,), 0, num_examples))(keys)


# ---------------------------------------------------------------- 1. least squares, exact
def _least_squares(config: Config) -> dict:
    rng = np.random.default_rng(config.seed)
    x = rng.normal(size=(config.num_examples, config.dim)) * np.linspace(1.0, 0.5, config.dim)
    w = rng.normal(size=config.dim)
    y = x @ w + config.label_noise * rng.normal(size=config.num_examples)
    theta_star = np.linalg.lstsq(x, y, rcond=None)[0]
    theta0 = theta_star + np.where(np.arange(config.dim) % 2 == 0, 1.5, -1.5)
    B = config.batch_size
    out = {"phi": {}, "curves": []}
    errs = {k: {"flow": [], "sme1": [], "sme2": []} for k in ("loss", "dist2")}
    for eta in config.etas:
        n = round(config.t1 / eta)
        ts = eta * np.arange(n + 1)
        ex = {
            "sgd": least_squares_sgd_moments(x, y, theta0, eta, B, n),
            "flow": least_squares_sme_moments(x, y, theta0, eta, B, ts, order=1, noise=False),
            "sme1": least_squares_sme_moments(x, y, theta0, eta, B, ts, order=1),
            "sme2": least_squares_sme_moments(x, y, theta0, eta, B, ts, order=2),
        }
        ex = {k: least_squares_expectations(x, y, theta_star, Z) for k, Z in ex.items()}
        for phi in errs:
            for ref in ("flow", "sme1", "sme2"):
                errs[phi][ref].append(float(abs(ex["sgd"][phi][-1] - ex[ref][phi][-1])))
        out["curves"].append({"eta": eta, "ts": ts, **{k: v["loss"] for k, v in ex.items()}})
    out["errors"] = errs
    out["loss_min"] = float(0.5 * np.mean((x @ theta_star - y) ** 2))
    return out


# ------------------------------------------------------------------ 2. network, Monte Carlo
def _network(config: Config) -> dict:
    net = MLP((1, config.hidden, 1), ("tanh", "identity"), "mse")
    key = jax.random.PRNGKey(config.seed)
    k_data, k_init, k_paths = jax.random.split(key, 3)
    x = jnp.linspace(-2.0, 2.0, config.net_examples)[:, None]
    y = jnp.sin(1.5 * x) + 0.3 * jax.random.normal(k_data, x.shape)
    theta0 = net.init(k_init, "xavier_normal")
    args = Minibatches(x, y)  # full batch, for the flows
    rule = Backprop(net)
    # theta*: the end of a long gradient flow (a minimiser), for phi = ||theta - theta*||^2
    theta_star = dynlearn.solve(rule, theta0, 50.0, args=args, rtol=1e-10, atol=1e-10).ys
    star = jax.jit(lambda ys: ravel_pytree(jax.tree.map(lambda l: l[-1], ys))[0])(theta_star)

    def phis(theta):
        flat = ravel_pytree(theta)[0]
        return jnp.stack([net.loss_value(theta, x, y), jnp.sum((flat - star) ** 2)])

    flow = dynlearn.solve(rule, theta0, config.net_t1, args=args, rtol=1e-10, atol=1e-10)
    phi_flow = np.asarray(jax.jit(lambda ys: phis(jax.tree.map(lambda l: l[-1], ys)))(flow.ys))
    keys = jax.random.split(k_paths, config.num_paths)
    N, B, P = config.net_examples, config.batch_size, config.num_paths
    # One program per kind of path, for every eta: eta, dt and the step count are traced.
    # SGD's index table has room for the smallest eta's steps; its first n rows are those of
    # an n-step table (split(key, n_max)[:n] == split(key, n)) and steps past n do nothing.
    n_max = max(round(config.net_t1 / eta) for eta in config.net_etas)

    def sgd_path(member):
        key, eta, n = member
        data = Minibatches(x, y, _with_replacement(key, n_max, N, B), eta=eta)
        return phis(train(rule, theta0, data, num_steps=n, max_steps=n_max).state)

    def sme_path(member):
        key, eta, dt = member
        sme = StochasticModifiedEquation(rule, eta, B, order=2)
        sol = dynlearn.solve_sde(
            sme.drift, sme.diffusion, theta0, config.net_t1, dt=dt, key=key, args=args
        )
        return phis(jax.tree.map(lambda l: l[-1], sol.ys))

    def members(*numbers):
        return (keys, *(np.full(P, v) for v in numbers))

    mc = []
    for eta in progress(config.net_etas, desc="network Monte Carlo"):
        n = round(config.net_t1 / eta)
        sgd = np.asarray(dynlearn.sweep(sgd_path, members(eta, n)))
        dt = eta / config.sde_substeps
        # Euler-Maruyama paths: a fixed-step loop, which sweep vmaps over the paths
        coarse = np.asarray(dynlearn.sweep(sme_path, members(eta, dt)))
        fine = np.asarray(dynlearn.sweep(sme_path, members(eta, dt / 2)))
        richardson = 2 * fine - coarse  # weak order 2 in dt, per path
        d_flow = sgd.mean(0) - phi_flow
        se_flow = sgd.std(0, ddof=1) / np.sqrt(P)
        d_sme = sgd.mean(0) - richardson.mean(0)
        se_sme = np.sqrt(sgd.var(0, ddof=1) / P + richardson.var(0, ddof=1) / P)
        mc.append(
            {
                "eta": eta,
                "diff_flow": d_flow,
                "se_flow": se_flow,
                "diff_sme2": d_sme,
                "se_sme2": se_sme,
                "em_bias_coarse_minus_fine": (coarse - fine).mean(0),
            }
        )
    return {"mc": mc, "phi_flow": phi_flow}


# --------------------------------------------------------------- 3. stationary covariance
def _stationary(config: Config) -> dict:
    """SGD's stationary covariance on a 2-D quadratic bowl against the exact discrete and SME
    solutions of their Lyapunov equations, and against order-2 SME paths."""
    rng = np.random.default_rng(config.seed + 1)
    eta = config.stationary_eta
    angle = np.deg2rad(30.0)
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    H = R @ np.diag(config.stationary_lambdas) @ R.T
    centres = rng.normal(size=(config.num_examples, 2)) * np.array([1.0, 0.6])
    a_bar = centres.mean(0)
    Sigma = H @ np.cov(centres.T, bias=True) @ H / config.batch_size
    exact = stationary_covariances(H, Sigma, eta)
    keys = jax.random.split(jax.random.PRNGKey(config.seed + 2), config.num_paths)
    samples = _sgd_chains(config, H, centres, keys)  # (paths, samples, 2)
    C_sme_paths = _sme2_paths_covariance(config, H, Sigma, a_bar, keys)
    return {
        "H": H,
        "Sigma": Sigma,
        "a_bar": a_bar,
        "C_emp": _covariance(samples, a_bar),
        "C_sme2_paths": C_sme_paths,
        **{f"C_{k}": v for k, v in exact.items()},
        "cloud": samples[:, -1, :],
        "metrics": _stationary_metrics(eta, H, a_bar, exact, samples, C_sme_paths),
    }


def _sgd_chains(config: Config, H, centres, keys) -> np.ndarray:
    """One SGD chain per key on the bowl with centres a_i, sampled every ``thin`` steps after
    a burn-in of 10 ``thin``: (paths, samples, 2)."""
    thin = stationary_thinning(config)
    burn = 10 * thin
    cj, a_bar = jnp.asarray(centres), jnp.asarray(centres.mean(0))
    N, B = config.num_examples, config.batch_size
    bowl, no_targets = QuadraticBowl(jnp.asarray(H)), jnp.zeros((N, 1))

    def chain(key):
        """theta after burn, burn + thin, ... SGD steps on the bowl with centres a_i."""
        index = _with_replacement(key, burn + thin * config.stationary_samples, N, B)
        data = Minibatches(cj, no_targets, index, eta=config.stationary_eta)
        run = train(bowl, a_bar, data, record_every=thin, record=_identity)
        return run.records[burn // thin : -1]  # entry k is theta after k * thin steps

    return np.asarray(jax.jit(jax.vmap(chain))(keys))


def _sme2_paths_covariance(config: Config, H, Sigma, a_bar, keys) -> np.ndarray:
    """The empirical stationary covariance of the order-2 SME's paths by ShARK (additive
    noise), on a tenth of the keys (at least 10)."""
    eta, lam_min = config.stationary_eta, min(config.stationary_lambdas)
    H2j = jnp.asarray(H + 0.5 * eta * H @ H)
    Sj = jnp.asarray(np.linalg.cholesky(eta * Sigma))
    t_burn, t_gap = 10.0 / lam_min, 1.0 / lam_min
    ts = t_burn + t_gap * np.arange(config.stationary_samples)

    def sme_path(key):
        sol = dynlearn.solve_sde(
            lambda t, th, args: -(H2j @ (th - jnp.asarray(a_bar))),
            lambda t, th, args: Sj,
            jnp.asarray(a_bar),
            float(ts[-1]),
            dt=0.1,
            key=key,
            method="shark",
            saveat=ts,
        )
        return sol.ys

    n_sme = max(10, config.num_paths // 10)
    sme_samples = np.asarray(dynlearn.sweep(sme_path, keys[:n_sme])).reshape(-1, 2) - a_bar
    return sme_samples.T @ sme_samples / len(sme_samples)


def _covariance(samples: np.ndarray, a_bar) -> np.ndarray:
    """The covariance about a_bar (the chains' exact mean: the noise has mean zero)."""
    flat = samples.reshape(-1, 2) - a_bar
    return flat.T @ flat / len(flat)


def _stationary_metrics(eta, H, a_bar, exact, samples, C_sme_paths) -> dict:
    C_emp = _covariance(samples, a_bar)
    groups = np.array_split(samples.reshape(len(samples), -1, 2) - a_bar, 10)
    C_groups = np.array(
        [np.einsum("psi,psj->ij", g, g) / (g.shape[0] * g.shape[1]) for g in groups]
    )
    mc_rel_se = float(np.linalg.norm(C_groups.std(0, ddof=1) / np.sqrt(10)) / np.linalg.norm(C_emp))

    def rel(A, ref):
        return float(np.linalg.norm(A - ref) / np.linalg.norm(ref))

    # variances along H's eigenvectors (ascending eigenvalues): signed relative error of each
    # covariance against the SGD chains, and the chains' Monte-Carlo standard error
    lam, Q = np.linalg.eigh(H)

    def variances(C):
        return np.einsum("ik,ij,jk->k", Q, C, Q)

    v_emp = variances(C_emp)
    v_groups = np.array([variances(C) for C in C_groups])
    models = {"discrete": exact["discrete"], "sme": exact["sme1"], "sme2": exact["sme2"]}
    models |= {"sme2_corrected": exact["sme2_corrected"], "sme2_paths": C_sme_paths}
    return {
        "stationary_cov_rel_error_discrete": rel(exact["discrete"], C_emp),
        "stationary_cov_rel_error_sme": rel(exact["sme1"], C_emp),
        "stationary_cov_rel_error_sme2": rel(exact["sme2"], C_emp),
        "stationary_cov_mc_rel_stderr": mc_rel_se,
        "stationary_cov_sme_vs_discrete_exact": rel(exact["sme1"], exact["discrete"]),
        "stationary_cov_sme2_vs_discrete_exact": rel(exact["sme2"], exact["discrete"]),
        "stationary_cov_sme2_paths_vs_lyapunov": rel(C_sme_paths, exact["sme2"]),
        "stationary_num_samples": int(samples.shape[0] * samples.shape[1]),
        "stationary_cov_rel_error_sme2_corrected": rel(exact["sme2_corrected"], C_emp),
        "stationary_cov_sme2_corrected_vs_discrete_exact": rel(
            exact["sme2_corrected"], exact["discrete"]
        ),
        "stationary_eta_lambdas": (eta * lam).tolist(),
        "stationary_var_rel_error": {
            k: (variances(C) / v_emp - 1).tolist() for k, C in models.items()
        },
        "stationary_var_mc_rel_stderr": (
            v_groups.std(0, ddof=1) / np.sqrt(len(v_groups)) / v_emp
        ).tolist(),
    }


def _identity(theta):
    return theta


def run(config: Config) -> dict:
    etas = np.asarray(config.etas, dtype=float)
    ls = _least_squares(config)
    nw = _network(config)
    st = _stationary(config)

    metrics = {}
    for phi, suffix in (("loss", ""), ("dist2", "_dist2")):
        for ref in ("flow", "sme1", "sme2"):
            slope, se = fit_order(etas, ls["errors"][phi][ref])
            metrics[f"weak_slope_vs_{ref}{suffix}"] = slope
            metrics[f"weak_slope_vs_{ref}{suffix}_stderr"] = se
    net_etas = np.asarray(config.net_etas, dtype=float)
    for j, suffix in ((0, ""), (1, "_dist2")):
        for ref in ("flow", "sme2"):
            diffs = np.array([abs(r[f"diff_{ref}"][j]) for r in nw["mc"]])
            ses = np.array([r[f"se_{ref}"][j] for r in nw["mc"]])
            # a difference within 2 standard errors of zero is unresolved: not fitted
            # (no slope, None, from fewer than two resolved learning rates)
            resolved = diffs > 2 * ses
            slope, se = (
                fit_order(net_etas[resolved], diffs[resolved], ses[resolved])
                if resolved.sum() >= 2
                else (None, None)
            )
            metrics[f"weak_resolved_vs_{ref}_network{suffix}"] = resolved.tolist()
            metrics[f"weak_slope_vs_{ref}_network{suffix}"] = slope
            metrics[f"weak_slope_vs_{ref}_network{suffix}_stderr"] = se
            metrics[f"weak_errors_vs_{ref}_network{suffix}"] = diffs.tolist()
            metrics[f"weak_errors_vs_{ref}_network{suffix}_stderr"] = ses.tolist()
    metrics.update(st["metrics"])
    for phi, suffix in (("loss", ""), ("dist2", "_dist2")):
        for ref in ("flow", "sme1", "sme2"):
            metrics[f"weak_errors_vs_{ref}{suffix}"] = ls["errors"][phi][ref]
    metrics["etas"] = etas.tolist()
    metrics["net_etas"] = net_etas.tolist()
    return {
        "metrics": metrics,
        "least_squares": ls,
        "network": nw,
        "stationary": st,
    }


def _eta_ticks(ax, etas):
    """Ticks at the learning rates themselves, plainly labelled (no crowded minor labels)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(etas, [f"{e:g}" for e in etas])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _plot_least_squares_curves(ax, ls: dict) -> None:
    """(a) least squares: SGD's exact expected loss over its order-2 SME, per eta."""
    ref = ls["curves"][-1]
    ax.plot(ref["ts"], ref["flow"] - ls["loss_min"], "k-", lw=2, label="gradient flow")
    for i, c in enumerate(ls["curves"]):
        every = max(1, len(c["ts"]) // 20)
        ax.plot(
            c["ts"][::every],
            c["sgd"][::every] - ls["loss_min"],
            "o",
            ms=3,
            color=f"C{i}",
            label=f"SGD eta={c['eta']:g} (exact E)",
        )
        ax.plot(c["ts"], c["sme2"] - ls["loss_min"], "--", color=f"C{i}", lw=1)
    ax.plot([], [], "k--", lw=1, label="order-2 SME (per eta)")
    ax.set_yscale("log")
    ax.set(
        xlabel="time t = n eta",
        ylabel="E L - min L",
        title="(a) least squares: SGD's exact expected loss on its SME",
    )
    ax.legend()


def _plot_least_squares_errors(ax, m: dict, config: Config) -> None:
    """(b) least squares: the exact weak errors against eta, with fitted slopes."""
    etas = np.asarray(m["etas"])
    grid = np.geomspace(etas.min(), etas.max(), 20)
    for key, mark, name in (
        ("flow", "o", "gradient flow"),
        ("sme1", "^", "order-1 SME"),
        ("sme2", "s", "order-2 SME"),
    ):
        for suffix, fill in (("", None), ("_dist2", "none")):
            errs = np.asarray(m[f"weak_errors_vs_{key}{suffix}"])
            label = (
                f"{name}, {'L' if not suffix else '|θ-θ*|²'}: slope "
                f"{m[f'weak_slope_vs_{key}{suffix}']:.3f}"
            )
            line = ax.loglog(etas, errs, mark, ms=6, mfc=fill, label=label)[0]
            coef = np.polyfit(np.log(etas), np.log(errs), 1)
            ax.loglog(
                grid, np.exp(np.polyval(coef, np.log(grid))), "-", lw=0.8, color=line.get_color()
            )
    _eta_ticks(ax, etas)
    ax.set(
        xlabel="learning rate eta",
        ylabel=f"|E φ(θ_n) - E φ(Θ(t1))|, t1 = {config.t1:g}",
        title="(b) least squares, exact weak errors: O(eta) and O(eta²)",
    )
    ax.legend(fontsize=7)


def _plot_network_errors(ax, m: dict, config: Config) -> None:
    """(c) tanh net: the Monte Carlo weak errors against eta (unresolved ones as bounds)."""
    etas = np.asarray(m["net_etas"])
    for key, mark, name in (("flow", "o", "vs gradient flow"), ("sme2", "s", "vs order-2 SME")):
        for suffix, fill in (("", None), ("_dist2", "none")):
            errs = np.asarray(m[f"weak_errors_vs_{key}_network{suffix}"])
            ses = np.asarray(m[f"weak_errors_vs_{key}_network{suffix}_stderr"])
            ok = np.asarray(m[f"weak_resolved_vs_{key}_network{suffix}"])
            slope = m[f"weak_slope_vs_{key}_network{suffix}"]
            slope_se = m[f"weak_slope_vs_{key}_network{suffix}_stderr"]
            note = "" if ok.all() else f" (from {int(ok.sum())} resolved η)"
            fitted = f"{slope:.2f} ± {slope_se:.2f}{note}" if slope is not None else "unresolved"
            bars = ax.errorbar(
                etas[ok],
                errs[ok],
                yerr=2 * ses[ok],
                fmt=mark,
                ms=6,
                mfc=fill,
                capsize=3,
                label=f"{name}, {'L' if not suffix else '|θ-θ*|²'}: slope {fitted}",
            )
            if not ok.all():  # within 2 s.e. of zero: drawn at their upper bar, not fitted
                ax.plot(
                    etas[~ok],
                    errs[~ok] + 2 * ses[~ok],
                    "v",
                    ms=6,
                    mfc="none",
                    color=bars[0].get_color(),
                )
    if not all(all(m[k]) for k in m if k.startswith("weak_resolved_vs_")):
        ax.plot(
            [],
            [],
            "v",
            ms=6,
            mfc="none",
            color="0.4",
            label="unresolved: |diff| < 2 s.e., upper bound, not fitted",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    _eta_ticks(ax, etas)
    ax.set(
        xlabel="learning rate eta",
        ylabel="|E φ(SGD) - E φ(.)| (bars: 2 s.e.)",
        title=f"(c) tanh net, Monte Carlo, t1 = {config.net_t1:g} (SME: EM + Richardson)",
    )
    ax.legend(fontsize=7)


def _plot_stationary(ax, m: dict, config: Config) -> None:
    """(d) stationary variances along H's eigenvectors, relative to SGD's chains."""
    x = np.asarray(m["stationary_eta_lambdas"])
    se = np.asarray(m["stationary_var_mc_rel_stderr"])
    rel = m["stationary_var_rel_error"]
    xs = np.linspace(0.0, 1.2 * x.max(), 100)
    curves = (
        ("discrete", "C0", "o", "SGD's discrete Lyapunov: 0", 0 * xs),
        ("sme", "C1", "^", "order-1 SME: -ηλ/2", -xs / 2),
        ("sme2", "C3", "s", "order-2 SME: -ηλ/(1+ηλ/2)", -xs / (1 + xs / 2)),
        (
            "sme2_corrected",
            "C2",
            "D",
            "order-2 drift, diffusion η(Σ+η(HΣ+ΣH)/2): -(ηλ)²/2/(1+ηλ/2)",
            -(xs**2) / 2 / (1 + xs / 2),
        ),
    )
    dodge = 0.025 * xs.max() * (np.arange(len(curves)) - (len(curves) - 1) / 2)
    for (key, color, mark, name, line), dx in zip(curves, dodge, strict=True):
        ax.plot(xs, 100 * line, "-", color=color, lw=1)
        ax.errorbar(
            x + dx,
            100 * np.asarray(rel[key]),
            yerr=200 * se,
            fmt=mark,
            color=color,
            capsize=3,
            label=name,
        )
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, [f"{v:g}\n(λ = {v / config.stationary_eta:g})" for v in x])
    ax.set(
        xlim=(0, xs.max()),
        xlabel=f"ηλ along an eigenvector of H (η = {config.stationary_eta:g})",
        ylabel="stationary variance vs SGD chains (%)\nlines: exact; bars: 2 s.e. of chains",
        title="(d) stationary variance: the SMEs are O(ηλ) low",
    )
    ax.legend(fontsize=7, loc="lower left")


def plot(results: dict, config: Config):
    from dynlearn.plotting import figure

    m, ls = results["metrics"], results["least_squares"]
    fig, axes = figure(2, 2, width=5.0, height=3.8)
    (ax_curve, ax_exact), (ax_net, ax_stat) = axes
    _plot_least_squares_curves(ax_curve, ls)
    _plot_least_squares_errors(ax_exact, m, config)
    _plot_network_errors(ax_net, m, config)
    _plot_stationary(ax_stat, m, config)
    return fig


scenario = Scenario(
    name="sgd-sde",
    description="SGD vs its stochastic modified equation: weak errors O(eta) and O(eta^2), "
    "stationary covariance",
    config=Config,
    quick=QUICK,
    run=run,
    plot=plot,
    memory=memory,
    stability_keys=("etas", "net_etas", "stationary_eta"),
    # a network slope is None when fewer than two learning rates resolve their difference
    # from zero (more paths, num_paths, resolve more)
    nullable=tuple(
        f"weak_slope_vs_{ref}_network{phi}{se}"
        for ref in ("flow", "sme2")
        for phi in ("", "_dist2")
        for se in ("", "_stderr")
    ),
)

if __name__ == "__main__":
    scenario.main()
