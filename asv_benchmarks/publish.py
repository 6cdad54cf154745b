"""Measure the tracked asv benchmarks and publish them as the docs' benchmark dashboard.

One command, from the repository root::

    python asv_benchmarks/publish.py                      # this checkout, full samples
    python asv_benchmarks/publish.py --quick              # one sample each (a smoke run)
    python asv_benchmarks/publish.py --commits main~4..main   # also build and measure commits

It runs ``asv run`` on the numsmooth this interpreter imports (``--python=same``, recorded
under the checkout's commit), optionally on a range of commits (each built in asv's own
environments, see README.md), then ``asv publish``, which writes the dashboard to
``asv_benchmarks/html/asv``. The Sphinx build copies it beside the pages when it is there
(``docs/benchmarks.rst`` links it): ``python -m sphinx -b html docs docs/_build/html``.

Results and HTML stay out of git (``.gitignore``); the machine is registered under
``--machine`` (default: this host's name) with the CPU and core count asv reads.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(args: list[str]) -> None:
    print("$ " + " ".join(args), flush=True)
    subprocess.run(args, cwd=HERE, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one sample per benchmark (asv --quick)")
    parser.add_argument("--bench", default=None, help="regex of benchmarks to run (asv --bench); default all")
    parser.add_argument("--commits", default=None, help="a git range to build and measure too, e.g. main~4..main")
    parser.add_argument("--machine", default=platform.node() or "local", help="asv machine name")
    opts = parser.parse_args(argv)

    asv = [sys.executable, "-m", "asv"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, check=True, capture_output=True,
                          text=True).stdout.strip()
    run(asv + ["machine", "--yes", "--machine", opts.machine])
    common = ["--machine", opts.machine, "--show-stderr"] + (["--quick"] if opts.quick else [])
    common += ["--bench", opts.bench] if opts.bench else []
    if opts.commits:
        run(asv + ["run", opts.commits] + common)
    run(asv + ["run", "--python=same", f"--set-commit-hash={head}"] + common)
    run(asv + ["publish"])
    index = HERE / "html" / "asv" / "index.html"
    print(f"published: {index}" if index.exists() else "asv publish wrote no index.html", flush=True)
    return 0 if index.exists() else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
