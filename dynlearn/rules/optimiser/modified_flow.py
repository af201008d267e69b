"""The modified flow of gradient descent (Barrett & Dherin, ICLR 2021, "Implicit Gradient
Regularization"; docs/references.md §8).

GD theta_{n+1} = theta_n - eta ∇L(theta_n) is Euler's method with dt = eta for the gradient
flow d theta/dt = f(theta) = -∇L(theta), and follows it with global error O(eta). Backward
error analysis finds the flow that GD follows one order closer, with error O(eta^2):

    d theta/dt = f - (eta/2) f'(theta) f
               = -∇L - (eta/2) H ∇L  =  -∇L~,      L~ = L + (eta/4) ||∇L||^2,

because f' = -H (the Hessian of L) and ∇(||∇L||^2) = 2 H ∇L. The term f' f is one Jacobian-
vector product of the base field (``jax.linearize``, forward-over-reverse through the gradient):
no dense Hessian is formed. The base field is the substrate's backprop flow
(``dynlearn.rules.credit.backprop.Backprop``, full batch); any autonomous field works the same way.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from dynlearn._hyperparameters import check_number, hyperparameter
from dynlearn.core.counting import call_field


class ModifiedFlow(eqx.Module):
    """d theta/dt = f(theta) - (eta/2) f'(theta) f(theta) for a base field f = -∇L.

    ``base`` is any field ``solve`` accepts: a callable ``f(t, theta, args)`` or an object
    with ``vector_field`` (e.g. ``Backprop(mlp)``, full batch); ``eta``
    is the learning rate of the GD whose modified equation this is. ``eta`` is stored as an
    array, so flows for different learning rates share one compiled solve.

    The O(eta) correction assumes an autonomous base field: for a minibatch flow (a schedule
    with an index table) the field jumps in time and this correction does not apply (Smith et
    al., ICLR 2021, derive the SGD case), so such args raise ValueError.
    """

    base: Any
    eta: jax.Array = hyperparameter()

    def __check_init__(self):
        if not (hasattr(self.base, "vector_field") or callable(self.base)):
            raise ValueError(
                f"base must be a field that solve accepts: a callable f(t, theta, args) or an "
                f"object with vector_field(t, theta, args), e.g. Backprop(mlp); got "
                f"{type(self.base).__name__}"
            )
        check_number("eta", self.eta, "a positive scalar learning rate", lambda v: v > 0)

    def vector_field(self, t: jax.Array, theta: Any, args: Any) -> Any:
        if getattr(args, "index", None) is not None:
            raise ValueError(
                "ModifiedFlow is the modified equation of full-batch GD; args is a minibatch "
                "schedule with an index table: pass the full data set, Minibatches(x, y)"
            )
        f, f_jvp = jax.linearize(lambda th: call_field(self.base, t, th, args), theta)
        f_prime_f = f_jvp(f)  # f'(theta) f = H ∇L for f = -∇L
        return jax.tree_util.tree_map(lambda a, b: a - 0.5 * self.eta * b, f, f_prime_f)
