"""The public face: what ``import dynlearn`` offers, and that importing the plotting module
changes no global matplotlib setting (a notebook's own style survives)."""

import subprocess
import sys

import dynlearn


def test_the_families_and_entry_points_are_attributes():
    for name in ("solve", "sweep", "train", "Minibatches", "minibatches", "solve_sde"):
        assert callable(getattr(dynlearn, name))
    from dynlearn.rules import Backprop, FeedbackAlignment, PredictiveCodingRule  # noqa: F401

    assert dynlearn.rules.credit.Backprop is dynlearn.rules.Backprop
    assert dynlearn.nn.MLP and dynlearn.data.spiral_split and dynlearn.analysis.angle_deg
    for module in (dynlearn, dynlearn.rules, dynlearn.nn, dynlearn.data, dynlearn.analysis):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, (module.__name__, missing)


def test_importing_plotting_changes_no_global_matplotlib_setting():
    code = (
        "import matplotlib; matplotlib.use('pdf'); import matplotlib.pyplot as plt\n"
        "before = dict(plt.rcParams)\n"
        "import dynlearn.plotting\n"
        "after = dict(plt.rcParams)\n"
        "changed = [k for k in before if before[k] != after[k]]\n"
        "assert not changed, changed\n"
        "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
