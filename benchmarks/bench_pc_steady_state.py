"""Routes to the equilibrium of PC inference, side by side in one run (docs/references.md §9).

The problem is the one of the pc-vs-bp scenario: strict PC on the MLP 64-32-32-32-10 (tanh,
softmax + cross-entropy, Xavier-normal init, seed 0) with one minibatch of 64 digits, weak
clamping beta = 0.01, free states started at the feedforward pass, float64. Every route stops
at residual r = rms(dx/dt) < 1e-6 (dx/dt = -dF/dx, the energy gradient) and reports

* wall time of a solve after compilation (median of repeats) and the first call's time
  (compilation included),
* field evaluations (nfev) and Jacobian-vector products (njvp) as counted in the run (a host
  callback counts them in a separate, untimed run), and the residual reached:

1. Euler x <- x + gamma dx/dt (the usual rule) at gamma = 0.1 and at the fastest gamma that
   converges, from a scan;
2. adaptive Tsit5 with the steady-state event (``infer(method="adaptive")``, which is
   ``dynlearn.solve(..., until=steady_state(tol))``);
3. Newton-Krylov on the field: ``optimistix.Newton`` with ``lineax.GMRES`` (matrix-free);
4. Newton with the per-row Hessian blocks (``infer(method="newton")``): F is a sum over the
   rows of the batch, so dF/dx is block diagonal, one (sum of hidden widths)^2 block per row;
   each Newton step forms the blocks with batched JVPs and solves them densely. Also at a
   tight tolerance (1e-10) against the fastest Euler;
5. implicit Kvaerno5 (PID step control, the step grows as the state settles), same event.

Kvaerno5 forms the dense n x n Jacobian of the field and factors it at every step: for the
6144 free states of the 64-row batch that is minutes per step on two shared cores, so the
implicit route runs on a second table, the first 8 rows (768 free states), with every other
route beside it.

Run: python benchmarks/bench_pc_steady_state.py   (prints the table row by row)
"""

from __future__ import annotations

import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optimistix as optx

jax.config.update("jax_enable_x64", True)

from dynlearn.core import SolveError  # noqa: E402
from dynlearn.data.digits import load_digits_split  # noqa: E402
from dynlearn.nn.mlp import MLP  # noqa: E402
from dynlearn.rules.pc.energy import Clamped, PredictiveCoding  # noqa: E402
from dynlearn.rules.pc.inference import infer, residual  # noqa: E402

TOL = 1e-6
GAMMAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
COUNT = {"f": 0, "jvp": 0}


def problem(batch=64):
    split = load_digits_split(0)
    x, y = split.x_train[:batch], split.y_train[:batch]
    mlp = MLP((64, 32, 32, 32, 10), ("tanh",) * 3 + ("softmax",), "softmax_cross_entropy")
    params = mlp.init(jax.random.PRNGKey(0), "xavier_normal")
    pc = PredictiveCoding(mlp, params, beta=0.01)
    return pc, pc.initial_states(x, "feedforward"), Clamped(x, y)


def _tick(kind):
    def tick(_):
        COUNT[kind] += 1

    return tick


class Field(eqx.Module):
    """xs -> dx/dt of ``pc`` (traced: compiled once); with ``counted``, a host callback counts
    each evaluation and each Jacobian-vector product (through a custom JVP)."""

    pc: PredictiveCoding
    args: Clamped
    counted: bool = eqx.field(static=True, default=False)

    def __call__(self, xs):
        if not self.counted:
            return self.pc.vector_field(0.0, xs, self.args)
        return _counted(self.pc, self.args, xs)


@jax.custom_jvp
def _counted(pc, args, xs):
    dx = pc.vector_field(0.0, xs, args)
    jax.debug.callback(_tick("f"), dx[0][0, 0])
    return dx


@_counted.defjvp
def _counted_jvp(primals, tangents):
    pc, args, xs = primals
    dx, tan = jax.jvp(lambda v: pc.vector_field(0.0, v, args), (xs,), (tangents[2],))
    jax.debug.callback(_tick("jvp"), tan[0][0, 0])
    return dx, tan


@eqx.filter_jit
def steady_diffrax(f, xs0, solver, rtol, atol, tol):
    """diffrax to the first step with rms(f) < tol (the steady-state event)."""

    def reached(t, y, args, **kwargs):
        return residual_of(f(y)) < tol

    return diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, a: f(y)),
        solver,
        t0=0.0,
        t1=1e4,
        dt0=0.1,
        y0=xs0,
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event(reached),
        max_steps=100_000,
        throw=False,
    )


def residual_of(dx):
    leaves = jax.tree.leaves(dx)
    return jnp.sqrt(sum(jnp.sum(d**2) for d in leaves) / sum(d.size for d in leaves))


@eqx.filter_jit
def newton_krylov(f, xs0, tol):
    """optimistix Newton with a matrix-free GMRES solve of J dx = -f per step."""
    solver = optx.Newton(
        rtol=1e-12, atol=tol / 10, linear_solver=lx.GMRES(rtol=1e-8, atol=1e-12, restart=50)
    )
    sol = optx.root_find(lambda y, a: f(y), solver, xs0, max_steps=50, throw=False)
    return sol.value, sol.stats["num_steps"]


