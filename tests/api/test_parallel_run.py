"""``dynlearn run all --jobs N``: scenarios in N processes, as real subprocesses.

Three tiny scenarios (no JAX work) in a temporary scenarios folder ($DYNLEARN_SCENARIOS): a
parallel run writes the same pairs as a sequential one, a failing scenario ends the run with
its one line and status 1, a signal stops every running scenario with one line and 130 / 143.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from dynlearn.app.parallel import child_command, longest_first, recorded_wall_time

ROOT = Path(__file__).resolve().parents[2]
TINY = """
import os
import time
from dataclasses import dataclass
from typing import Annotated

from dynlearn.app.interrupts import pause_point
from dynlearn.app.scenario import Scenario, ScenarioConfig, Seed, positive


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    scale: Annotated[float, positive()] = 1.0


def run(config):
    pause_point("run", "NAME")
    if os.environ.get("TINY_FAIL") == "NAME":
        raise RuntimeError("NAME failed on purpose")
    return {"metrics": {"value": config.scale * (len("NAME") + config.seed)}}


def plot(results, config):
    from dynlearn.plotting import figure

    fig, axes = figure()
    axes[0, 0].plot([0, 1], [0, results["metrics"]["value"]])
    return fig


scenario = Scenario(name="NAME", description="tiny", config=Config, run=run, plot=plot)
"""
NAMES = ("alpha", "beta", "gamma")


@pytest.fixture
def scenarios(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in NAMES:
        (folder / f"{name}.py").write_text(TINY.replace("NAME", name))
    return folder


def _run(args, scenarios, **extra):
    env = dict(os.environ, DYNLEARN_NO_PROGRESS="1", DYNLEARN_SCENARIOS=str(scenarios))
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return subprocess.Popen(
        [sys.executable, "-m", "dynlearn", "run", "all", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _metrics(folder: Path) -> dict:
    return {n: json.loads((folder / f"{n}.json").read_text())["metrics"] for n in NAMES}


def test_parallel_run_writes_every_pair_with_the_run_flags(scenarios, tmp_path):
    """Each scenario gets --seed and its --set keys; one summary line each, nothing on stderr
    (a sequential run gives these values too: tests/api/test_cli.py)."""
    par = tmp_path / "par"
    p = _run(["--jobs", "2", "--out", str(par), "--set", "scale=2", "--seed", "3"], scenarios)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert sorted(line.split(":")[0] for line in out.splitlines()) == sorted(NAMES)
    assert err == ""
    assert _metrics(par) == {n: {"value": 2.0 * (len(n) + 3)} for n in NAMES}
    assert all((par / f"{n}.png").is_file() for n in NAMES)


def test_a_failing_scenario_ends_the_parallel_run_with_its_line(scenarios, tmp_path):
    p = _run(["--jobs", "2", "--out", str(tmp_path / "o")], scenarios, TINY_FAIL="beta")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dynlearn: scenario 'beta' failed: RuntimeError: beta failed on")
    assert not (tmp_path / "o" / "beta.json").exists()


def test_a_signal_stops_every_running_scenario(scenarios, tmp_path):
    """SIGTERM to the parent is forwarded to the running scenarios (a Ctrl-C on a terminal
    reaches them directly, and is forwarded too: the same path)."""
    signum = signal.SIGTERM
    pause = tmp_path / "pause"
    pause.mkdir()
    out_dir = tmp_path / "o"
    p = _run(
        ["--jobs", "2", "--out", str(out_dir)],
        scenarios,
        DYNLEARN_PAUSE_AT="run:alpha",
        DYNLEARN_PAUSE_DIR=str(pause),
    )
    deadline = time.monotonic() + 60
    while not (pause / "paused").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (pause / "paused").exists(), "alpha never reached its pause point"
    p.send_signal(signum)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signum
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            f"dynlearn: stopped by {signal.Signals(signum).name}; finished scenarios are in"
        )
    )
    assert not (out_dir / "alpha.json").exists()  # the paused one wrote nothing


@pytest.mark.parametrize("jobs", ["0", "-2", "two", "1.5"])
def test_bad_jobs_are_refused_before_any_work(scenarios, tmp_path, jobs, monkeypatch, capsys):
    from dynlearn.app import cli

    monkeypatch.setenv("DYNLEARN_SCENARIOS", str(scenarios))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "all", "--jobs", jobs, "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
    assert "--jobs must be a positive integer or 'auto'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_auto_jobs_is_one_per_core_and_scenario():
    from dynlearn.app.parallel import auto_jobs

    assert auto_jobs(1) == 1
    assert 1 <= auto_jobs(100) <= (os.cpu_count() or 1)


def test_the_longest_recorded_scenario_starts_first(tmp_path):
    for name, wall in (("alpha", 5.0), ("beta", 50.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"wall_time_s": wall}))
    (tmp_path / "delta.json").write_text("{not json")
    plans = [(SimpleNamespace(name=n), {}, {}) for n in ("alpha", "beta", "gamma", "delta")]
    assert recorded_wall_time(tmp_path, "beta") == 50.0
    assert recorded_wall_time(tmp_path, "gamma") == float("inf")  # never run: first
    order = [p[0].name for p in longest_first(plans, tmp_path)]
    assert order == ["gamma", "delta", "beta", "alpha"]


def test_a_child_gets_the_run_flags_and_its_own_keys(tmp_path):
    ns = SimpleNamespace(quick=True, seed=4, resume=True, no_cache=True)
    cmd = child_command("alpha", {"scale": "2"}, tmp_path, ns)
    assert cmd[1:] == [
        "-m", "dynlearn", "run", "alpha", "--out", str(tmp_path), "--quick", "--seed", "4",
        "--set", "scale=2", "--resume", "--no-cache",
    ]  # fmt: skip
