"""``sweep(fn, xs)``: one compiled computation for a batch of members, sharded over devices.

A sweep evaluates a pure function on every member of a batch — seeds, initial conditions,
learning rates, taus — stacked along the leading axis of the pytree ``xs``:

    sweep(fn, xs)[i] == fn(xs[i])        for i = 0 .. n-1   (leaf by leaf, pytrees stacked)

equal to the Python loop ``[fn(x) for x in xs]`` stacked, to rounding (tested to 1e-12 in
float64). The whole batch is one jitted program; with several devices the batch axis is split
over them (``jax.sharding.NamedSharding`` on a one-axis mesh, padded to a multiple of the
device count and unpadded after; members dealt round-robin so that a sweep ordered by cost
does not leave one device all the slow members), each device running its own shard through
``jax.shard_map``;
under ``jax.distributed`` (several processes, e.g. one per host) the same call computes each
process's shard and gathers the result on every process (``process_allgather``).

How the members of one device's shard run (``strategy``):

- ``"vmap"``: all members together, ``jax.vmap(fn)``. An adaptive ODE solve under vmap runs
  in lockstep: the batched while-loop steps until the slowest member has finished, and every
  step pays for every member. Wins where members are many, cheap and alike and the device is
  wide (a GPU: one step of 256 small members costs about one step of one).
- ``"map"``: one member after another inside the compiled program (``jax.lax.map``): no
  lockstep, no per-member Python dispatch. Wins on CPU, where a batched step costs about as
  much as the members' steps one by one, so lockstep only adds the slow members' extra steps
  to every fast one (measured in ``benchmarks/bench_sweep.py``).
- ``"auto"`` (default): ``"vmap"`` on GPUs and TPUs; on CPU ``"map"`` when ``fn`` has a
  while loop whose trip count depends on the member's state (an adaptive solve, a stopping
  condition such as ``until=steady_state``), else ``"vmap"``: closed forms, fixed-length
  scans (an SGD loop) and fixed-step integrators (``solve`` with Euler, semi-implicit Euler
  or a fixed ``dt``, and ``solve_sde`` paths) have nothing to wait for, and one member after
  another would only lose the batching (1,000 Euler-Maruyama paths: ``map`` 6.6x slower
  than ``vmap``, ``benchmarks/bench_sweep.py``).

``chunk_size`` bounds memory: members run ``chunk_size`` at a time, vmapped within a chunk and
the chunks in sequence (``jax.lax.map(..., batch_size=chunk_size)``). With ``"map"`` the
members already run one at a time, so a chunk size switches to vmapped chunks.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dynlearn.core.solution import SolveError
from dynlearn.progress import progress as progress_bar
from dynlearn.progress import shown

STRATEGIES = ("auto", "vmap", "map")
_AXIS = "batch"


def _batch_size(xs) -> int:
    leaves = jax.tree.leaves(xs)
    if not leaves:
        raise ValueError("xs is an empty pytree: give arrays whose leading axis lists the members")
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in sizes:
        raise ValueError(
            "every leaf of xs needs a leading member axis; got a scalar leaf "
            "(stack the members, e.g. jnp.asarray([x0, x1, ...]))"
        )
    if len(sizes) != 1:
        raise ValueError(
            f"every leaf of xs must have the same leading (member) axis length, got {sorted(sizes)}"
        )
    n = sizes.pop()
    if n == 0:
        raise ValueError("xs has no members (leading axis of length 0)")
    return n


# Loops built inside this named scope take a fixed number of steps set by the member's own
# numbers (Euler, semi-implicit Euler and Euler-Maruyama without a stopping condition): their
# while loop is no reason to run members one by one.
FIXED_STEPS_SCOPE = "dynlearn_fixed_steps"


def _has_while_loop(jaxpr) -> bool:
    """Whether a jaxpr (or any jaxpr nested in its equations) has a while loop whose trip
    count can differ between members (adaptive steps, a stopping condition). Loops inside
    ``FIXED_STEPS_SCOPE`` (fixed-step integrators) do not count."""
    for eqn in jaxpr.eqns:
        if FIXED_STEPS_SCOPE in str(eqn.source_info.name_stack):
            continue
        if eqn.primitive.name == "while":
            return True
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns") and _has_while_loop(inner):
                    return True
    return False


@functools.lru_cache(maxsize=16)
def _loops_per_member(fn, member_avals) -> bool:
    leaves, treedef = member_avals
    member = jax.tree.unflatten(treedef, list(leaves))
    return _has_while_loop(jax.make_jaxpr(fn)(member).jaxpr)


def _resolve_strategy(strategy: str, platform: str, fn, xs) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if strategy != "auto":
        return strategy
    if platform != "cpu":
        return "vmap"
    leaves, treedef = jax.tree.flatten(xs)
    member = tuple(jax.ShapeDtypeStruct(np.shape(x)[1:], jnp.asarray(x).dtype) for x in leaves)
    return "map" if _loops_per_member(fn, (member, treedef)) else "vmap"


def _members(fn: Callable, strategy: str, chunk_size: int | None) -> Callable:
    """The function that runs one device's members: ``xs -> stacked fn(x)``."""
    if chunk_size is not None:
        return lambda xs: jax.lax.map(fn, xs, batch_size=chunk_size)
    if strategy == "vmap":
        return jax.vmap(fn)
    return lambda xs: jax.lax.map(fn, xs)


