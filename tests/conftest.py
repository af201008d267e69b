"""Test-wide settings: float64 everywhere (tests compare against closed forms), a fixed
matplotlib backend, and no progress bars."""

import json
import os
import time

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DYNLEARN_NO_PROGRESS", "1")
os.environ.setdefault("DYNLEARN_NO_CACHE", "1")  # the tests compile; they never reuse a cache
# Compile fast: JAX's "disable most optimizations" (XLA's CPU backend at optimisation level 0,
# without LLVM's expensive passes). Compiling is most of the suite's time (the quick scenario
# runs spend 60-85 % of it in XLA), and this roughly halves it. Subprocesses (the CLI tests)
# inherit the setting through the environment. A compute-bound module opts back into full
# optimisation with ``pytestmark = pytest.mark.optimized`` (the fixture below): at level 0 a
# Monte Carlo over 1,000 SDE paths runs 4x slower than it compiles. The tests compare with
# closed forms, references and bounds, never with the figures' bits; programs compared bit
# for bit (loop vs Euler, rerun vs rerun) are compiled in one module, the same way.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# XLA:CPU's older loop emitters compile 30-45 % faster than its fusion emitters (measured per
# module: tests/autodiff/test_solve_grad.py 10.6 -> 5.7 s of compiling, the credit-assignment
# quick run 13.7 -> 7.8 s) and the compute-bound modules run as fast. Read when the backend
# starts, so for every module (and, through the environment, the CLI's subprocesses).
if "xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_use_fusion_emitters=false"
    ).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    """The scenario modules first (stable otherwise): they are the suite's longest, and under
    ``--dist loadscope`` a long module dealt out last keeps one worker busy alone at the end."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/scenarios/"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "optimized: compile this module's programs with XLA's full optimisation (compute-bound "
        "tests: the time saved running exceeds the extra compile time)",
    )


@pytest.fixture(scope="module", autouse=True)
def _xla_effort(request):
    """Fast compilation unless the module is marked ``optimized``; with
    ``DYNLEARN_TEST_PROFILE=FILE`` each module appends a JSON line to FILE: its wall time and
    what it compiled (``python benchmarks/suite_profile.py FILE`` tabulates them)."""
    fast = os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] not in ("0", "false", "False")
    full = request.node.get_closest_marker("optimized") is not None
    jax.config.update("jax_disable_most_optimizations", fast and not full)
    profile = os.environ.get("DYNLEARN_TEST_PROFILE")
    if not profile:
        yield
        return
    from dynlearn.compilation import count_compilations

    start = time.perf_counter()
    with count_compilations() as compiled:
        yield
    line = {
        "module": request.node.nodeid,
        "wall_s": round(time.perf_counter() - start, 2),
        "compile_s": round(compiled.compile_seconds, 2),
        "trace_s": round(compiled.trace_seconds, 2),
        "lower_s": round(compiled.lower_seconds, 2),
        "compilations": compiled.compilations,
        "optimized": full,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "end": round(time.time(), 2),
    }
    with open(profile, "a") as f:
        f.write(json.dumps(line) + "\n")
