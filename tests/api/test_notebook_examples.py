"""README's two notebook examples, run as a fresh notebook would run them: a new interpreter,
JAX's default float32, nothing set up. Each is at most six lines, and its numbers are checked:
feedback alignment learns the spiral (test accuracy > 0.95), and the deep linear flow's mode
strengths follow Saxe et al.'s closed form for N = 2 (Saxe, McClelland & Ganguli 2014, eq. 7)
to float32 accuracy."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

CHECKS = {
    "fa-spiral": (
        "acc = float(mlp.accuracy(run.state, x_test, y_test))\n"
        "assert acc > 0.95, acc\n"
        "assert run.losses.dtype.name == 'float32'\n"
    ),
    "saxe-own-data": (
        "from dynlearn.analysis import mode_strengths\n"
        "from dynlearn.rules.linear import deep_mode_strength, end_to_end\n"
        "import jax\n"
        "W = np.asarray(jax.vmap(lambda *w: end_to_end(list(w)))(*sol.ys))\n"
        "u = mode_strengths(W, U, Vt.T)\n"
        "ts = np.asarray(sol.ts)\n"
        "theory = np.stack([deep_mode_strength(ts, s_r, 1e-3) for s_r in s], axis=1)\n"
        "err = np.max(np.abs(u - theory)) / s.max()\n"
        "assert err < 1e-3, err\n"
        "assert abs(u[-1, 0] - s[0]) < 1e-3 * s[0]  # the strongest mode is learned by t1\n"
    ),
}


def example(name: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- notebook: {name} -->\n```python\n(.*?)```", text, re.S)
    assert m, f"README has no example marked {name}"
    return m.group(1)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_readme_notebook_example(name, tmp_path):
    code = example(name)
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 6, f"{name}: {len(lines)} lines"
    script = tmp_path / f"{name}.py"
    script.write_text(code + CHECKS[name])
    env = {"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
