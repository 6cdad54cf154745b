"""pytest at the repository root: ``pytest --doctest-modules numsmooth`` skips the optional
torch integration (numsmooth.torch) where torch is not installed (numsmooth never needs it)."""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("torch") else ["numsmooth/torch.py"]
