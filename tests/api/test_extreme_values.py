"""Values inside the declared ranges that cannot work, and runs that go wrong: refused before
any work (exit 2, the keys named), or stopped with one line (exit 1) and nothing written --
never a traceback, never a pair that looks like a result.

The probes are those of issue 23, run in-process through ``dynlearn.app.cli.main``; the
refusals replace the run with a failure, so a probe that slipped through validation fails
the test instead of starting a computation. The scenarios that must run to diverge run in
quick mode with a few epochs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import pathlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynlearn.app import cli
from dynlearn.app.arguments import parse_text
from dynlearn.app.divergence import non_finite_metrics
from dynlearn.app.scenario import (
    MAX_STEPS,
    ConfigError,
    Diverged,
    euler_steps,
    require_finite_run,
    require_steps,
    require_training_progress,
)

# (scenario, --set items, keys the message must name): refused before any work
REFUSED = [
    ("arora-matrix-completion", ["eta=1e-300"], ["t1", "eta"]),
    ("arora-matrix-completion", ["eta=1e-7"], ["t1", "eta"]),  # 1e8 Euler steps
    ("arora-matrix-completion", ["eta=5e-324"], ["t1", "eta"]),  # t1/eta = inf
    ("depth-comparison", ["u0=1e30"], ["u0"]),  # no mode to learn: t1 = nan
    ("depth-comparison", ["u0=1e-300"], ["u0"]),  # the automatic t1 overflows
    ("depth-comparison", ["rtol=5e-324"], ["rtol"]),
    ("sgd-sde", ["t1=1e30"], ["t1", "etas"]),
    ("sgd-sde", ["stationary_lambdas=1e-300,1"], ["stationary_lambdas"]),
    ("pc-vs-bp", ["t_max=1e30"], ["t_max", "gammas"]),
    ("learning-rate-continuum", ["t1=1e30"], ["t1", "etas"]),
    ("mnist", ["eta=1e30"], ["eta"]),
    ("optimiser-flows", ["t1=1e30"], ["t1", "etas"]),
    ("optimiser-flows", ["t1_sign=1e30"], ["t1_sign"]),
    ("gradient-flow-quadratic", ["eta=1e10"], ["eta"]),  # one GD step to t = 1e10
    ("gradient-flow-quadratic", ["eta=1e-300"], ["t1", "eta"]),
    ("depth-phase-diagram", ["u0_min=1e-300"], ["u0_min"]),
    ("depth-phase-diagram", ["t_max=1"], ["t_max"]),  # no event before t_max
]


@pytest.fixture
def no_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the probe passed validation and the run started")

    monkeypatch.setattr(cli, "run_plans", refuse)


def _argv(name, sets, out, *flags):
    argv = ["run", name, *flags, "--out", str(out)]
    for item in sets:
        argv += ["--set", item]
    return argv


@pytest.mark.parametrize(
    "name, sets, keys", REFUSED, ids=[f"{n}:{','.join(s)}" for n, s, _ in REFUSED]
)
def test_values_that_cannot_work_are_refused_before_any_work(
    name, sets, keys, tmp_path, capsys, no_run
):
    with pytest.raises(SystemExit) as info:
        cli.main(_argv(name, sets, tmp_path / "out"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    message = err.strip().splitlines()[-1]
    assert all(key in message for key in keys), message
    assert "Traceback" not in err and "Warning" not in err
    assert list(tmp_path.iterdir()) == []


# (scenario, --set items, the quantity and the key the line names): legal, then diverges
DIVERGING = [
    ("spiral", ["eta=1e30", "epochs=2"], "the training loss (seed 0)", "eta"),
    ("fa-alignment", ["eta=1e30", "epochs=1", "num_seeds=1"], "the training loss of bp", "eta"),
]


@pytest.mark.parametrize(
    "name, sets, quantity, key", DIVERGING, ids=[f"{n}:{s[0]}" for n, s, *_ in DIVERGING]
)
def test_a_run_that_diverges_stops_with_one_line_and_writes_nothing(
    name, sets, quantity, key, tmp_path, capsys
):
    out = tmp_path / "out"
    assert cli.main(_argv(name, sets, out, "--quick")) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"dynlearn: scenario {name!r} failed: {quantity}")
    assert f"change {key}" in lines[0] or f"lower {key}" in lines[0]
    assert not [p.name for p in out.iterdir() if p.suffix in (".png", ".json", ".tmp")]


def test_step_and_finiteness_helpers_name_the_keys():
    assert euler_steps(10.0, 5e-4) == 20_000
    with pytest.raises(ConfigError, match=r"1e\+08 from t1, eta: more than the 1e\+07 steps"):
        euler_steps(10.0, 1e-7)
    with pytest.raises(ConfigError, match="comes out as inf from t1, eta"):
        euler_steps(10.0, 5e-324)
    with pytest.raises(ConfigError, match="whole number of steps"):
        euler_steps(1.0, 0.3)
    with pytest.raises(ConfigError, match="at least one step"):
        require_steps(0.2, "the steps", "t1, eta")
    with pytest.raises(Diverged, match="loss became non-finite at epoch 3: .*change eta"):
        require_finite_run([1.0, 0.5, 0.4, float("nan")], "loss", "eta", at="epoch")
    require_finite_run([[1.0, 2.0], [3.0, 4.0]], "state", "eta")  # finite: no error
    with pytest.raises(Diverged, match="rose from 2.3 at the start to 2.5 after epoch 2"):
        require_training_progress([2.3, 2.4, 2.5], "the training loss", "eta")
    require_training_progress([2.3, 2.4, 0.5], "the training loss", "eta")  # it learned


def test_non_finite_metrics_are_found_at_any_depth():
    metrics = {"a": 1.0, "b": {"1": None, "2": [0.5, float("inf")]}, "c": "text", "d": None}
    assert non_finite_metrics(metrics) == ["b.1", "b.2[1]", "d"]
    assert non_finite_metrics(metrics, allowed=("b", "d")) == []


# ------------------------------------------------------- a tiny scenario for the app itself
TINY = """
from dataclasses import dataclass
from typing import Annotated
import os

