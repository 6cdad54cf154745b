"""Side-by-side timings of Laplacian smoothing against baselines, in one process.

Run:  python asv_benchmarks/compare_laplacian.py [--repeats 7] [--sizes 14,20,22,24]
      python asv_benchmarks/compare_laplacian.py --copy-ratio [--repeats 15] [--mode auto|serial|parallel|both]

``--copy-ratio`` prints the machine (CPU model, caches, cores, Numba threads, load) and one row
per case (float32 and float64, one line of 2^14..2^24 elements and a (64, 2^14) batch):
``laplacian_smooth(g, 1.0, out=out)`` against ``np.copyto(out, g)``, interleaved, their ratio
and which kernel numsmooth ran (serial or parallel, and why: ``numsmooth._parallel.decisions``).
``--mode serial`` forces the serial kernel (what a busy machine gets), ``parallel`` the parallel
one (the busy-machine check off: meaningful only with a core free), ``both`` prints both rows;
``auto`` (default) leaves the choice to numsmooth. ``out`` is allocated so that ``np.copyto``
runs at its usual speed: glibc's ``rep movsb`` copy on AMD Zen 3 is about 15x slower when the
destination lies 1-31 bytes above the source modulo 4096, which an allocator hands out now and
then (the case is reported, not measured, as it would flatter the ratio).

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
import sys
import time

import numba
import numpy as np
import pyfftw

from numsmooth.laplacian import laplacian_smooth

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmarks"))
from _timing import copy_pair  # noqa: E402


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


COPY_RATIO_CASES = [(1 << 14,), (1 << 16,), (1 << 18,), (1 << 20,), (1 << 22,), (1 << 24,), (64, 1 << 14)]


def machine() -> str:
    """CPU model, caches and cores (Linux; "unknown" elsewhere), Numba threads and load."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    caches = []
    for idx in range(8):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{idx}/"
        try:
            with open(base + "level") as f1, open(base + "type") as f2, open(base + "size") as f3:
                level, kind, size = f1.read().strip(), f2.read().strip(), f3.read().strip()
        except OSError:
            break
        if kind != "Instruction":
            caches.append(f"L{level} {size}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}, {', '.join(caches) or 'caches unknown'} (per core up to L2), {cores} cores; "
            f"numba {numba.get_num_threads()} threads, layer {numba.threading_layer()}; {load()}")


def load() -> str:
    try:
        with open("/proc/loadavg") as f:
            fields = f.read().split()
        return f"load average {fields[0]} {fields[1]} {fields[2]}, runnable now {fields[3].split('/')[0]}"
    except OSError:
        return "load unknown"


def copy_buffers(shape: tuple, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """``g`` (standard normal) and an ``out`` not 1-31 bytes above it modulo 4096 (see the docs)."""
    g = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return g, copy_pair(g)


def copy_ratio(repeats: int, mode: str) -> None:
    """One row per (shape, dtype[, kernel]): laplacian_smooth into out vs np.copyto, the ratio."""
    from numsmooth import config
    from numsmooth._parallel import decisions

    print(machine())
    print(f"laplacian_smooth(g, 1.0, out=out) vs np.copyto(out, g); median of {repeats} interleaved repeats")
    print(f"{'shape':>14} {'dtype':>8} {'smooth':>10} {'copy':>10} {'ratio':>6}  kernel")
    modes = ("serial", "parallel") if mode == "both" else (mode,)
    for shape in COPY_RATIO_CASES:
        for dtype in (np.float32, np.float64):
            g, out = copy_buffers(shape, dtype)
            inner = max(1, (1 << 18) // g.size)  # small cases: several calls per timing

            def smooth() -> None:
                for _ in range(inner):
                    laplacian_smooth(g, 1.0, out=out)

            def copy() -> None:
                for _ in range(inner):
                    np.copyto(out, g)

            for m in modes:
                knobs = {}
                if m == "serial":
                    knobs = {"laplacian_serial_max_elements": 1 << 62}
                elif m == "parallel":
                    knobs = {"laplacian_serial_max_elements": 0, "load_check_seconds": 0}
                with config.override(**knobs):
                    d0 = decisions()
                    t = median_times({"smooth": smooth, "copy": copy}, repeats)
                    d1 = decisions()
                ran = ", ".join(f"{k} {d1[k] - d0[k]}" for k in d1 if d1[k] != d0[k])
                print(f"{str(shape):>14} {np.dtype(dtype).name:>8} {t['smooth'] / inner:10.3e} "
                      f"{t['copy'] / inner:10.3e} {t['smooth'] / t['copy']:6.2f}  {m}: {ran}", flush=True)
            del g, out
    print(load())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sizes", default="14,20,22,24", help="comma-separated log2 sizes")
    ap.add_argument("--copy-ratio", action="store_true", help="the laplacian_smooth / np.copyto table")
    ap.add_argument("--mode", default="auto", choices=("auto", "serial", "parallel", "both"),
                    help="--copy-ratio: numsmooth's choice of kernel, or force one (both: a row each)")
    args = ap.parse_args()
    if args.copy_ratio:
        copy_ratio(args.repeats, args.mode)
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
