"""Orders of convergence: the exponent p of error ~ C step^p, with its standard error.

The fit is least squares of log error on log step. Without per-point uncertainties the standard
error is the regression's, s / sqrt(sum (log h - mean)^2) with s^2 the residual variance on
n - 2 degrees of freedom (0 for two points). With per-point standard errors sigma_i of the
errors (Monte Carlo), the fit is weighted by 1 / (sigma_i / e_i)^2 (the delta method for
log e_i) and the slope's standard error is the weighted fit's, which is what the Monte-Carlo
noise alone would produce.
"""

from __future__ import annotations

import numpy as np


def fit_order(steps, errors, error_stderrs=None) -> tuple[float, float]:
    """(p, standard error of p) for errors ~ C steps^p."""
    x = np.log(np.asarray(steps, dtype=float))
    e = np.asarray(errors, dtype=float)
    if x.shape != e.shape or x.size < 2 or np.any(e <= 0):
        raise ValueError(
            f"need at least two (step, positive error) pairs of equal length; got "
            f"{x.size} steps and errors {e.tolist()}"
        )
    y = np.log(e)
    if error_stderrs is None:
        slope, intercept = np.polyfit(x, y, 1)
        if x.size == 2:
            return float(slope), 0.0
        resid = y - (slope * x + intercept)
        s2 = np.sum(resid**2) / (x.size - 2)
        return float(slope), float(np.sqrt(s2 / np.sum((x - x.mean()) ** 2)))
    w = (e / np.asarray(error_stderrs, dtype=float)) ** 2  # 1 / var(log e_i)
    xm = np.sum(w * x) / np.sum(w)
    ym = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (y - ym)) / sxx
    return float(slope), float(np.sqrt(1.0 / sxx))