from dynlearn.app.scenario import Scenario, ScenarioConfig, Seed, one_of


@dataclass(frozen=True)
class Config(ScenarioConfig):
    seed: Seed = 0
    outcome: Annotated[str, one_of("fine", "nan", "raise", "solve")] = "fine"


def run(config):
    if config.outcome == "raise":
        raise RuntimeError("the model exploded on purpose")
    if config.outcome == "solve":
        from dynlearn import SolveError

        raise SolveError("non-finite state after Euler step 3 (t=3, dt=1)")
    value = float("nan") if config.outcome == "nan" else 1.0 + config.seed
    return {"metrics": {"value": value, "spread": {"a": value}}}


def plot(results, config):
    from dynlearn.plotting import figure

    fig, axes = figure()
    axes[0, 0].plot([0, 1], [0, 1])
    return fig


scenario = Scenario(name="NAME", description="tiny", config=Config, run=run, plot=plot,
                    nullable=NULLABLE, stability_keys=("outcome",))
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "tiny.py").write_text(TINY.replace("NAME", "tiny").replace("NULLABLE", "()"))
    (folder / "lenient.py").write_text(
        TINY.replace("NAME", "lenient").replace("NULLABLE", '("spread",)')
    )
    monkeypatch.setenv("DYNLEARN_SCENARIOS", str(folder))
    monkeypatch.setenv("DYNLEARN_LOG_DIR", str(tmp_path / "logs"))
    return tmp_path


def _pair(out: Path, name: str) -> dict:
    record = json.loads((out / f"{name}.json").read_text())
    png = out / record["figure"]["file"]
    assert hashlib.sha256(png.read_bytes()).hexdigest() == record["figure"]["sha256"]
    return record


