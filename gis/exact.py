"""Exact sums of floats that add up the same however the values are split into partitions.

A float is ``M · 2^(e-53)`` with an integer mantissa ``M`` < 2⁵³; summing the mantissas per exponent
in two 26-bit halves (each bucket's sum stays below 2⁵³ for up to 2²⁷ values, so float64 bincount is
exact) gives the sum as an exact rational. Partitions' exact sums add exactly, so a benchmark that is
Σ/Σ over the whole layer (a score's ``average``) is the same number for the in-memory audit and for
any partitioning of the layer, and so is every score computed from it.

>>> from fractions import Fraction
>>> v = np.array([0.1, 0.2, 0.3, 1e16, -1e16])
>>> exact_sum(v) == Fraction(0.1) + Fraction(0.2) + Fraction(0.3)
True
>>> float(exact_sum(v[:2]) + exact_sum(v[2:])) == float(exact_sum(v))
True
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["exact_sum"]

_HALF = 1 << 26


def _positive(v: np.ndarray) -> Fraction:
    if not len(v):
        return Fraction(0)
    m, e = np.frexp(v)
    mant = (m * float(1 << 53)).astype(np.int64)  # exact: m has 53 significant bits
    e = e.astype(np.int64)
    e0 = int(e.min())
    k = e - e0
    hi = np.bincount(k, weights=(mant >> 26).astype("float64"))
    lo = np.bincount(k, weights=(mant & (_HALF - 1)).astype("float64"))
    total = 0
    for i in np.flatnonzero((hi != 0) | (lo != 0)):
        total += (int(hi[i]) * _HALF + int(lo[i])) << int(i)
    return Fraction(total) * Fraction(2) ** (e0 - 53)


def exact_sum(values) -> Fraction:
    """The exact sum of the finite ``values`` (NaN and inf left out) as a :class:`fractions.Fraction`.
    Exact for up to 2²⁷ values per call; ``float()`` of it is the correctly rounded sum."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if len(v) >= 1 << 27:
        half = len(v) // 2
        return exact_sum(v[:half]) + exact_sum(v[half:])
    return _positive(v[v > 0]) - _positive(-v[v < 0])
