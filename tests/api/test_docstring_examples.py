"""The ``Examples:`` in the docstrings of the public entry points run and print what they say
(doctest, float64 as everywhere in the tests). A module listed here must keep its examples."""

import doctest
import importlib

import matplotlib.pyplot as plt
import pytest

MODULES = [
    "dynlearn.core.solve",
    "dynlearn.compilation",
    "dynlearn.core.events",
    "dynlearn.core.sweep",
    "dynlearn.nn.batches",
    "dynlearn.nn.mlp",
    "dynlearn.training",
    "dynlearn.rules.credit.backprop",
    "dynlearn.rules.credit.feedback_alignment",
    "dynlearn.rules.linear",
    "dynlearn.analysis.target_alignment",
    "dynlearn.plotting",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has no Examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    plt.close("all")
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
