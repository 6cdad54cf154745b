"""LS-SGD through numsmooth.torch.Optimizer on a 1M-parameter MLP, as two ratios (asv tracks
them when torch and torchzero import; asv's own environments lack torch, so it skips there).

- ``ours / hand``: a numsmooth.torch LS-SGD step over a hand loop that smooths each
  ``p.grad.numpy()`` with ``ns.laplacian_smooth`` into a preallocated buffer and updates the
  parameter in place (target <= 1.2);
- ``torchzero / ours``: torchzero 0.4.4's ``LaplacianSmoothing`` + ``LR`` step over ours
  (target >= 5).

Every side steps the same float32 model (784-1024-200-10, 1,015,810 parameters) with the same
fixed gradients (no forward or backward: the time is the optimizer's), interleaved in one
process (see ``_timing``); ``asv_benchmarks/torch_lsgd.py`` prints both.
"""

from __future__ import annotations

from ._timing import interleave, median

SIGMA, LR = 1.0, 0.01
SIZES = (784, 1024, 200, 10)


class TorchLSGDCase:
    """The model, the three optimizers and their step functions."""

    def __init__(self, seed: int = 0, threads: int = 1):
        import numpy as np
        import torch

        import numsmooth as ns
        import numsmooth.torch  # noqa: F401

        torch.manual_seed(seed)

        def model():
            torch.manual_seed(seed)
            layers = []
            for a, b in zip(SIZES[:-1], SIZES[1:]):
                layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
            return torch.nn.Sequential(*layers[:-1])

        def with_grads(m):
            g = torch.Generator().manual_seed(seed + 1)
            for p in m.parameters():
                p.grad = torch.randn(p.shape, generator=g) * 1e-3
            return m

        self.models = [with_grads(model()) for _ in range(3)]
        self.num_params = sum(p.numel() for p in self.models[0].parameters())
        self.ours = ns.torch.Optimizer(self.models[0].parameters(), ns.LaplacianSmoothing(SIGMA), ns.LR(LR))
        hand_params = list(self.models[1].parameters())
        bufs = [np.empty(p.numel(), dtype=np.float32) for p in hand_params]
        smooth = ns.laplacian_smooth

        def hand():
            # in place with NumPy: torch's add_ here was 5x slower, its OpenMP threads (the
            # libgomp Numba's kernels use too, which resets their number) contending with Numba's
            for p, b in zip(hand_params, bufs):
                smooth(p.grad.numpy().reshape(-1), SIGMA, out=b)
                b *= -LR
                x = p.data.numpy().reshape(-1)
                x += b

        self.hand = hand
        import torchzero as tz
        from torchzero.modules.smoothing import LaplacianSmoothing

        self.tz = tz.Optimizer(self.models[2].parameters(), LaplacianSmoothing(sigma=SIGMA), tz.m.LR(LR))
        # torch's own threads (importing torchzero resets their number) spin between the
        # hand loop's in-place adds and contend with Numba's: one thread, as in the CI's torch pass
        torch.set_num_threads(threads)
        self.ours.step()  # compile and plan outside the timing
        self.hand()
        self.tz.step()

    def times(self, rounds: int = 7, round_time: float = 0.2) -> dict[str, float]:
        """Median seconds per step of each side."""
        t = interleave([self.ours.step, self.hand, self.tz.step], rounds, round_time)
        return {"ours": median(t[0]), "hand": median(t[1]), "torchzero": median(t[2])}

    def ratios(self, rounds: int = 7, round_time: float = 0.2) -> dict[str, float]:
        """Medians of the per-round ratios ours / hand and torchzero / ours."""
        t = interleave([self.ours.step, self.hand, self.tz.step], rounds, round_time)
        return {"ours / hand": median([a / b for a, b in zip(t[0], t[1])]),
                "torchzero / ours": median([c / a for a, c in zip(t[0], t[2])]),
                "ours": median(t[0]), "hand": median(t[1]), "torchzero": median(t[2])}


def _case() -> TorchLSGDCase:
    try:
        import torch  # noqa: F401
        import torchzero  # noqa: F401
    except ImportError:
        raise NotImplementedError("torch and torchzero are not installed here") from None  # asv: skipped
    return TorchLSGDCase()


class TorchLSGD:
    """numsmooth.torch LS-SGD step on a 1M-parameter float32 MLP, against a hand loop and torchzero."""

    timeout = 600

    def setup(self):
        self.case = _case()

    def teardown(self):
        del self.case

    def track_over_hand_loop(self):
        return self.case.ratios(rounds=5)["ours / hand"]

    track_over_hand_loop.unit = "ours / hand loop (target <= 1.2)"

    def track_torchzero_over_ours(self):
        return self.case.ratios(rounds=5)["torchzero / ours"]

    track_torchzero_over_ours.unit = "torchzero / ours (target >= 5)"
