"""The method registry (numsmooth.methods): one list for run, bench, ns.recipes.build and the docs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import numsmooth as ns
from numsmooth import bench
from numsmooth import methods as nsm
from numsmooth.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"

# Each registry entry, rebuilt from the library directly: the independent reference of what the
# name means.
REFERENCE = {
    "hanso": lambda d: ns.recipes.hanso(d, seed=0),
    "gradient-sampling": lambda d: ns.recipes.gradient_sampling(d, seed=0),
    "gaussian-homotopy": lambda d: ns.recipes.gaussian_homotopy(seed=0),
    "bfgs": lambda d: [ns.BFGS(), ns.WeakWolfe()],
    "lbfgs": lambda d: [ns.LBFGS(history=10), ns.WeakWolfe()],
    "lsgd": lambda d: [ns.LaplacianSmoothing(sigma=1.0, min_numel=4), ns.LR(1e-3)],
    "gd": lambda d: [ns.LR(1e-3)],
    "lmbm": lambda d: [ns.LimitedMemoryBundle()],
}


def test_registry_names_and_one_meaning_each():
    assert list(nsm.METHODS) == ["hanso", "gradient-sampling", "gaussian-homotopy", "bfgs", "lbfgs", "lbfgsb",
                                 "lsgd", "gd", "lmbm"]
    gs = nsm.get("gradient-sampling").build(6)[0]
    gh = nsm.get("gaussian-homotopy").build(6)[0]
    assert isinstance(gs, ns.GradientSampling) and gs.config()["aggregate"] == "min-norm-hull"
    assert isinstance(gh, ns.GradientSampling) and gh.config()["aggregate"] == "mean"
    assert set(bench.DEFAULT_METHODS) <= set(nsm.METHODS)
    assert [m.name for m in nsm.METHODS.values() if m.dense] == ["hanso", "bfgs"]


@pytest.mark.parametrize("name", [n for n in nsm.METHODS if n != "lbfgsb"])
def test_every_method_runs_from_the_command_line_as_the_library_does(name, capsys):
    # run --method M on a small problem gives exactly the run of the chain built by hand
    p = ns.problems.get("chained_lq")
    assert main(["run", "--problem", "chained_lq", "--dim", "6", "--method", name, "--maxiter", "30",
                 "--json", "-", "--quiet"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["method"] == name and rec["outcome"] == "complete"
    stop = [ns.TerminateByUpdateNorm(1e-12, n=3)] if name in ("bfgs", "lbfgs") else None
    modules = REFERENCE[name](6)
    maxiter = 30
    if name == "lmbm":  # maxiter counts serious steps; every step at most 50 x as many
        stop, maxiter = [nsm.IterationCap(lambda mods: mods[0].state.get("num_serious", 0), modules, 30)], 1500
    ref = ns.minimize(p.fun, p.x0(6), *modules, maxiter=maxiter, termination=stop)
    assert rec["fun"] == ref.fun and rec["nfev"] == ref.nfev and rec["x"] == ref.x.tolist()
    if name == "lmbm":
        assert rec["nit"] == modules[0].state["num_serious"] <= 30
        assert rec["nsteps"] == len(ref.history["f"]) >= rec["nit"]
    else:
        assert rec["nsteps"] == rec["nit"]


def test_lbfgsb_is_scipys(capsys):
    p = ns.problems.get("chained_lq")
    assert main(["run", "--problem", "chained_lq", "--dim", "6", "--method", "lbfgsb", "--json", "-",
                 "--quiet"]) == 0
    rec = json.loads(capsys.readouterr().out)
    ref = scipy_minimize(ns.problems.per_point(p), p.x0(6), jac=True, method="L-BFGS-B",
                         options={"maxiter": 1000})
    assert rec["fun"] == ref.fun and rec["nit"] == ref.nit and rec["nfev"] == ref.nfev
    assert len(rec["history"]["f"]) == rec["nit"] and rec["history"]["f"][-1] == ref.fun


def test_lmbm_counts_serious_steps_as_iterations():
    # nit is the serious steps, nsteps every step; maxiter caps serious steps, maxfev evaluations
    p = ns.problems.get("chained_cb3_1")
    m = nsm.get("lmbm")
    res = m.minimize(p.fun, p.x0(50), maxiter=40, maxfev=100_000)
    assert res.status == 1 and res.nit == 40 and "(40)" in res.message
    assert res.nsteps > res.nit and res.nfev >= res.nsteps
    assert len(res.history["f"]) == res.nsteps
    res = m.minimize(p.fun, p.x0(50), maxiter=10_000, maxfev=300)
    assert res.status == 0 and 300 <= res.nfev < 300 + 50 and res.nit < res.nsteps
    res = m.minimize(p.fun, p.x0(50), maxiter=3)  # no maxfev: at most 50 steps per serious step
    assert res.nsteps <= 150 and res.nit <= 3
    (row,) = bench.run_suite(methods=["lmbm"], problems=["chained_cb3_1"], dim=50, maxiter=40, maxfev=100_000)
    assert row["nit"] == 40 and row["nfev"] > 40


def test_an_interrupted_lmbm_run_counts_its_steps_the_same_way():
    """The result attached to the interrupt (what ``run`` and ``bench`` keep on Ctrl-C) has
    ``nit`` the serious steps and ``nsteps`` every step, as a run that ends by itself."""
    p = ns.problems.get("chained_cb3_1")
    calls = [0]

    def fun(x):
        calls[0] += 1
        if calls[0] > 400:
            raise KeyboardInterrupt
        return p(x)

    with pytest.raises(KeyboardInterrupt) as info:
        nsm.get("lmbm").minimize(fun, p.x0(50), maxiter=10_000)
    res = info.value.partial_result
    lm_steps = len(res.history["f"])
    assert res.nsteps == lm_steps and 0 < res.nit < res.nsteps and res.status == 5


@pytest.mark.parametrize("name", list(nsm.METHODS))
def test_every_method_runs_in_bench(name):
    (row,) = bench.run_suite(methods=[name], problems=["chained_lq"], dim=4, maxiter=20, maxfev=3000)
    assert row["method"] == name and np.isfinite(row["f"]) and row["nfev"] > 0


def test_recipes_build_is_the_registry():
    a = ns.recipes.build("hanso", 8, sigma=1e-3)
    b = nsm.get("hanso").build(8, sigma=1e-3)
    assert type(a[0]) is type(b[0]) is ns.Switch
    assert [type(m).__name__ for m in ns.recipes.build("lbfgs", 3, history=4)] == ["LBFGS", "WeakWolfe"]
    assert ns.recipes.build("lbfgs", 3, history=4)[0].history == 4
    with pytest.raises(ValueError, match="unknown method 'newton'; choose one of hanso, gradient-sampling"):
        ns.recipes.build("newton", 3)
    with pytest.raises(ValueError, match="method 'bfgs' takes no option 'sigma'; its options: none"):
        ns.recipes.build("bfgs", 3, sigma=1.0)
    with pytest.raises(TypeError, match="lbfgsb.*not a chain"):
        ns.recipes.build("lbfgsb", 3)


def test_options_and_defaults_come_from_the_builders():
    assert nsm.get("gradient-sampling").options == {"sigma": 0.1, "n": None, "decay": 0.1, "sigma_min": 1e-8,
                                                    "seed": 0}
    assert nsm.get("bfgs").options == {} and nsm.get("lbfgs").options == {"history": 10}
    assert nsm.get("lbfgsb").options == {}
    for m in nsm.METHODS.values():
        assert set(m.options) <= set(nsm.OPTIONS)


def _toy(d, *, lr=0.5):
    return [ns.LR(lr)]


def test_one_register_call_adds_a_method_to_run_and_bench(capsys):
    nsm.register(nsm.Method("toy-descent", _toy, "A toy.", "none", new_options=()))
    try:
        assert main(["run", "--problem", "l1", "--dim", "3", "--method", "toy-descent", "--lr", "0.25",
                     "--maxiter", "4", "--json", "-", "--quiet"]) == 0
        rec = json.loads(capsys.readouterr().out)
        assert rec["arguments"]["lr"] == 0.25 and rec["nit"] == 4
        (row,) = bench.run_suite(methods=["toy-descent"], problems=["maxq"], dim=3, maxiter=5)
        assert row["nit"] == 5
        assert main(["methods"]) == 0 and "toy-descent: A toy." in capsys.readouterr().out
    finally:
        del nsm.METHODS["toy-descent"]


def test_register_refuses_bad_methods():
    with pytest.raises(ValueError, match="already registered"):
        nsm.register(nsm.Method("gd", _toy, "x", "y"))
    with pytest.raises(ValueError, match="lower-case words"):
        nsm.register(nsm.Method("My_Method", _toy, "x", "y"))

    def needs_beta(d, *, beta=1.0):
        return [ns.LR(beta)]

    with pytest.raises(ValueError, match=r"options \['beta'\] that are not in"):
        nsm.register(nsm.Method("needs-beta", needs_beta, "x", "y"))
    with pytest.raises(TypeError, match="exactly one of builder and solver"):
        nsm.register(nsm.Method("no-builder", None, "x", "y"))
    assert "needs-beta" not in nsm.METHODS and "beta" not in nsm.OPTIONS


def test_docs_method_table_is_the_registry():
    text = (DOCS / "methods.rst").read_text()
    assert nsm.method_table() in text, "docs/methods.rst: paste numsmooth.methods.method_table() again"
    listed = re.findall(r"^   \* - ``([a-z0-9-]+)``", text, flags=re.M)
    assert listed == list(nsm.METHODS)
