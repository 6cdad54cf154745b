"""numsmooth.warmup: after it, the first steps of the usual entry points compile nothing.

Checked in fresh processes (a process that ran other tests has its kernels already): the
signatures of every Numba dispatcher of numsmooth are listed after ``warmup`` and again after
the first steps; nothing may be added (neither compiled nor loaded from the cache). The same
steps without ``warmup`` do add signatures, so the check can fail.
"""

import json
import os
import subprocess
import sys
import textwrap

import numba
import pytest

import numsmooth as ns


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    from numba.core.dispatcher import Dispatcher
    import numsmooth as ns
    from numsmooth._kernels.twins import Twin

    def signatures():
        found = {}
        for name, mod in list(sys.modules.items()):
            if not name.startswith("numsmooth"):
                continue
            for attr, obj in list(vars(mod).items()):
                disps = [obj] if isinstance(obj, Dispatcher) else [obj.serial, obj.parallel] if isinstance(obj, Twin) else []
                for k, d in enumerate(disps):
                    found[f"{name}.{attr}.{k}"] = sorted(str(s) for s in d.signatures)
        return found

    def fun(x):
        return float(x @ x) / 2, x.copy()

    def fun_params(ps):
        return sum(float(np.sum(p * p)) for p in ps) / 2, [p.copy() for p in ps]

    if sys.argv[1] == "warm":
        seconds = ns.warmup(dtypes=("float64", "float32"))
        assert seconds > 0
    before = signatures()
    x0 = np.linspace(-2.0, 3.0, 50)
    ns.minimize(fun, x0, ns.LaplacianSmoothing(2.0), ns.LR(0.1), maxiter=3)
    ns.minimize(fun, x0, ns.WeightDecay(1e-2), ns.Momentum(0.9), ns.LR(0.1), maxiter=3)
    ns.minimize(fun, x0, ns.Adam(1e-2), maxiter=3)
    ns.minimize(fun, x0, ns.GradientSampling(sigma=0.5, n=20, seed=1), ns.LR(0.1), maxiter=3)
    ns.minimize(fun, x0, *ns.recipes.gaussian_homotopy(n=32, seed=1), maxiter=3)
    ps = [np.linspace(-1, 1, 12 * 500, dtype=np.float32).reshape(12, 500), np.ones(500, dtype=np.float32)]
    for chain in ([ns.LaplacianSmoothing(1.0), ns.Momentum(0.9), ns.LR(0.1)], [ns.Adam(1e-3)]):
        opt = ns.Optimizer([p.copy() for p in ps], *chain, inplace=True)
        for _ in range(3):
            opt.step(fun_params)
    after = signatures()
    added = {k: sorted(set(v) - set(before.get(k, []))) for k, v in after.items()}
    print(json.dumps({k: v for k, v in added.items() if v}))
""")


def _added(mode):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no dispatchers without the JIT")
def test_after_warmup_the_first_steps_compile_nothing():
    assert _added("warm") == {}
    assert _added("cold")  # without warmup the same steps do compile (or load) kernels


def test_warmup_returns_seconds_and_checks_its_arguments():
    assert ns.warmup(what="sgd", dtypes="float32") >= 0.0
    assert ns.warmup(what=[], dtypes=[]) >= 0.0
    with pytest.raises(ValueError, match=r"what\[0\]"):
        ns.warmup(what="lbfgs")
    with pytest.raises(ValueError, match=r"dtypes\[1\]"):
        ns.warmup(dtypes=("float64", "float16"))
    with pytest.raises(TypeError, match="dtypes"):
        ns.warmup(dtypes=3)