@functools.lru_cache(maxsize=16)
def _compiled(fn, strategy, chunk_size, devices: tuple) -> Callable:
    members = _members(fn, strategy, chunk_size)
    if len(devices) == 1:
        return jax.jit(members)
    mesh = Mesh(np.array(devices), (_AXIS,))
    spec = PartitionSpec(_AXIS)
    # check_vma=False: diffrax's while-loops start their carries from constants (step size,
    # solver state) that the varying-axis check would ask to be marked per device.
    return jax.jit(
        jax.shard_map(members, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
    )


def _interleave(xs, n_devices: int):
    """Pad the batch to a multiple of the device count and deal the members out like cards:
    device k gets members k, k + d, k + 2d, ... Sweeps are usually ordered by a parameter
    that sets the cost (a small initial scale waits longer on the plateau), so contiguous
    blocks would leave one device with all the slow members. Padding repeats the last member
    (a real one: finite, and no slower than the others). Returns (dealt xs, inverse order)."""
    n = _batch_size(xs)
    m = -(-n // n_devices)
    order = np.minimum(np.arange(m * n_devices).reshape(m, n_devices).T.ravel(), n - 1)
    inverse = np.argsort(np.arange(m * n_devices).reshape(m, n_devices).T.ravel())[:n]
    return jax.tree.map(lambda x: np.asarray(x)[order], xs), inverse


@functools.lru_cache(maxsize=16)
def _undeal(sharding: NamedSharding | None) -> Callable:
    return jax.jit(lambda y, inverse: jnp.take(y, inverse, axis=0), out_shardings=sharding)


def _member_errors_in_one_line(run: Callable) -> Callable:
    """``run`` with a failing member's error (``solve``'s result message, raised in the
    compiled program through an equinox runtime check) as one ``SolveError`` line, instead of
    XLA's callback error with a traceback inside, and without the callback's log record."""

    def wrapped(*args):
        log = logging.getLogger("jax._src.callback")
        level = log.level
        log.setLevel(logging.CRITICAL)  # the same error, logged with a traceback on stderr
        try:
            return run(*args)
        except jax.errors.JaxRuntimeError as err:
            text = str(err)
            marker = "EquinoxRuntimeError: "
            if marker not in text:
                raise
            message = text.split(marker, 1)[1].split("\n\n", 1)[0].strip()
            raise SolveError(
                f"a member of the sweep failed: {message} (solve that member alone, "
                f"fn(xs[i]), for the time and step; or pass throw=False to solve and read "
                f"sol.result per member)"
            ) from None
        finally:
            log.setLevel(level)

    return wrapped


def sweep(
    fn: Callable[[Any], Any],
    xs: Any,
    *,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    strategy: str = "auto",
    progress: bool = False,
) -> Any:
    """Map the pure function ``fn`` over the leading (member) axis of the pytree ``xs``.

    Returns the members' outputs stacked along a new leading axis (a pytree like ``fn``'s
    output), equal to ``[fn(x) for x in xs]`` stacked. One compiled program runs the whole
    batch; see the module docstring for ``strategy`` and ``chunk_size``. ``devices`` (default:
    every device of every process, ``jax.devices()``) splits the batch over several devices;
    with one device the batch stays on it.

    ``fn`` must be traceable (jax.numpy, diffrax, ``dynlearn.solve``); it is compiled once
    per (fn, strategy, chunk_size, devices) and reused, so pass the same function object to
    reuse the compilation.

    ``progress=True`` shows a bar of the members done (``dynlearn.progress``: on a terminal or
    in a notebook, after 2 s). The batch then runs in about ``PROGRESS_PARTS`` parts of equal
    size (a multiple of ``chunk_size`` and of the device count; the last part padded with
    copies of the last member) through one compiled program, the parts' results gathered on
    the host. Members that run one by one (``"map"``) give the same numbers bit for bit as
    ``progress=False``; vmapped members agree to rounding (a vmapped matrix product may sum
    in another order for another batch size), and on a GPU, where a batch costs about as much
    as one member, the parts cost up to ``PROGRESS_PARTS`` times the time. Where no bar can be
    drawn (a log file, DYNLEARN_NO_PROGRESS=1) the sweep runs as with ``progress=False``.

    Examples:
        >>> import jax.numpy as jnp
        >>> import dynlearn
        >>> dynlearn.sweep(lambda a: a * jnp.exp(-a), jnp.array([0.0, 1.0, 2.0]))
        Array([0.        , 0.36787944, 0.27067057], dtype=float64)
    """
    n = _batch_size(xs)
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    devices = tuple(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices is empty: give at least one device (e.g. jax.devices()[:1])")
    if len({d.platform for d in devices}) != 1:
        raise ValueError(f"devices must share one platform, got {[d.platform for d in devices]}")
    strategy = _resolve_strategy(strategy, devices[0].platform, fn, xs)
    run = _compiled(fn, strategy, chunk_size, devices)
    size = _part_size(n, chunk_size, len(devices))
    if not (progress and shown()) or size >= n:
        return _member_errors_in_one_line(_run_on)(run, xs, devices)
    run_part = _member_errors_in_one_line(lambda part: _to_host(_run_on(run, part, devices)))
    return _place(_in_parts(run_part, xs, n, size), devices, n)


def _run_on(run: Callable, xs, devices: tuple) -> Any:
    """The compiled ``run`` on the batch ``xs``: on one device, or dealt over several."""
    n = _batch_size(xs)
    if len(devices) == 1:
        return run(jax.device_put(xs, devices[0]))

    sharding = NamedSharding(Mesh(np.array(devices), (_AXIS,)), PartitionSpec(_AXIS))
    dealt, inverse = _interleave(xs, len(devices))
    # Every process holds the whole of xs; each places only its addressable shards.
    xs_global = jax.tree.map(
        lambda x: jax.make_array_from_callback(x.shape, sharding, lambda index: x[index]), dealt
    )
    out = run(xs_global)
    if not all(leaf.is_fully_addressable for leaf in jax.tree.leaves(out)):
        out = multihost_utils.process_allgather(out, tiled=True)
        return jax.tree.map(lambda y: jnp.asarray(np.asarray(y)[inverse]), out)
    # Back to the caller's order, still spread over the devices when n divides evenly.
    undeal = _undeal(sharding if n % len(devices) == 0 else None)
    return jax.tree.map(lambda y: undeal(y, inverse), out)


# A bar that moves in steps of about a tenth: few enough parts that their dispatch costs
# nothing next to the members' work, enough to see the sweep move.
PROGRESS_PARTS = 10


def _part_size(n: int, chunk_size: int | None, n_devices: int) -> int:
    """Members per part for the progress bar: about n / PROGRESS_PARTS, rounded up to a
    multiple of ``chunk_size`` (the vmapped groups of a part are those of the whole batch)
    and of the device count (no padding for the deal)."""
    step = math.lcm(chunk_size or 1, n_devices)
    per_part = -(-n // PROGRESS_PARTS)  # ceil(n / PROGRESS_PARTS)
    return -(-per_part // step) * step


def _to_host(tree):
    """Every leaf as a numpy array: waits for the part to finish (the bar counts done work)."""
    return jax.tree.map(np.asarray, tree)


def _in_parts(run_part: Callable, xs, n: int, size: int):
    """``run_part`` over consecutive parts of ``size`` members of ``xs`` (the last padded by
    repeating the last member, so every part has one shape and one compiled program), with a
    progress bar of the members done; the results concatenated on the host, padding dropped."""
    host = _to_host(xs)  # slicing numpy arrays compiles nothing
    outs = []
    with progress_bar(total=n, desc="sweep", unit="member") as bar:
        for first in range(0, n, size):
            index = np.minimum(np.arange(first, first + size), n - 1)
            outs.append(run_part(jax.tree.map(lambda x, i=index: x[i], host)))
            bar.update(min(size, n - first))
    return jax.tree.map(lambda *parts: np.concatenate(parts)[:n], *outs)


def _place(tree, devices: tuple, n: int):
    """The host results back on the devices as ``progress=False`` leaves them: spread over
    the devices when n divides evenly (all of them local), else on the first local one."""
    local = [d for d in devices if d.process_index == jax.process_index()]
    if len(devices) > 1 and len(local) == len(devices) and n % len(devices) == 0:
        target = NamedSharding(Mesh(np.array(devices), (_AXIS,)), PartitionSpec(_AXIS))
    else:
        target = local[0] if local else None
    return jax.device_put(tree, target)
