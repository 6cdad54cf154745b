"""The min-norm-hull QP driver (numsmooth/hull.py) at extreme magnitudes, and the serial/parallel
kernel split of numsmooth/_kernels/hull.py.

References: SLSQP (tests/naive.py) on the problem scaled to unit size, and the optimality
conditions computed directly from the scaled ``G``; never numsmooth's own output at another scale,
except where the claim under test is exactly that (bitwise scale invariance by powers of two).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from naive import naive_min_norm_hull
from numsmooth import config
from numsmooth._kernels import hull as khull
from numsmooth.hull import min_norm_hull
from numsmooth.aggregates import aggregate

MAGNITUDES = [1e-300, 1e-160, 1e-154, 1e200, 1e300]


def base_problem(seed, m=12, d=5, shift=0.7):
    r = np.random.default_rng(seed)
    return r.standard_normal((m, d)) + shift * r.standard_normal(d)


def unit_gap(G, x):
    """Relative optimality gap, computed in float64 on G and x scaled to unit size (so that
    neither the squares of 1e200 overflow nor those of 1e-160 underflow)."""
    s = np.max(np.abs(G))
    Gs, xs = G / s, x / s
    scale = np.max(np.sum(Gs * Gs, axis=1))
    return (xs @ xs - np.min(Gs @ xs)) / scale


@pytest.mark.parametrize("mag", MAGNITUDES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_extreme_magnitudes_against_slsqp(mag, seed):
    base = base_problem(seed)
    G = base * mag  # not a power of two: the scaled problem is a different rounding of base
    w, x, gap = min_norm_hull(G)
    assert np.all(np.isfinite(x)) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-14
    assert gap <= 1e-12
    assert unit_gap(G, x) <= 1e-10  # the KKT gap, independent of the driver's own gap
    # SLSQP on the problem scaled back to unit size, then scaled up again
    Gu = G / mag
    _, ref = naive_min_norm_hull(Gu)
    scale = np.linalg.norm(Gu, axis=1).max()
    assert np.linalg.norm(x / mag) <= np.linalg.norm(ref) + 1e-12 * scale
    assert_allclose(x / mag, ref, atol=1e-6 * scale)
    assert_allclose(x, G.T @ w, rtol=1e-12, atol=1e-13 * mag * scale)


@pytest.mark.parametrize("k", [-1000, -530, -510, 0, 660, 996])
def test_powers_of_two_give_the_same_bits(k):
    G = base_problem(3, m=20, d=4)
    w0, x0, g0 = min_norm_hull(G)
    Gk = np.ldexp(G, k)
    wk, xk, gk = min_norm_hull(Gk)
    assert_array_equal(wk, w0)
    assert_array_equal(xk, np.ldexp(x0, k))
    assert gk == g0


def test_tiny_gradients_regression():
    """Below ~1e-154 the Gram matrix underflowed to zero and the kernel returned the shortest row
    as 'converged' (Hypothesis found G = [[2.75e-185], [0]] with the rows swapped)."""
    for G in ([[2.7503982048898062e-185], [0.0]], [[0.0], [2.7503982048898062e-185]]):
        w, x, gap = min_norm_hull(np.array(G))
        assert x.tolist() == [0.0] and gap == 0.0
    G = np.array([[1e-170, 0.0], [0.0, 1e-170]])
    w, x, _ = min_norm_hull(G)
    assert_allclose(w, [0.5, 0.5], rtol=1e-14)
    assert_allclose(x, [5e-171, 5e-171], rtol=1e-14)


def test_huge_gradients_regression():
    """Gradients of size 1e200 overflowed the Gram matrix and gave nan."""
    G = np.array([[1e200, 3e200], [1e200, -1e200], [-2e200, 5e199]])
    w, x, gap = min_norm_hull(G)
    assert np.all(np.isfinite(x)) and gap <= 1e-12
    _, ref = naive_min_norm_hull(G / 1e200)
    assert_allclose(x / 1e200, ref, atol=1e-6)
    # and through the aggregate, with no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, g = aggregate("min-norm-hull", np.array([1.0, 2.0, np.nan]), G)
    assert f == 1.5
    assert_allclose(g / 1e200, min_norm_hull(G[:2])[1] / 1e200, atol=1e-15)
    assert_allclose(g, [1e200, 0.0], rtol=1e-14, atol=1e186)  # the midpoint of the segment


def test_largest_and_smallest_floats():
    big = np.finfo(np.float64).max
    w, x, _ = min_norm_hull(np.array([[big, big], [big, -big]]))
    assert_allclose(x, [big, 0.0], rtol=1e-14, atol=1e294)
    tiny = 5e-324  # the smallest subnormal
    w, x, _ = min_norm_hull(np.array([[tiny, 0.0], [tiny, 0.0]]))
    assert x.tolist() == [tiny, 0.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gives_nan(bad):
    G = np.array([[1.0, 2.0], [bad, 0.0]])
    w, x, gap = min_norm_hull(G)
    assert np.all(np.isnan(w)) and np.all(np.isnan(x)) and math.isnan(gap)


def test_config_knobs_are_read_at_call_time():
    G = base_problem(5, m=50, d=60, shift=0.1)
    with config.override(hull_tol=1e-2):
        _, _, gap_loose = min_norm_hull(G)
    _, _, gap = min_norm_hull(G)
    assert gap <= 1e-12 < gap_loose <= 1e-2


def test_serial_and_parallel_products_identical():
    r = np.random.default_rng(7)
    G = r.standard_normal((30, 9000))
    w = r.random(30)
    w[::3] = 0.0
    a, b = np.empty(9000), np.empty(9000)
    khull.combine_rows(G, w, a)
    khull.combine_rows.parallel(G, w, b)
    assert_array_equal(a, b)
    assert_allclose(a, G.T @ w, rtol=1e-12, atol=1e-12)
    x = r.standard_normal(9000)
    a, b = np.empty(30), np.empty(30)
    khull.row_dots(G, x, a)
    khull.row_dots.parallel(G, x, b)
    assert_array_equal(a, b)
    assert_allclose(a, G @ x, rtol=1e-12)
    with config.override(parallel_min_elements=1):
        w1, x1, _ = min_norm_hull(G[:, :50])
    with config.override(parallel_min_elements=1 << 40):
        w2, x2, _ = min_norm_hull(G[:, :50])
    assert_array_equal(w1, w2)
    assert_array_equal(x1, x2)


finite_wide = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(G=st.integers(1, 10).flatmap(lambda m: st.integers(1, 5).flatmap(
    lambda d: arrays(np.float64, (m, d), elements=finite_wide))), k=st.integers(-1000, 1000))
@example(G=np.array([[2.7503982048898062e-185], [0.0]]), k=0)
@example(G=np.array([[1.0, 0.0], [0.0, 1e-200]]), k=900)
def test_scale_invariance_property(G, k):
    amax = np.max(np.abs(G))
    if amax > 0:  # keep 2**k * G finite and its largest entry normal
        k = int(np.clip(k, -1020 - math.frexp(amax)[1], 1023 - math.frexp(amax)[1]))
    w0, x0, g0 = min_norm_hull(G)
    assert g0 <= 1e-10
    if amax > 0:
        assert unit_gap(G, x0) <= 1e-10
    Gk = np.ldexp(G, k)
    # scaling may push the smallest entries into the subnormals (rounding them); only when no
    # entry loses bits is the result bitwise the same
    if np.array_equal(np.ldexp(Gk, -k), G):
        wk, xk, _ = min_norm_hull(Gk)
        assert_array_equal(wk, w0)
        # compare at the smaller of the two scales, where both sides are rounded once
        if k >= 0:
            assert_array_equal(np.ldexp(xk, -k), x0)
        else:
            assert_array_equal(xk, np.ldexp(x0, k))
