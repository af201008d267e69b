"""`dynlearn list`, `dynlearn run` and `python scenarios/NAME.py`: flags, errors, outputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynlearn.app import cli
from dynlearn.app.records import to_jsonable
from dynlearn.app.scenario import load_scenario, scenario_names

ROOT = Path(__file__).resolve().parents[2]
NAME = "gradient-flow-quadratic"


def test_list_prints_every_scenario_with_a_description(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = scenario_names()
    assert [line.split()[0] for line in lines] == names
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    assert NAME in names


def test_run_writes_png_and_json_with_the_contracted_fields(tmp_path):
    assert (
        cli.main(
            [
                "run",
                NAME,
                "--quick",
                "--seed",
                "3",
                "--set",
                "eta=0.25",
                "--set",
                "theta0=1.0,-2.0",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / f"{NAME}.json").read_text())
    assert set(record) >= {"scenario", "config", "metrics", "seed", "versions", "wall_time_s"}
    assert record["scenario"] == NAME and record["seed"] == 3
    assert record["config"]["eta"] == 0.25 and record["config"]["theta0"] == [1.0, -2.0]
    assert record["config"]["t1"] == 10.0  # --quick's setting, with --set applied on top
    assert set(record["versions"]) >= {"python", "jax", "diffrax", "numpy", "scipy", "dynlearn"}
    png = (tmp_path / f"{NAME}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'; valid: .*" + NAME),
        (["run", NAME, "--set", "nope=1"], "unknown config key.*valid keys: seed .*lambda1"),
        (["run", NAME, "--set", "eta=fast"], "eta expects float, got 'fast'"),
        (["run", NAME, "--set", "theta0=1,x"], "theta0 expects float"),
        (["run", NAME, "--set", "eta"], "KEY=VALUE"),
        (["run", NAME, "--set", "lambda2=5"], "invalid config.*lambda1 > lambda2"),
        (["run", "all", "--set", "nope=1"], "belong to no scenario"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        cli.main(argv + ["--out", str(tmp_path)])
    assert info.value.code == 2
    import re

    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["run", "credit-assignment-comparison", "--set", "digits_hidden=1,,2"],
            r"digits_hidden=1,,2 has an empty entry",
        ),
        (["run", NAME, "--set", "theta0=1,"], r"theta0=1, has an empty entry"),
        (
            ["run", NAME, "--set", "eta=-5", "--set", "eta=0.1"],
            r"eta is set twice \(--set eta=-5 and --set eta=0.1\); give each key once",
        ),
        (
            ["run", NAME, "--set", "seed=5", "--seed", "7"],
            r"the seed is given twice \(--seed 7 and --set seed=5\); give one of them",
        ),
        (
            ["run", "all", "--set", "seed=5", "--seed", "7"],
            r"the seed is given twice",
        ),
        (
            ["run", "saxe-lowrank-image", "--set", "shown_ranks=10**12"],
            r"shown_ranks expects int, got '10\*\*12'",
        ),
        (
            ["run", "saxe-lowrank-image", "--set", f"shown_ranks={10**12}"],
            r"shown_ranks must lie in 1..size = 1..64, got \[1000000000000\]",
        ),
    ],
)
def test_ambiguous_or_malformed_sets_are_refused(tmp_path, capsys, argv, message, monkeypatch):
    import re

    monkeypatch.setattr(cli, "run_plans", lambda *a: pytest.fail("the run started"))
    with pytest.raises(SystemExit) as info:
        cli.main(argv + ["--out", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "ranks must" not in err.replace("shown_ranks must", "")  # the key given is blamed
    assert list(tmp_path.iterdir()) == []


def test_the_script_form_refuses_seed_twice_too(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        load_scenario(NAME).main(["--seed", "1", "--set", "seed=2", "--out", str(tmp_path)])
    assert info.value.code == 2 and "the seed is given twice" in capsys.readouterr().err


def test_quick_then_set_order_and_types():
    sc = load_scenario(NAME)
    cfg = sc.make_config(quick=True, overrides={"t1": 4})
    assert cfg.t1 == 4.0 and isinstance(cfg.t1, float)
    assert sc.make_config(quick=True).t1 == 10.0
    assert sc.make_config().t1 == 30.0


def test_to_jsonable_converts_arrays_and_non_finite():
    import numpy as np

    assert to_jsonable(
        {"a": np.arange(3), "b": np.float32(1.5), "c": np.nan, 1: (np.bool_(True),)}
    ) == {"a": [0, 1, 2], "b": 1.5, "c": None, "1": [True]}


def test_scenario_script_takes_the_same_flags(tmp_path):
    env = dict(os.environ, DYNLEARN_NO_PROGRESS="1")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scenarios" / f"{NAME}.py"),
            "--quick",
            "--set",
            "eta=2.5",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / f"{NAME}.json").read_text())
    assert record["metrics"]["gd_diverges"] is True
    bad = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scenarios" / f"{NAME}.py"),
            "--set",
            "lambda3=1",
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "valid keys" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_run_name_help_lists_the_config_keys(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "gradient-flow-quadratic", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "config keys (--set KEY=VALUE" in out
    for key in ("lambda1", "lambda2", "theta0", "eta", "rtol"):
        assert f"\n  {key} " in out
    assert "comma-separated floats" in out  # theta0's type
