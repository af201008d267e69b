"""Interrupted, concurrent and resumed runs of ``dynlearn run``, as real subprocesses.

Two tiny scenarios (no JAX work, three checkpointed members each) live in a temporary
scenarios folder ($DYNLEARN_SCENARIOS). The moment a signal arrives is made exact by the test
hook ``DYNLEARN_PAUSE_AT=STAGE:NAME``: the run creates ``$DYNLEARN_PAUSE_DIR/paused`` and waits
for ``go`` -- before a scenario's run ("run"), inside the writer after both temporary files
are written ("write"), between the PNG's and the JSON's rename ("rename"), or before a
checkpointed member ("member-K").
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = """
from dataclasses import dataclass
from typing import Annotated
import os

from dynlearn.app.scenario import Scenario, ScenarioConfig, Seed, checkpointed_map, positive


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    members: Annotated[int, positive(max=10)] = 3


def member(k):
    if os.environ.get("TINY_FAIL_AT") == f"NAME {k}":
        raise RuntimeError(f"member {k} failed on purpose")
    log = os.environ.get("TINY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"NAME {k}\\n")
    return {"x": float(k * k)}


def run(config):
    values = checkpointed_map(member, range(config.members))
    return {"metrics": {"total": sum(v["x"] for v in values) + config.seed}}


def plot(results, config):
    from dynlearn.plotting import figure

    fig, axes = figure()
    axes[0, 0].plot([0, 1], [0, results["metrics"]["total"]])
    return fig


scenario = Scenario(name="NAME", description="tiny", config=Config, run=run, plot=plot)
"""
NAMES = ("alpha", "beta")


@pytest.fixture
def scenarios(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for name in NAMES:
        (folder / f"{name}.py").write_text(TINY.replace("NAME", name))
    return folder


def _env(scenarios, pause_dir=None, at=None, **extra):
    env = dict(os.environ, DYNLEARN_NO_PROGRESS="1", DYNLEARN_SCENARIOS=str(scenarios))
    env["PYTHONPATH"] = str(ROOT)
    env.pop("DYNLEARN_PAUSE_AT", None)
    if at:
        pause_dir.mkdir(exist_ok=True)
        env.update(DYNLEARN_PAUSE_AT=at, DYNLEARN_PAUSE_DIR=str(pause_dir))
    env.update(extra)
    return env


def _start(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "dynlearn.app.cli", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_here(args, scenarios, monkeypatch, capsys, **env) -> tuple[int, str, str]:
    """``dynlearn run ARGS`` in this process (for the runs that are not interrupted)."""
    from dynlearn.app import cli

    monkeypatch.setenv("DYNLEARN_SCENARIOS", str(scenarios))
    monkeypatch.delenv("DYNLEARN_PAUSE_AT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    try:
        code = cli.main(["run", *args])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _wait_paused(proc, pause_dir):
    deadline = time.monotonic() + 120
    while not (pause_dir / "paused").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached the pause point"
        time.sleep(0.05)


def _pair_is_consistent(out: Path, name: str) -> dict:
    record = json.loads((out / f"{name}.json").read_text())
    png = out / record["figure"]["file"]
    assert hashlib.sha256(png.read_bytes()).hexdigest() == record["figure"]["sha256"]
    return record


def _no_temporary_files(out: Path):
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "signum, at",
    [
        (signal.SIGINT, "run:beta"),
        (signal.SIGTERM, "run:beta"),
        (signal.SIGINT, "write:alpha"),
        (signal.SIGTERM, "rename:alpha"),
    ],
    ids=["SIGINT-before-beta", "SIGTERM-before-beta", "SIGINT-in-write", "SIGTERM-in-rename"],
)
def test_signal_stops_cleanly_and_keeps_finished_pairs(
    scenarios, tmp_path, monkeypatch, capsys, signum, at
):
    out, pause = tmp_path / "out", tmp_path / "pause"
    # an old pair first, so a half-done write would show as a new PNG beside an old JSON
    assert (
        _run_here(["all", "--seed", "7", "--out", str(out)], scenarios, monkeypatch, capsys)[0] == 0
    )
    proc = _start(["all", "--out", str(out)], _env(scenarios, pause, at))
    _wait_paused(proc, pause)
    proc.send_signal(signum)
    (pause / "go").touch()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    stage, name = at.split(":")
    assert signal.Signals(signum).name in lines[0] and repr(name) in lines[0]
    alpha = _pair_is_consistent(out, "alpha")
    assert alpha["seed"] == 0  # the new alpha finished (before beta, or its write completed)
    beta = _pair_is_consistent(out, "beta")
    assert beta["seed"] == 7  # the old beta is untouched
    _no_temporary_files(out)


def test_out_is_checked_before_any_work(scenarios, tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    bad = ["", " ", str(a_file), "/proc/dynlearn-x", "/proc", str(a_file / "sub")]
    if os.geteuid() != 0:  # root writes into read-only folders anyway
        bad.append(str(read_only))
    log = tmp_path / "log"
    for out in bad:
        code, _, err = _run_here(
            ["alpha", "--out", out], scenarios, monkeypatch, capsys, TINY_LOG=str(log)
        )
        assert code == 2 and "--out" in err, (out, err)
        assert not log.exists()  # no member was computed
    assert list(read_only.iterdir()) == []


def test_two_runs_into_one_folder_leave_one_consistent_pair(
    scenarios, tmp_path, monkeypatch, capsys
):
    out, pause = tmp_path / "out", tmp_path / "pause"
    first = _start(
        ["alpha", "--seed", "1", "--out", str(out)], _env(scenarios, pause, "write:alpha")
    )
    _wait_paused(first, pause)  # its temporary files are written, not yet renamed
    code, _, err = _run_here(
        ["alpha", "--seed", "2", "--out", str(out)], scenarios, monkeypatch, capsys
    )
    assert code == 0, err
    assert _pair_is_consistent(out, "alpha")["seed"] == 2
    (pause / "go").touch()
    assert first.wait(timeout=120) == 0, first.communicate()
    assert _pair_is_consistent(out, "alpha")["seed"] == 1  # the later rename wins, whole
    _no_temporary_files(out)


def test_resume_continues_at_the_interrupted_member_and_skips_finished(
    scenarios, tmp_path, monkeypatch, capsys
):
    out, pause, log = tmp_path / "out", tmp_path / "pause", tmp_path / "log"
    env = _env(scenarios, pause, "member-2:beta", TINY_LOG=str(log))
    proc = _start(["all", "--out", str(out)], env)
    _wait_paused(proc, pause)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert log.read_text().split("\n")[:-1] == [f"{n} {k}" for n in NAMES for k in (0, 1, 2)][:5]
    assert not (out / "beta.json").exists() and (out / ".beta.checkpoint").is_dir()

    log.unlink()
    args = ["all", "--resume", "--out", str(out)]
    code, stdout, err = _run_here(args, scenarios, monkeypatch, capsys, TINY_LOG=str(log))
    assert code == 0, err
    assert "alpha: up to date" in stdout
    assert log.read_text() == "beta 2\n"  # members 0 and 1 came from the checkpoint
    assert _pair_is_consistent(out, "beta")["metrics"] == {"total": 0.0 + 1.0 + 4.0}
    assert not (out / ".beta.checkpoint").exists()

    code, stdout, _ = _run_here(args + ["--seed", "3"], scenarios, monkeypatch, capsys)
    assert code == 0 and "up to date" not in stdout  # another config: run again
    assert _pair_is_consistent(out, "alpha")["metrics"] == {"total": 8.0}


def _handlers_installed(pid: int) -> bool:
    """Whether process ``pid`` catches SIGTERM (Python itself catches only SIGINT): the
    command line's handlers are in place. From /proc/PID/status, the SigCgt bitmask."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt")), 16
    )
    return bool(caught >> (signal.SIGTERM - 1) & 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status")
@pytest.mark.parametrize(
    "signum, delay",
    [
        (signal.SIGINT, 0.0),
        (signal.SIGTERM, 0.3),
        (signal.SIGINT, 1.0),
        (signal.SIGTERM, 2.0),
    ],
    ids=["SIGINT-at-once", "SIGTERM-0.3s", "SIGINT-1s", "SIGTERM-2s"],
)
def test_a_signal_in_the_first_seconds_of_run_all_is_one_line(tmp_path, signum, delay):
    """`dynlearn run all` spends its first seconds importing numpy, matplotlib, jax and the
    scenarios: a signal then (timed from the moment Python runs the command line's first lines
    and has installed the handlers, which is before any of those imports) ends the run with
    status 128 + signum and the one line: no traceback from an import, no "Exception ignored"
    from a garbage-collection callback, no progress-bar escape codes, no run going on."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DYNLEARN_NO_PROGRESS", None)  # bars on: stderr is a pipe, so none may appear
    env.pop("DYNLEARN_SCENARIOS", None)  # the real scenarios, with their heavy imports
    proc = subprocess.Popen(
        [sys.executable, "-m", "dynlearn", "run", "all", "--quick", "--out", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _handlers_installed(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    assert stderr.startswith(f"dynlearn: stopped by {signal.Signals(signum).name} ")
    assert len(stderr.splitlines()) == 1 and stderr.endswith("\n"), stderr
    assert "\r" not in stderr and "\x1b" not in stderr


def _writers_report(procs, released) -> str:
    """Why the writers stopped coming: each one's state and, if it ended, its stderr."""
    lines = [f"no writer reached the commit in 120 s (released: {released})"]
    for seed, (proc, pause) in procs.items():
        code = proc.poll()
        err = "" if code is None else proc.communicate()[1][-2000:]
        state = "running" if code is None else f"exited {code}"
        lines.append(f"writer {seed}: {state}, paused={(pause / 'paused').exists()} {err}")
    return "\n".join(lines)


def test_writers_of_one_pair_commit_one_at_a_time(scenarios, tmp_path):
    """Three runs of one scenario into one --out, each stopped at the commit (between the PNG's
    and the JSON's rename): only one may be there at a time (the pair lock), so whatever the
    order they are let go in, the PNG in the end is the one the JSON names."""
    out = tmp_path / "out"
    procs = {}
    for seed in range(3):
        pause = tmp_path / f"pause{seed}"
        env = _env(scenarios, pause, "rename:alpha")
        procs[seed] = (_start(["alpha", "--seed", str(seed), "--out", str(out)], env), pause)
    released = []
    deadline = time.monotonic() + 120
    while len(released) < len(procs):
        paused = [
            s
            for s, (_, pause) in procs.items()
            if s not in released and (pause / "paused").exists()
        ]
        if not paused:
            assert time.monotonic() < deadline, _writers_report(procs, released)
            time.sleep(0.05)
            continue
        time.sleep(0.5)  # time for another writer to reach the commit, if the lock let it
        paused = [
            s
            for s, (_, pause) in procs.items()
            if s not in released and (pause / "paused").exists()
        ]
        assert len(paused) == 1, f"writers {paused} are inside the commit at once"
        (procs[paused[0]][1] / "go").touch()
        released.append(paused[0])
    for proc, _ in procs.values():
        assert proc.wait(timeout=120) == 0, proc.communicate()
    record = _pair_is_consistent(out, "alpha")
    assert record["seed"] == released[-1]  # the last to commit wins, whole
    _no_temporary_files(out)


def test_a_failing_member_is_one_line_and_a_damaged_checkpoint_is_recomputed(
    scenarios, tmp_path, monkeypatch, capsys
):
    out, log = tmp_path / "out", tmp_path / "log"
    monkeypatch.setenv("DYNLEARN_LOG_DIR", str(tmp_path / "logs"))
    code, _, err = _run_here(
        ["beta", "--out", str(out)], scenarios, monkeypatch, capsys, TINY_FAIL_AT="beta 2"
    )
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("dynlearn: scenario 'beta' failed: RuntimeError: member 2 failed on")
    saved = Path(err.split("full traceback in ")[1].strip().rstrip(")"))
    assert "Traceback" in saved.read_text()
    checkpoint = out / ".beta.checkpoint"
    members = sorted(checkpoint.glob("*.pkl"))
    assert [p.name for p in members] == ["1-0.pkl", "1-1.pkl"]
    members[1].write_bytes(members[1].read_bytes()[:5])  # truncated, as by a crash or full disk

    monkeypatch.delenv("TINY_FAIL_AT")
    code, stdout, err = _run_here(
        ["beta", "--resume", "--out", str(out)], scenarios, monkeypatch, capsys, TINY_LOG=str(log)
    )
    assert code == 0, err
    assert "beta: warning: checkpoint " in err and "1-1.pkl is damaged" in err
    assert log.read_text() == "beta 1\nbeta 2\n"  # member 0 from the checkpoint, 1 recomputed
    assert _pair_is_consistent(out, "beta")["metrics"] == {"total": 0.0 + 1.0 + 4.0}
    assert not checkpoint.exists()