def test_a_null_metric_is_never_written_as_a_success(tiny, capsys):
    out = tiny / "out"
    assert cli.main(["run", "tiny", "--seed", "4", "--out", str(out)]) == 0
    assert cli.main(["run", "tiny", "--set", "outcome=nan", "--out", str(out)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "dynlearn: scenario 'tiny' failed: metric value (and 1 more) is not a finite number: "
        "the run diverged or failed; change outcome"
    ]
    assert _pair(out, "tiny")["seed"] == 4  # the old pair, untouched
    # a scenario that declares a metric nullable writes it as null; the others still count
    assert cli.main(["run", "lenient", "--set", "outcome=nan", "--out", str(out)]) == 1
    assert "metric value is not a finite" in capsys.readouterr().err
    assert not (out / "lenient.json").exists()


def test_an_unexpected_exception_is_one_line_with_the_traceback_saved(tiny, capsys):
    out = tiny / "out"
    assert cli.main(["run", "tiny", "--set", "outcome=raise", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = "dynlearn: scenario 'tiny' failed: RuntimeError: the model exploded on purpose "
    assert lines[0].startswith(prefix + "(full traceback in ")
    saved = Path(lines[0].split("full traceback in ")[1].rstrip(")"))
    assert saved.parent == tiny / "logs"
    assert "Traceback" in saved.read_text() and 'raise RuntimeError("the model' in saved.read_text()
    assert not [p for p in out.iterdir() if p.suffix in (".png", ".json", ".tmp")]


def test_a_failed_solve_names_the_keys_that_set_the_step(tiny, capsys):
    assert cli.main(["run", "tiny", "--set", "outcome=solve", "--out", str(tiny / "out")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "dynlearn: scenario 'tiny' failed: SolveError: non-finite state after Euler step 3 "
        "(t=3, dt=1) [the keys that set the step: outcome] (full traceback in "
    )


def test_a_full_disk_leaves_the_old_pair_and_no_temporary_file(tiny, capsys, monkeypatch):
    out = tiny / "out"
    assert cli.main(["run", "tiny", "--seed", "4", "--out", str(out)]) == 0
    write_text = pathlib.Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    capsys.readouterr()
    assert cli.main(["run", "tiny", "--seed", "5", "--out", str(out)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "OSError: [Errno 28] No space left on device" in lines[0]
    assert _pair(out, "tiny")["seed"] == 4
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_an_over_long_out_name_is_refused_in_one_line(tiny, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "tiny", "--out", str(tiny / ("x" * 300))])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is not a writable folder (File name too long)" in err and "Traceback" not in err


def test_a_scenario_that_fails_to_load_is_one_line(tiny, capsys):
    (tiny / "scenarios" / "broken.py").write_text("import no_such_module_here\n")
    assert cli.main(["run", "broken", "--out", str(tiny / "out")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dynlearn: failed: ModuleNotFoundError: No module named")


# ------------------------------------------------------- the whole float range, by hypothesis
floats = st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(t1=floats, dt=floats)
def test_euler_steps_is_a_count_within_the_budget_or_a_config_error(t1, dt):
    """Any two positive finite floats (the declared range of t1 and eta): a whole number of
    steps in [1, MAX_STEPS] that reaches t1, or a ConfigError naming the keys -- never an
    overflow, a NaN count or another exception."""
    try:
        n = euler_steps(t1, dt, "t1, eta")
    except ConfigError as err:
        assert "t1, eta" in str(err)
        return
    assert isinstance(n, int) and 1 <= n <= MAX_STEPS
    assert abs(n * dt - t1) <= 1e-8 * t1


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789,.-e ", max_size=12))
def test_a_list_value_parses_to_its_entries_or_is_refused(text):
    """Any text for a list key: exactly its comma-separated entries, or a ConfigError (an
    empty entry is never dropped)."""
    hint = tuple[float, ...]
    try:
        value = parse_text("etas", hint, text)
    except ConfigError:
        return
    assert len(value) == text.count(",") + 1
    assert all(isinstance(v, float) and math.isfinite(v) for v in value)
