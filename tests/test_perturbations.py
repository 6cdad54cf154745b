"""Tests of the counter-based generator (numsmooth/_kernels/rng.py) and numsmooth.perturbations."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from naive import (
    naive_normal,
    naive_rademacher,
    naive_row_key,
    naive_sphere,
    naive_uniform,
)
from numsmooth._kernels import rng
from numsmooth.perturbations import DISTRIBUTIONS, draw_perturbations, draw_rows, seed_to_key

U = np.uint64
FILLS = {
    "normal": (rng.fill_normal, naive_normal),
    "uniform": (rng.fill_uniform, naive_uniform),
    "rademacher": (rng.fill_rademacher, naive_rademacher),
}


def bits(a):
    """uint64 view, so that comparisons are bitwise (-0.0 != 0.0, nan payloads count)."""
    return np.ascontiguousarray(a).view(np.uint64)


@pytest.fixture(scope="module", autouse=True)
def warm():
    """Compile every kernel once, so the tests time the code and not the compiler."""
    out = np.empty((2, 3))
    for fill, _ in FILLS.values():
        fill(U(0), U(0), U(0), out)
    rng.scale_rows_to_sphere(U(0), U(0), U(0), True, out)
    rng.normal_row(U(0), U(0), U(0), out[0])
    yield


# -- bits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FILLS))
@pytest.mark.parametrize(
    "key, stream, first, m, d",
    [(0, 0, 0, 3, 5), (123, 4, 7, 20, 301), (2**64 - 1, 2**63 + 5, 2**40, 2, 5000), (9, 1, 0, 1, 1)],
)
def test_fill_matches_numpy_twin(kind, key, stream, first, m, d):
    fill, twin = FILLS[kind]
    out = np.empty((m, d))
    fill(U(key), U(stream), U(first), out)
    assert_array_equal(bits(out), bits(twin(key, stream, first, m, d)))


@pytest.mark.parametrize("ball", [False, True])
def test_sphere_and_ball_match_numpy_twin(ball):
    out = np.empty((7, 4100))  # > one coordinate block
    rng.fill_normal(U(5), U(2), U(3), out)
    rng.scale_rows_to_sphere(U(5), U(2), U(3), ball, out)
    assert_array_equal(bits(out), bits(naive_sphere(5, 2, 3, 7, 4100, ball=ball)))


def test_normal_slow_path_matches_twin():
    """Enough elements that the wedge and tail branches (about 1.2%) run thousands of times."""
    out = np.empty((40, 5000))
    rng.fill_normal(U(77), U(1), U(0), out)
    ref = naive_normal(77, 1, 0, 40, 5000)
    assert_array_equal(bits(out), bits(ref))
    assert np.abs(out).max() > rng.ZIG_R  # the tail was visited


def test_known_answers():
    # Pinned values. They were computed once with the NumPy twin in tests/naive.py, which is
    # independent code (Python-int / vectorised uint64 arithmetic), and are hard-coded so that
    # any change of the counter layout, hash or conversions (in kernel *and* twin) is caught.
    assert naive_row_key(0, 0, 0) == 0xE1BB85A8DAB23416
    out = np.empty((2, 3))
    rng.fill_normal(U(0), U(0), U(0), out)
    assert out.tolist() == [
        [1.6018009334111698, 0.6520846203425025, 1.4784439022604154],
        [-0.4357524929859995, 0.17260737851006172, -2.9793108514287105],
    ]
    rng.fill_uniform(U(0), U(0), U(0), out)
    assert out.tolist() == [
        [0.8033582291642927, 0.9925556423614934, 0.3438899167753815],
        [0.3188184240958689, -0.6714104496571094, 0.794633281735935],
    ]
    rng.fill_rademacher(U(0), U(0), U(0), out)
    assert out.tolist() == [[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]]
    row = np.empty(4)
    rng.normal_row(U(2**64 - 1), U(7), U(2**40), row)
    assert row.tolist() == [
        -0.038144077729303456, 0.05218602948948299, -1.6797665657373848, 1.4206827596339917
    ]
    assert seed_to_key(0) == U(15793235383387715774)


def test_rows_are_independent_of_block():
    """Row i of a block is sample first + i: sub-blocks and single rows agree bit for bit."""
    big = np.empty((10, 50))
    rng.fill_normal(U(3), U(1), U(0), big)
    sub = np.empty((4, 50))
    rng.fill_normal(U(3), U(1), U(5), sub)
    assert_array_equal(bits(sub), bits(big[5:9]))
    row = np.empty(50)
    for fill, rowfn in [
        (rng.fill_normal, rng.normal_row),
        (rng.fill_uniform, rng.uniform_row),
        (rng.fill_rademacher, rng.rademacher_row),
    ]:
        fill(U(3), U(1), U(0), big)
        rowfn(U(3), U(1), U(6), row)
        assert_array_equal(bits(row), bits(big[6]))


@pytest.mark.parametrize("kind", sorted(FILLS))
def test_same_bits_with_1_and_2_threads(kind, threads):
    fill, _ = FILLS[kind]

    def run():
        out = np.empty((3, 20000))  # 15 (row, block) tasks
        fill(U(11), U(2), U(0), out)
        return out

    a, b = threads(run)
    assert_array_equal(bits(a), bits(b))


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_draw_same_bits_with_1_and_2_threads(dist, threads):
    a, b = threads(lambda: draw_perturbations(dist, U(11), 3, 9, 700, antithetic=True))
    assert_array_equal(bits(a), bits(b))


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "rademacher", "sphere", "ball"])
@pytest.mark.parametrize("antithetic", [False, True])
def test_draw_rows_serial_and_parallel_match_the_block(dist, antithetic):
    """draw_rows gives rows 3..8 of the whole block, bit for bit, drawn serially, in parallel
    and by size (the streaming fold asks for a serial draw when its fold is serial)."""
    whole = draw_perturbations(dist, U(5), 2, 12, 3000, antithetic=antithetic)
    for parallel in (False, True, None):
        rows = draw_rows(dist, U(5), 2, 3, np.empty((6, 3000)), antithetic=antithetic, parallel=parallel)
        assert_array_equal(bits(rows), bits(whole[3:9]), err_msg=f"parallel={parallel}")


def test_same_bits_without_jit():
    """NUMBA_DISABLE_JIT runs the kernels as Python: the counters must give the same numbers."""
    code = (
        "import numpy as np, warnings, json\n"
        "warnings.simplefilter('ignore')\n"
        "from numsmooth.perturbations import draw_perturbations\n"
        "print(json.dumps({d: draw_perturbations(d, 99, 1, 3, 40).tolist()"
        " for d in ('gaussian', 'uniform', 'rademacher', 'ball')}))\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    for d, v in got.items():
        assert_array_equal(bits(np.array(v)), bits(draw_perturbations(d, 99, 1, 3, 40)))


# -- distributions ------------------------------------------------------------------------------


@pytest.mark.slow  # millions of draws: a minute with the kernels as Python
def test_normal_moments():
    x = np.empty((1000, 2000))
    rng.fill_normal(U(2024), U(0), U(0), x)
    x = x.ravel()
    n = x.size
    # Five standard errors: deterministic (fixed key), and far from a false alarm.
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(x)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(x)) < 5 * np.sqrt(24 / n)


@pytest.mark.slow  # millions of draws: a minute with the kernels as Python
def test_normal_ks_whole_and_tail():
    x = np.empty((200, 20000))
    rng.fill_normal(U(1), U(9), U(0), x)
    x = x.ravel()
    assert stats.kstest(x[:200000], stats.norm.cdf).pvalue > 1e-3
    # The tail beyond r = 3.654 comes from a separate algorithm: test it against the
    # truncated normal on its own (about 1000 points).
    r = rng.ZIG_R
    tail = np.abs(x[np.abs(x) > r])
    assert tail.size > 500
    assert stats.kstest(tail, stats.truncnorm(r, np.inf).cdf).pvalue > 1e-3
    # The wedges: a band of layers near the mode.
    band = np.abs(x[np.abs(x) < 1.0])
    assert stats.kstest(band[:200000], stats.truncnorm(0, 1.0).cdf).pvalue > 1e-3
    # Signs are balanced.
    assert abs(np.mean(x > 0) - 0.5) < 5 * 0.5 / np.sqrt(x.size)


def test_uniform_and_rademacher_distribution():
    u = np.empty((100, 3000))
    rng.fill_uniform(U(4), U(0), U(0), u)
    assert u.min() >= -1.0 and u.max() < 1.0
    assert stats.kstest(u.ravel()[:100000], stats.uniform(-1, 2).cdf).pvalue > 1e-3
    r = np.empty((100, 3000))
    rng.fill_rademacher(U(4), U(0), U(0), r)
    assert set(np.unique(r)) == {-1.0, 1.0}
    assert abs(r.mean()) < 5 / np.sqrt(r.size)


@pytest.mark.parametrize(
    "a, b",
    [
        ((1, 0), (1, 1)),  # streams
        ((1, 0), (2, 0)),  # keys
        ((0, 0), (1, 0)),  # keys 0 and 1
        ((2**63, 0), (2**63, 2**63)),
    ],
)
def test_streams_and_keys_uncorrelated(a, b):
    x = np.empty((200, 1000))
    y = np.empty((200, 1000))
    rng.fill_normal(U(a[0]), U(a[1]), U(0), x)
    rng.fill_normal(U(b[0]), U(b[1]), U(0), y)
    n = x.size
    assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < 5 / np.sqrt(n)
    # No shared values (a shifted or reused sequence would share many).
    assert np.intersect1d(x.ravel(), y.ravel()).size == 0


def test_neighbouring_elements_uncorrelated():
    x = np.empty((300, 1000))
    rng.fill_normal(U(8), U(0), U(0), x)
    bound = 5 / np.sqrt(x.size)
    assert abs(np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1]) < bound
    assert abs(np.corrcoef(x[:-1].ravel(), x[1:].ravel())[0, 1]) < bound
    # squares too (catches dependence in magnitude, e.g. shared layers)
    assert abs(np.corrcoef(x[:, :-1].ravel() ** 2, x[:, 1:].ravel() ** 2)[0, 1]) < bound


def test_sphere_ball_orthogonal():
    key = seed_to_key(1)
    s = draw_perturbations("sphere", key, 0, 500, 7)
    assert_allclose(np.linalg.norm(s, axis=1), 1.0, rtol=1e-14)
    # Directions uniform: mean ~ 0 and second moment ~ I / d.
    assert_allclose(s.T @ s / 500, np.eye(7) / 7, atol=5 * np.sqrt(2 / 500) / 7 * 3)
    b = draw_perturbations("ball", key, 0, 4000, 5)
    r = np.linalg.norm(b, axis=1)
    assert r.max() <= 1.0
    assert stats.kstest(r**5, stats.uniform.cdf).pvalue > 1e-3  # r^d ~ U(0, 1)
    o = draw_perturbations("orthogonal", key, 0, 6, 10)
    gram = o @ o.T
    assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-12)
    # Norms are chi(d): pool the norms of many independent blocks.
    norms = np.concatenate(
        [np.linalg.norm(draw_perturbations("orthogonal", key, s, 10, 10), axis=1) for s in range(300)]
    )
    assert stats.kstest(norms, stats.chi(10).cdf).pvalue > 1e-3


def test_orthogonal_too_many_rows():
    with pytest.raises(ValueError, match=r"n - include_x0 <= d.*got 11"):
        draw_perturbations("orthogonal", 1, 0, 11, 10)
    # antithetic pairs need only ceil(m / 2) independent directions
    u = draw_perturbations("orthogonal", 1, 0, 20, 10, antithetic=True)
    assert u.shape == (20, 10)


def test_sobol_is_gaussian_qmc():
    u = draw_perturbations("sobol", 5, 0, 1024, 3)
    assert np.all(np.isfinite(u))
    # QMC: the sample mean is far closer to 0 than Monte Carlo's 1/sqrt(n).
    assert np.abs(u.mean(axis=0)).max() < 0.01
    assert_allclose(u.var(axis=0), 1.0, atol=0.05)
    assert not np.array_equal(u, draw_perturbations("sobol", 5, 1, 1024, 3))
    with pytest.raises(ValueError, match="d = 30000"):
        draw_perturbations("sobol", 5, 0, 2, 30000)


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("m", [0, 1, 6, 7])
def test_antithetic_pairs_and_determinism(dist, m):
    d = 8
    u = draw_perturbations(dist, 42, 5, m, d, antithetic=True)
    assert u.shape == (m, d) and u.dtype == np.float64
    assert_array_equal(bits(u), bits(draw_perturbations(dist, 42, 5, m, d, antithetic=True)))
    for k in range(m // 2):
        assert_array_equal(u[2 * k + 1], -u[2 * k])
    mb = (m + 1) // 2
    if dist not in ("orthogonal", "sobol") and m:
        # The independent draws are samples 0..mb-1 of the plain draw.
        plain = draw_perturbations(dist, 42, 5, mb, d)
        assert_array_equal(bits(u[0::2]), bits(plain))
    if m % 2 == 1 and m > 1:
        assert not np.array_equal(u[-1], -u[-2])


def test_normal_alias_and_stream_changes():
    a = draw_perturbations("gaussian", 3, 0, 4, 5)
    assert_array_equal(bits(a), bits(draw_perturbations("normal", 3, 0, 4, 5)))
    assert not np.array_equal(a, draw_perturbations("gaussian", 3, 1, 4, 5))
    assert not np.array_equal(a, draw_perturbations("gaussian", 4, 0, 4, 5))


def test_callable_distribution():
    seen = {}

    def dist(gen, m, d):
        seen["args"] = (m, d)
        return gen.standard_normal((m, d))

    u = draw_perturbations(dist, 7, 2, 5, 3, antithetic=True)
    assert seen["args"] == (3, 3)
    ref = np.random.default_rng([7, 2]).standard_normal((3, 3))
    assert_array_equal(u[0::2], ref)
    assert_array_equal(u[1::2], -ref[:2])
    with pytest.raises(ValueError, match=r"distribution.*shape \(5, 3\)"):
        draw_perturbations(lambda g, m, d: np.zeros((d, m)), 7, 2, 5, 3)
    with pytest.raises(ValueError, match="distribution.*non-finite"):
        draw_perturbations(lambda g, m, d: np.full((m, d), np.nan), 7, 2, 5, 3)
    with pytest.raises(ValueError, match="distribution.*floats"):
        draw_perturbations(lambda g, m, d: np.zeros((m, d), dtype=int), 7, 2, 5, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="distribution must be one of 'gaussian'.*got 'cauchy'"):
        draw_perturbations("cauchy", 1, 0, 2, 2)
    with pytest.raises(ValueError, match="out must be"):
        draw_perturbations("gaussian", 1, 0, 2, 2, out=np.empty((2, 3)))
    with pytest.raises(ValueError, match="out must be"):
        draw_perturbations("gaussian", 1, 0, 2, 2, out=np.empty((2, 2), dtype=np.float32))


def test_out_is_used():
    out = np.empty((4, 6))
    res = draw_perturbations("uniform", 1, 0, 4, 6, out=out)
    assert res is out
    assert_array_equal(out, draw_perturbations("uniform", 1, 0, 4, 6))
    out = np.empty((5, 6))
    assert draw_perturbations("sphere", 1, 0, 5, 6, antithetic=True, out=out) is out


def test_seed_to_key():
    assert seed_to_key(5) == seed_to_key(np.int64(5))
    assert seed_to_key(5) != seed_to_key(6)
    assert isinstance(seed_to_key(5), np.uint64)
    assert seed_to_key(None) != seed_to_key(None)
    ss = np.random.SeedSequence(123)
    assert seed_to_key(ss) == seed_to_key(np.random.SeedSequence(123))
    assert seed_to_key(2**100) == seed_to_key(2**100)
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert seed_to_key(g1) == seed_to_key(g2)
    assert seed_to_key(g1) != seed_to_key(g2.__class__(g2.bit_generator.__class__(4)))
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        seed_to_key(-1)
    for bad in (1.5, "3", True):
        with pytest.raises(TypeError, match="seed must be"):
            seed_to_key(bad)
