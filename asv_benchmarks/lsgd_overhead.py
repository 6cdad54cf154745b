"""Overhead of an LS-SGD step through ``ns.Optimizer`` against a hand-written loop.

The hand loop is what a user would write without numsmooth: per parameter array,
``ns.laplacian_smooth(g, sigma, out=buf)`` and in-place updates (no allocation). Both run the
same oracle in one process, interleaved (a block of optimizer steps, then a block of hand steps,
repeated), and the median time per step is reported, with the ratio optimizer / hand loop.

Two optimizers: ``copies`` (the default: the optimizer keeps its own flat copy of the
parameters and hands the oracle a copy of the point) and ``inplace`` (parameters made with
``ns.flat_params`` and ``inplace=True``: the optimizer's storage is the user's arrays, which the
oracle receives as they are, as the hand loop's oracle does).

Models:

- ``mlp-5k``: a 64-64-10 MLP (4810 parameters, weights stored ``(out, in)``), forward and
  backward on a fixed minibatch of 32, in NumPy; the step time includes the model.
- ``fixed-1M``: four arrays of 1.05M parameters in all and an oracle returning fixed, precomputed
  gradients, so the time is the optimizer's (or the hand loop's) own.

Run: ``python asv_benchmarks/lsgd_overhead.py [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import numsmooth as ns

SIGMA, LR, BETA = 1.0, 0.05, 0.9


def mlp_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = [(64, 64), (64,), (10, 64), (10,)]
    params = [rng.standard_normal(s) * (0.1 if len(s) == 2 else 0.0) for s in sizes]
    X = rng.standard_normal((32, 64))
    y = rng.integers(0, 10, 32)

    def fun(p):
        W1, b1, W2, b2 = p
        h = X @ W1.T + b1
        a = np.maximum(h, 0.0)
        z = a @ W2.T + b2
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e / e.sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = float(-np.log(s[np.arange(n), y]).mean())
        dz = s
        dz[np.arange(n), y] -= 1.0
        dz /= n
        gW2 = dz.T @ a
        gb2 = dz.sum(axis=0)
        da = dz @ W2
        da[h <= 0] = 0.0
        gW1 = da.T @ X
        gb1 = da.sum(axis=0)
        return loss, [gW1, gb1, gW2, gb2]

    return params, fun


def fixed_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = [(1024, 512), (1024,), (512, 1024), (512,)]
    params = [rng.standard_normal(s) for s in sizes]
    grads = [rng.standard_normal(s) for s in sizes]

    def fun(p):
        return 0.0, grads

    return params, fun


def hand_step_factory(params, fun, momentum: bool):
    bufs = [np.empty(p.size) for p in params]
    moms = [np.zeros(p.size) for p in params]
    flat = [p.reshape(-1) for p in params]

    def step():
        _, grads = fun(params)
        for p, g, s, m in zip(flat, grads, bufs, moms):
            ns.laplacian_smooth(g.reshape(-1), SIGMA, out=s)
            if momentum:
                m *= BETA
                m += s
                np.multiply(m, LR, out=s)
            else:
                s *= LR
            p -= s

    return step


def chain(momentum: bool):
    return [ns.LaplacianSmoothing(SIGMA), ns.Momentum(BETA), ns.LR(LR)] if momentum else \
        [ns.LaplacianSmoothing(SIGMA), ns.LR(LR)]


def measure(make_problem, momentum: bool, repeats: int, block: int, inplace: bool = False) -> dict[str, float]:
    params, fun = make_problem()
    if inplace:
        opt = ns.Optimizer(ns.flat_params(params), *chain(momentum), inplace=True)
    else:
        opt = ns.Optimizer([p.copy() for p in params], *chain(momentum))
    hand_params = [p.copy() for p in params]
    hand = hand_step_factory(hand_params, fun, momentum)
    # warm up (compilation, FFT plans, buffers), and check that both compute the same thing
    for _ in range(3):
        opt.step(fun)
        hand()
    for a, b in zip(opt.params, hand_params):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    t_opt, t_hand, t_fun = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(block):
            opt.step(fun)
        t1 = time.perf_counter()
        for _ in range(block):
            hand()
        t2 = time.perf_counter()
        for _ in range(block):
            fun(hand_params)
        t3 = time.perf_counter()
        t_opt.append((t1 - t0) / block)
        t_hand.append((t2 - t1) / block)
        t_fun.append((t3 - t2) / block)
    o, h, f = statistics.median(t_opt), statistics.median(t_hand), statistics.median(t_fun)
    return {"opt": o, "hand": h, "oracle": f, "ratio": o / h,
            "overhead_ratio": (o - f) / (h - f) if h > f else float("nan")}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    results = {}
    print(f"{'model':10} {'chain':18} {'params':8} {'optimizer':>11} {'hand loop':>11} {'oracle':>9} "
          f"{'ratio':>6} {'ratio excl. oracle':>19}")
    for name, make, block in (("fixed-1M", fixed_problem, 5), ("mlp-5k", mlp_problem, 50)):
        for momentum in (False, True):
            for inplace in (False, True):
                r = measure(make, momentum, args.repeats, block, inplace)
                label = "LS, Momentum, LR" if momentum else "LS, LR"
                kind = "inplace" if inplace else "copies"
                results[f"{name} {label} {kind}"] = r
                print(f"{name:10} {label:18} {kind:8} {r['opt'] * 1e6:9.1f}us {r['hand'] * 1e6:9.1f}us "
                      f"{r['oracle'] * 1e6:7.1f}us {r['ratio']:6.2f} {r['overhead_ratio']:19.2f}")
    return results


if __name__ == "__main__":
    main()
