"""Same config, same seed -> bit-identical metrics: on a rerun, and after an interrupted run
is resumed from its per-member checkpoint (``checkpointed_map``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dynlearn.app.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
ARORA = "arora-matrix-completion"  # quick: three depths, each a checkpointed member


@pytest.mark.parametrize("name", [ARORA, "pc-generative"])
def test_rerun_gives_identical_json_metrics(name, tmp_path):
    sc = load_scenario(name)
    first = sc.execute(tmp_path / "a", quick=True)
    second = sc.execute(tmp_path / "b", quick=True)
    assert (
        json.loads((tmp_path / "a" / f"{name}.json").read_text())["metrics"]
        == json.loads((tmp_path / "b" / f"{name}.json").read_text())["metrics"]
    )
    assert first["metrics"] == second["metrics"]


def test_resumed_run_matches_an_uninterrupted_one_exactly(tmp_path):
    out, pause = tmp_path / "out", tmp_path / "pause"
    pause.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        DYNLEARN_NO_PROGRESS="1",
        DYNLEARN_PAUSE_AT=f"member-2:{ARORA}",  # before the third depth
        DYNLEARN_PAUSE_DIR=str(pause),
    )
    cmd = [sys.executable, "-m", "dynlearn.app.cli", "run", ARORA, "--quick", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (pause / "paused").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143
    saved = sorted(p.name for p in (out / f".{ARORA}.checkpoint").glob("*.pkl"))
    assert len(saved) == 2 and not (out / f"{ARORA}.json").exists()

    sc = load_scenario(ARORA)
    resumed = sc.execute(out, quick=True, resume=True)
    assert not (out / f".{ARORA}.checkpoint").exists()
    fresh = sc.execute(tmp_path / "fresh", quick=True)
    assert resumed["metrics"] == fresh["metrics"]
