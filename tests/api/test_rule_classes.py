"""The rule classes follow equinox's abstract-or-final pattern
(https://docs.kidger.site/equinox/pattern/): every class is abstract (named ``Abstract...``) or
final (no subclasses, nothing abstract left); no concrete method is overridden; the fields are
declared in the final class alone (bases name them with ``eqx.AbstractVar``). ``train`` takes an
``AbstractRule`` and refuses anything else with one line naming what it got."""

import dataclasses
import importlib

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import dynlearn
import dynlearn.rules  # noqa: F401  (registers every rule class)
from dynlearn.nn import MLP, minibatches
from dynlearn.rules._rule import AbstractRule

importlib.import_module("dynlearn.analysis.target_alignment")


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


RULES = sorted(
    {c for c in _subclasses(AbstractRule) if c.__module__.startswith("dynlearn.")},
    key=lambda c: c.__name__,
)


def test_the_rule_classes_are_found():
    names = {c.__name__ for c in RULES}
    assert {"Backprop", "PredictiveCodingRule", "WeightPerturbation", "KolenPollack"} <= names
    assert len(RULES) >= 16


@pytest.mark.parametrize("cls", RULES, ids=lambda c: c.__name__)
def test_abstract_or_final(cls):
    abstract_left = getattr(cls, "__abstractmethods__", frozenset())
    if cls.__name__.startswith("Abstract"):
        return
    assert not abstract_left, f"{cls.__name__} leaves {sorted(abstract_left)} abstract"
    subs = [s.__name__ for s in cls.__subclasses__()]
    assert not subs, f"{cls.__name__} is final but subclassed by {subs}"


@pytest.mark.parametrize("cls", RULES, ids=lambda c: c.__name__)
def test_no_concrete_method_is_overridden(cls):
    for name, value in vars(cls).items():
        if not callable(value) or name.startswith("__"):
            continue
        for base in cls.__mro__[1:]:
            inherited = vars(base).get(name)
            if inherited is not None and callable(inherited):
                assert getattr(inherited, "__isabstractmethod__", False), (
                    f"{cls.__name__}.{name} overrides the concrete {base.__name__}.{name}"
                )


@pytest.mark.parametrize("cls", RULES, ids=lambda c: c.__name__)
def test_fields_are_declared_in_the_final_class_alone(cls):
    declared_in = {
        base.__name__
        for name in (f.name for f in dataclasses.fields(cls))
        for base in cls.__mro__
        if name in vars(base).get("__annotations__", {})
        and "AbstractVar" not in str(vars(base)["__annotations__"][name])
    }
    assert declared_in <= {cls.__name__}, f"{cls.__name__}'s fields come from {declared_in}"


def test_train_takes_an_abstract_rule():
    mlp = MLP((2, 1), ("identity",), "mse")
    x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
    data = minibatches(x, y, batch_size=2, epochs=1, eta=0.1)

    class LooksLikeARule(eqx.Module):  # duck typing is no longer enough
        def loss_and_direction(self, state, x, y, key):
            return mlp.loss_value(state, x, y), mlp.grad(state, x, y)

    with pytest.raises(TypeError, match="must be an AbstractRule.*got LooksLikeARule$"):
        dynlearn.train(LooksLikeARule(), mlp.init(jax.random.key(0)), data)
