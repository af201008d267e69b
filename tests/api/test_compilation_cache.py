"""The CLI's persistent compilation cache: a second run loads its programs instead of
compiling them (counted in the JSON), ``--no-cache`` and DYNLEARN_NO_CACHE turn it off, and
``--help`` says where it lives. Runs in subprocesses: the cache is process-wide JAX state."""

import json
import os
import subprocess
import sys

SCENARIO = "gradient-flow-quadratic"


def _run(tmp_path, *flags, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "DYNLEARN_NO_CACHE"}
    env.update(DYNLEARN_CACHE_DIR=str(tmp_path / "cache"), **(env_extra or {}))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "dynlearn", "run", SCENARIO, "--quick", "--out", str(out), *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((out / f"{SCENARIO}.json").read_text())


def test_second_run_loads_the_compiled_programs(tmp_path):
    cold = _run(tmp_path)
    # (a cold run may load a program it wrote itself moments before: a repeated one)
    assert cold["compilations"] > 5 * cold["compile_cache_hits"]
    assert any((tmp_path / "cache").iterdir()), "the first run writes the cache"
    warm = _run(tmp_path)
    assert warm["compile_cache_hits"] > 0
    # every program of the scenario is in the cache: nothing left to compile
    assert warm["compilations"] == 0, warm["compilations"]
    assert warm["metrics"] == cold["metrics"]
    off = _run(tmp_path, "--no-cache")
    assert off["compile_cache_hits"] == 0
    assert off["compilations"] == cold["compilations"] + cold["compile_cache_hits"]


def test_help_names_the_cache_and_the_switch(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dynlearn", "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "DYNLEARN_CACHE_DIR": str(tmp_path / "c")},
        timeout=120,
    )
    assert "--no-cache" in proc.stdout
    # argparse wraps the help text: compare without the line breaks it inserts
    assert str(tmp_path / "c") in "".join(proc.stdout.split())