def timed(fn, repeats=3):
    """(first call incl. compilation, median of repeats after it, last result)."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, float(np.median(times)), out


def count(fn):
    """Run ``fn`` once with the counters reset; (nfev, njvp)."""
    COUNT.update(f=0, jvp=0)
    jax.block_until_ready(fn())
    jax.effects_barrier()
    return COUNT["f"], COUNT["jvp"]


HEADER = (
    f"{'route':40s} {'first call':>10s} {'wall':>10s} {'/ best Euler':>12s} "
    f"{'nfev':>6s} {'njvp':>7s} {'residual':>9s}  note"
)


def main():
    table(64, implicit=False)
    print()
    table(8, implicit=True)


def table(batch, implicit):
    """One table: every route on the first ``batch`` rows; Kvaerno5 only if ``implicit``."""
    pc, xs0, args = problem(batch)
    n = sum(x.size for x in xs0)
    print(f"PC inference to rms(dx/dt) < {TOL:g}: the pc-vs-bp problem on {batch} rows ({n} "
          f"free states), float64, {jax.devices()[0].platform}")  # fmt: skip
    print(HEADER, flush=True)
    best_wall = []

    def row(name, first, wall, nfev, njvp, res, note=""):
        if not best_wall:
            best_wall.append(wall)  # the first row printed is the best Euler
        ratio = f"{wall / best_wall[0]:11.2f}x" if wall == wall else f"{'-':>12s}"
        wall_s = f"{wall * 1e3:8.1f}ms" if wall == wall else f"{'-':>10s}"
        print(f"{name:40s} {first:9.2f}s {wall_s} {ratio} {nfev:6d} {njvp:7d} {res:9.2e}  {note}",
              flush=True)  # fmt: skip

    # 1. Euler: scan gamma (traced: one compile), keep the fastest that converges
    scan = {}
    for g in GAMMAS:
        try:
            scan[g] = infer(pc, xs0, args, method="euler", gamma=g, T=100_000, tol=TOL)
        except SolveError:
            scan[g] = None
    stable = {g: r for g, r in scan.items() if r is not None}
    best = min(stable, key=lambda g: stable[g].nfev)
    unstable = [g for g, r in scan.items() if r is None]
    for g, label in ((best, f"Euler, gamma = {best:g} (fastest)"), (0.1, "Euler, gamma = 0.1")):
        first, wall, _ = timed(
            lambda g=g: infer(pc, xs0, args, method="euler", gamma=g, T=100_000, tol=TOL).xs
        )
        note = f"diverges at gamma >= {min(unstable):g}" if unstable and g == best else ""
        row(label, first, wall, stable[g].nfev, 0, stable[g].residual, note)

    # 2. adaptive Tsit5 with the steady-state event: solve(..., until=steady_state(tol))
    first, wall, _ = timed(lambda: infer(pc, xs0, args, method="adaptive", tol=TOL).xs)
    a = infer(pc, xs0, args, method="adaptive", tol=TOL)
    row("Tsit5 + steady-state event (adaptive)", first, wall, a.nfev, 0, a.residual,
        f"{a.num_steps} steps (nfev: solve's count)")  # fmt: skip

    # 3. Newton-Krylov (optimistix + lineax GMRES, matrix-free)
    first, wall, (xs, steps) = timed(lambda: newton_krylov(Field(pc, args), xs0, TOL))
    nfev, njvp = count(lambda: newton_krylov(Field(pc, args, True), xs0, TOL))
    row("Newton-Krylov (optx.Newton + GMRES)", first, wall, nfev, njvp,
        float(residual(pc, xs, args)), f"{int(steps)} Newton steps")  # fmt: skip

    # 4. Newton with the per-row Hessian blocks (infer(method="newton"))
    first, wall, _ = timed(lambda: infer(pc, xs0, args, method="newton", tol=TOL).xs)
    newton = infer(pc, xs0, args, method="newton", tol=TOL)
    row("Newton, per-row blocks (newton)", first, wall, newton.nfev, newton.njvp,
        newton.residual, f"{newton.num_steps} Newton steps, {batch} blocks 96x96")  # fmt: skip

    # 4b. a tight tolerance: Euler converges linearly, Newton quadratically
    tight = TOL * 1e-4
    first, wall, _ = timed(
        lambda: infer(pc, xs0, args, method="euler", gamma=best, T=100_000, tol=tight).xs
    )
    e = infer(pc, xs0, args, method="euler", gamma=best, T=100_000, tol=tight)
    row(f"  to {tight:g}: Euler, gamma = {best:g}", first, wall, e.nfev, 0, e.residual)
    first, wall, _ = timed(lambda: infer(pc, xs0, args, method="newton", tol=tight).xs)
    nt = infer(pc, xs0, args, method="newton", tol=tight)
    row(f"  to {tight:g}: Newton, per-row blocks", first, wall, nt.nfev, nt.njvp, nt.residual,
        f"{nt.num_steps} Newton steps")  # fmt: skip

    # 5. implicit Kvaerno5 (PID): diffrax forms the dense n x n Jacobian and its LU at every
    # step (minutes per step for n = 6144 on two shared cores: only on the small table)
    if not implicit:
        print(f"{'Kvaerno5 + steady-state event':40s} not run: a dense {n} x {n} LU per step")
        return
    kv = lambda f: steady_diffrax(f, xs0, diffrax.Kvaerno5(), TOL / 10, TOL / 10, TOL)  # noqa: E731
    COUNT.update(f=0, jvp=0)
    start = time.perf_counter()
    sol = jax.block_until_ready(kv(Field(pc, args, True)))
    jax.effects_barrier()
    first = time.perf_counter() - start
    nfev, njvp = COUNT["f"], COUNT["jvp"]
    wall = timed(lambda: kv(Field(pc, args)).ys, repeats=1)[1]
    res = float(residual(pc, jax.tree.map(lambda a: a[-1], sol.ys), args))
    row("Kvaerno5 + steady-state event", first, wall, nfev, njvp, res,
        f"{int(sol.stats['num_steps'])} steps, dense {n}x{n} LU")  # fmt: skip


if __name__ == "__main__":
    main()
