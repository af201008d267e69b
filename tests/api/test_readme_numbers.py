"""README numbers are drawn from figures/*.json (``dynlearn.app.readme``): every marked span
must read what its JSON says, every scenario paragraph quotes its numbers that way, and the
checker itself catches a changed number, a stale one, and a marker that names nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dynlearn.app.readme import Figures, ReadmeError, check, fill, main, marks, render
from dynlearn.app.scenario import scenario_names

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
FIGURES = Figures(ROOT / "figures")


def test_every_marked_readme_number_equals_its_json():
    assert check(README, FIGURES) == []


def test_every_scenario_paragraph_quotes_numbers_from_its_json():
    quoted = {m.scenario for m in marks(README)}
    for name in scenario_names():
        assert f"**`{name}`**" in README, f"README has no paragraph for {name}"
        assert name in quoted, f"README quotes no number from figures/{name}.json"


def test_a_changed_number_is_caught():
    first = marks(README)[0]
    span = f"<!-- m:{first.key} -->{first.text}<!-- /m -->"
    altered = README.replace(span, f"<!-- m:{first.key} -->{first.text}1<!-- /m -->", 1)
    problems = check(altered, FIGURES)
    assert len(problems) == 1 and first.key in problems[0]


def test_fill_rewrites_a_stale_number_from_the_json(tmp_path):
    record = {"metrics": {"a": {"b": [0.5, 0.123456]}, "n": 200000}, "wall_time_s": 150.0}
    (tmp_path / "x.json").write_text(json.dumps(record))
    (tmp_path / "y.json").write_text(json.dumps({"metrics": {}, "wall_time_s": 30.0}))
    figures = Figures(tmp_path)
    text = (
        "r <!-- m:x:a/b/1:.3f -->9<!-- /m --> p <!-- m:x:a/b/0:pct,.0f -->1<!-- /m --> "
        "n <!-- m:x:n:_d -->0<!-- /m --> t <!-- m:x:/wall_time_s:minutes,.1f -->0<!-- /m --> "
        "all <!-- m:*:/wall_time_s:.0f -->0<!-- /m --> l <!-- m:x:a/b:max,.2f -->0<!-- /m --> "
        "j <!-- m:x:a/b:.1f -->0<!-- /m -->"
    )
    assert len(check(text, figures)) == 7
    new = fill(text, figures)
    assert check(new, figures) == []
    assert [m.text for m in marks(new)] == [
        "0.123",
        "50",
        "200 000",
        "2.5",
        "180",
        "0.50",
        "0.5, 0.1",
    ]


def test_markers_that_name_nothing_are_errors(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"metrics": {"a": 1.0, "b": None}}))
    figures = Figures(tmp_path)
    for text, message in (
        ("<!-- m:x:c:.1f -->1<!-- /m -->", "no 'c'"),
        ("<!-- m:nope:a:.1f -->1<!-- /m -->", "no figure record"),
        ("<!-- m:x:a:twice,.1f -->1<!-- /m -->", "unknown operation"),
        ("<!-- m:x:b:.1f -->1<!-- /m -->", "not a number"),
        ("<!-- m:x:a:.1q -->1<!-- /m -->", "format"),
    ):
        with pytest.raises(ReadmeError, match=message):
            check(text, figures)


def test_render_formats():
    assert render(0.98765, ".3f") == "0.988"
    assert render(2.2e-16, ".1e") == "2.2e-16"
    assert render(1.05e-7, ".0e") == "1e-7"
    assert render(0.97333, "pct,.1f") == "97.3"
    assert render([1, 2.5], "max,neg,.1f") == "-2.5"


def test_command_line_checks_and_fills(tmp_path, capsys):
    (tmp_path / "x.json").write_text(json.dumps({"metrics": {"a": 0.25}}))
    readme = tmp_path / "R.md"
    readme.write_text("a = <!-- m:x:a:.2f -->0.3<!-- /m -->\n")
    args = [str(readme), "--figures", str(tmp_path)]
    assert main([*args, "--check"]) == 1
    assert "reads '0.3'" in capsys.readouterr().out
    assert main(args) == 0
    assert readme.read_text() == "a = <!-- m:x:a:.2f -->0.25<!-- /m -->\n"
    assert main([*args, "--check"]) == 0


def test_readme_keeps_the_two_commands_at_the_top():
    head = README.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", head, re.S)
    assert any("dynlearn run all" in b for b in blocks)
    assert any("pytest" in b for b in blocks)
