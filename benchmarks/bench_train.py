"""What the one training loop costs against the loop people write by hand.

A 2-64-64-4 tanh/softmax MLP on the spiral (400 points), minibatches of 10, 200 epochs
(8,000 SGD steps at eta 0.1, float64). Measured side by side in one run (best of 5 round-robin
repeats after a warm-up call; the first call, compile included, in its own column):

- a hand-written ``jax.jit`` of one ``lax.scan`` over the index table: per step
  ``jax.value_and_grad`` of the loss and theta <- theta - eta g (the strongest baseline);
- the same scan with the hand-written backward pass ``MLP.loss_and_grad`` (what ``Backprop``
  computes), to separate the loop's cost from the gradient's;
- ``dynlearn.train(Backprop(mlp), params, data)`` (one compiled program);
- ``dynlearn.train`` with a test-accuracy ``record`` every epoch;
- ``dynlearn.train`` with a ``callback`` every epoch (compiled chunks, a host call each);
- ``dynlearn.solve(Backprop(mlp), ..., method="euler", dt=eta)``, the same numbers as a flow.

Run: python benchmarks/bench_train.py
"""

from __future__ import annotations

import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import dynlearn  # noqa: E402
from dynlearn.data import spiral_split  # noqa: E402
from dynlearn.nn import MLP, minibatches  # noqa: E402
from dynlearn.rules.credit import Backprop  # noqa: E402

ETA, EPOCHS, BATCH = 0.1, 200, 10
X, Y, XT, YT = spiral_split(0)
MLP_ = MLP((2, 64, 64, 4), ("tanh", "tanh", "softmax"), "softmax_cross_entropy")
DATA = minibatches(X, Y, batch_size=BATCH, epochs=EPOCHS, eta=ETA, seed=1)
STEPS_PER_EPOCH = DATA.num_steps // EPOCHS
PARAMS0 = MLP_.init(jax.random.key(0))


def _scan(grad_fn):
    @jax.jit
    def run(params, index):
        def step(p, idx):
            loss, g = grad_fn(p, X[idx], Y[idx])
            return jax.tree.map(lambda a, b: a - ETA * b, p, g), loss

        return jax.lax.scan(step, params, index)

    return lambda: run(PARAMS0, DATA.index)


CASES = {
    "hand scan, jax.value_and_grad": _scan(jax.value_and_grad(MLP_.loss_value)),
    "hand scan, MLP.loss_and_grad": _scan(MLP_.loss_and_grad),
    "dynlearn.train": lambda: dynlearn.train(Backprop(MLP_), PARAMS0, DATA),
    "dynlearn.train + record per epoch": lambda: dynlearn.train(
        Backprop(MLP_),
        PARAMS0,
        DATA,
        record_every=STEPS_PER_EPOCH,
        record=_accuracy,
    ),
    "dynlearn.train + callback per epoch": lambda: dynlearn.train(
        Backprop(MLP_),
        PARAMS0,
        DATA,
        record_every=STEPS_PER_EPOCH,
        callback=lambda done, total: None,
    ),
    "dynlearn.solve euler": lambda: dynlearn.solve(
        Backprop(MLP_), PARAMS0, DATA.num_steps * ETA, method="euler", dt=ETA, args=DATA
    ),
}


def _accuracy(params):
    return MLP_.accuracy(params, XT, YT)


def _block(out):
    jax.block_until_ready(jax.tree.leaves(out))


def main():
    first, best = {}, {k: float("inf") for k in CASES}
    for name, fn in CASES.items():
        t = time.perf_counter()
        _block(fn())
        first[name] = time.perf_counter() - t
    for _ in range(5):
        for name, fn in CASES.items():
            t = time.perf_counter()
            _block(fn())
            best[name] = min(best[name], time.perf_counter() - t)
    base = best["hand scan, jax.value_and_grad"]
    print(f"{DATA.num_steps} steps; ratios to the hand-written jitted scan over jax.grad")
    for name in CASES:
        print(
            f"{name:38s} first {first[name]:6.2f} s  best {best[name]:6.3f} s  "
            f"ratio {best[name] / base:5.2f}"
        )
    print(json.dumps({k: round(v / base, 3) for k, v in best.items()}))


if __name__ == "__main__":
    main()
