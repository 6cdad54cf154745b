"""LS-SGD through numsmooth.torch.Optimizer on a 1M-parameter float32 MLP: its step against a
hand loop over ``ns.laplacian_smooth`` and against torchzero 0.4.4's LaplacianSmoothing step.

All three step the same model with fixed gradients, interleaved in one process; printed: the
median time per step of each and the medians of the per-round ratios (see
``benchmarks/bench_torch.py``, which asv tracks when torch is installed).

Run (in an environment with torch and torchzero): ``python asv_benchmarks/torch_lsgd.py [--rounds 9]``.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the checkout this file belongs to
sys.path.insert(0, HERE)

from benchmarks.bench_torch import TorchLSGDCase  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--round-time", type=float, default=0.3, help="seconds per side per round")
    ap.add_argument("--torch-threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    import numsmooth

    case = TorchLSGDCase(threads=args.torch_threads)
    r = case.ratios(args.rounds, args.round_time)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numsmooth {numsmooth.__file__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{case.num_params:,} float32 parameters, load {load:.1f} on {os.cpu_count()} cores")
    print(f"{'step':<22}{'median ms':>12}")
    for k in ("ours", "hand", "torchzero"):
        name = {"ours": "numsmooth.torch", "hand": "hand loop", "torchzero": "torchzero 0.4.4"}[k]
        print(f"{name:<22}{1e3 * r[k]:>12.2f}")
    print(f"{'ours / hand loop':<22}{r['ours / hand']:>12.2f}   (target <= 1.2)")
    print(f"{'torchzero / ours':<22}{r['torchzero / ours']:>12.1f}   (target >= 5)")


if __name__ == "__main__":
    main()
