"""Side-by-side timings of Laplacian smoothing against baselines, in one process.

Run:  python asv_benchmarks/compare_laplacian.py [--repeats 7] [--sizes 14,20,22,24]
      python asv_benchmarks/compare_laplacian.py --copy-ratio [--repeats 15]

``--copy-ratio`` prints one row per case (float32 and float64, one line of 2^14..2^22 elements
and a (64, 2^14) batch): ``laplacian_smooth(g, 1.0, out=out)`` against ``np.copyto(out, g)``,
interleaved, and their ratio (the target is <= 2 from 2^16 elements up).

For each N (float64, sigma = 1, one line) it prints the median of the repeats of
- ns.laplacian_smooth with method auto / recursive / fft (into a preallocated out),
- np.copyto of the same array (the memory-bandwidth floor),
- a numpy.fft rfft/irfft solve with the same real symbol,
- torchzero's formula ifft(fft(g) / (1 - sigma fft(v))).real with pre-planned pyFFTW complex
  transforms (v = [-2, 1, 0, ..., 0, 1]; the denominator is recomputed each call as torchzero does),
and the ratios: auto / copy, numpy / fft, torchzero-formula / auto.
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
import pyfftw

from numsmooth.laplacian import laplacian_smooth


def median_times(fns: dict, repeats: int) -> dict:
    """Median wall time of each callable; the contenders are interleaved round by round, so a
    burst of load on a shared machine hits all of them."""
    for fn in fns.values():
        fn()  # warm-up (compilation, planning, first touch of buffers)
    ts: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in ts.items()}


def numpy_solve(g: np.ndarray, sigma: float) -> np.ndarray:
    n = g.shape[-1]
    lam = 1.0 + sigma * 4.0 * np.sin(np.pi * np.arange(n // 2 + 1) / n) ** 2
    return np.fft.irfft(np.fft.rfft(g) / lam, n)


class TorchzeroFormula:
    """ifft(fft(g) / (1 - sigma * fft(v))).real with complex pyFFTW plans built once."""

    def __init__(self, n: int, threads: int):
        self.a = pyfftw.empty_aligned(n, dtype=np.complex128)
        self.b = pyfftw.empty_aligned(n, dtype=np.complex128)
        self.vhat = pyfftw.empty_aligned(n, dtype=np.complex128)
        flags = ("FFTW_ESTIMATE",)
        self.fwd = pyfftw.FFTW(self.a, self.b, direction="FFTW_FORWARD", flags=flags, threads=threads)
        self.bwd = pyfftw.FFTW(self.b, self.a, direction="FFTW_BACKWARD", flags=flags, threads=threads)
        self.v = np.zeros(n, dtype=np.complex128)
        self.v[0], self.v[1], self.v[-1] = -2, 1, 1

    def __call__(self, g: np.ndarray, sigma: float) -> np.ndarray:
        self.a[:] = self.v
        self.fwd()
        den = 1 - sigma * self.b
        self.a[:] = g
        self.fwd()
        self.b /= den
        self.bwd()  # normalised by 1/n
        return self.a.real.copy()


COPY_RATIO_CASES = [(1 << 14,), (1 << 16,), (1 << 18,), (1 << 20,), (1 << 22,), (64, 1 << 14)]


def copy_ratio(repeats: int) -> None:
    """One row per (shape, dtype): laplacian_smooth into out vs np.copyto, and the ratio."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"laplacian_smooth(g, 1.0, out=out) vs np.copyto(out, g); median of {repeats} interleaved "
          f"repeats; numba {numba.get_num_threads()} threads; load average {load:.1f}")
    print(f"{'shape':>14} {'dtype':>8} {'smooth':>10} {'copy':>10} {'ratio':>6}")
    for shape in COPY_RATIO_CASES:
        for dtype in (np.float64, np.float32):
            g = np.random.default_rng(0).standard_normal(shape).astype(dtype)
            out = np.empty_like(g)
            inner = max(1, (1 << 18) // g.size)  # small cases: several calls per timing

            def smooth() -> None:
                for _ in range(inner):
                    laplacian_smooth(g, 1.0, out=out)

            def copy() -> None:
                for _ in range(inner):
                    np.copyto(out, g)

            t = median_times({"smooth": smooth, "copy": copy}, repeats)
            print(f"{str(shape):>14} {np.dtype(dtype).name:>8} {t['smooth'] / inner:10.3e} "
                  f"{t['copy'] / inner:10.3e} {t['smooth'] / t['copy']:6.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sizes", default="14,20,22,24", help="comma-separated log2 sizes")
    ap.add_argument("--copy-ratio", action="store_true", help="the laplacian_smooth / np.copyto table")
    args = ap.parse_args()
    if args.copy_ratio:
        copy_ratio(args.repeats)
        return
    sigma = 1.0
    hdr = (f"{'N':>6} {'auto':>10} {'recursive':>10} {'fft':>10} {'copy':>10} {'numpy rfft':>11} "
           f"{'tz complex':>11} | {'auto/copy':>9} {'np/fft':>7} {'tz/auto':>8} {'tz/fft':>7}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"float64, sigma={sigma}, one line, median of {args.repeats} interleaved repeats (seconds); "
          f"numba {numba.get_num_threads()} threads, layer {numba.threading_layer()}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}, load average {load:.1f}")
    print(hdr)
    for p in (int(s) for s in args.sizes.split(",")):
        n = 2**p
        g = np.random.default_rng(0).standard_normal(n)
        out = np.empty_like(g)
        tz = TorchzeroFormula(n, threads=2 if n >= 2**20 else 1)
        fns = {m: (lambda m=m: laplacian_smooth(g, sigma, method=m, out=out)) for m in ("auto", "recursive", "fft")}
        fns["copy"] = lambda: np.copyto(out, g)
        fns["numpy"] = lambda: numpy_solve(g, sigma)
        fns["tz"] = lambda: tz(g, sigma)
        t = median_times(fns, args.repeats)
        # sanity: all solvers agree (torchzero's formula is right for n >= 3)
        ref = numpy_solve(g, sigma)
        for y in (laplacian_smooth(g, sigma, method="recursive"), laplacian_smooth(g, sigma, method="fft"), tz(g, sigma)):
            assert np.linalg.norm(y - ref) <= 1e-12 * np.linalg.norm(ref)
        del tz
        print(f"  2^{p:<3d} {t['auto']:10.3e} {t['recursive']:10.3e} {t['fft']:10.3e} {t['copy']:10.3e} "
              f"{t['numpy']:11.3e} {t['tz']:11.3e} | {t['auto'] / t['copy']:9.2f} {t['numpy'] / t['fft']:7.2f} "
              f"{t['tz'] / t['auto']:8.1f} {t['tz'] / t['fft']:7.2f}")


if __name__ == "__main__":
    main()
