"""numsmooth bench: the sub-parser, the table, the JSON rows, the solved flag and the profile."""

import argparse
import json
import math

import numpy as np
import pytest

from numsmooth import bench


def _parse(argv):
    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def test_bench_on_two_problems_writes_the_table_and_json(tmp_path, capsys):
    out = tmp_path / "rows.json"
    plot = tmp_path / "profile.png"
    args = _parse(["--suite", "hmm2004", "--dim", "10", "--problems", "chained_crescent_1,active_faces",
                   "--method", "hanso", "lbfgsb", "--method", "bfgs", "--maxfev", "4000", "--maxiter", "400",
                   "--json", str(out), "--plot", str(plot), "--quiet"])
    assert bench.run(args) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())
    # suite order, then method order as given
    assert [(r["problem"], r["method"]) for r in rows] == [
        (p, m) for p in ("active_faces", "chained_crescent_1") for m in ("hanso", "lbfgsb", "bfgs")]
    for r in rows:
        assert {"problem", "method", "f", "f_star", "nfev", "solved", "nit", "seconds"} <= r.keys()
        assert r["dim"] == 10 and r["f_star"] == 0.0
        assert r["solved"] == (r["f"] - r["f_star"] <= 1e-6 * (1 + abs(r["f_star"])))
        assert 0 < r["nfev"] <= 4000 + 200 and 0 <= r["nit"] <= 400
        assert f"{r['problem']}  " in text or r["problem"] in text
    assert all(r["solved"] for r in rows if r["method"] == "hanso")
    for line in ("hanso: solved 2 of 2", "bfgs: solved 2 of 2", "lbfgsb: solved"):
        assert line in text
    head = text.splitlines()[0].split()
    assert head[:4] == ["problem", "method", "f", "f*"] and "evals" in head and "steps" in head
    assert plot.stat().st_size > 1000


def test_run_suite_rows_and_summary():
    rows = bench.run_suite(methods=["bfgs", "gradient-sampling"], problems=["active_faces"], dim=5,
                           maxfev=600, maxiter=50)
    assert [r["method"] for r in rows] == ["bfgs", "gradient-sampling"]
    assert all(r["nfev"] <= 600 + 60 for r in rows)  # the budget, overshot by at most one step
    summary = {s["method"]: s for s in bench.summarize(rows)}
    for r in rows:
        s = summary[r["method"]]
        assert s["solved"] == int(r["solved"]) and s["problems"] == 1
        assert (s["median_nfev"] == r["nfev"]) if r["solved"] else math.isnan(s["median_nfev"])


def test_solved_is_relative_to_one_plus_the_optimum():
    assert bench.solved(98 + 98e-6, 98.0) and not bench.solved(98 + 1e-4, 98.0)
    assert bench.solved(1e-6, 0.0) and not bench.solved(1.1e-6, 0.0)
    assert bench.solved(-70.0, -69.0)  # below f* counts as solved
    assert not bench.solved(math.nan, 0.0)


def test_performance_profile_ratios():
    rows = [
        {"problem": "a", "method": "x", "nfev": 100, "solved": True},
        {"problem": "a", "method": "y", "nfev": 300, "solved": True},
        {"problem": "b", "method": "x", "nfev": 50, "solved": False},
        {"problem": "b", "method": "y", "nfev": 80, "solved": True},
        {"problem": "c", "method": "x", "nfev": 1, "solved": False},
        {"problem": "c", "method": "y", "nfev": 1, "solved": False},
    ]
    methods, R = bench.performance_profile(rows)
    assert methods == ["x", "y"]
    np.testing.assert_array_equal(R, [[1.0, 3.0], [np.inf, 1.0], [np.inf, np.inf]])


def test_lbfgsb_counts_every_evaluation():
    (r,) = bench.run_suite(methods=["lbfgsb"], problems=["active_faces"], dim=4, maxfev=50)
    assert 1 <= r["nfev"] <= 60 and r["method"] == "lbfgsb"


@pytest.mark.parametrize("argv, match", [
    (["--maxfev", "0"], "--maxfev"), (["--dim", "0"], "--dim"), (["--problems", "maxquad"], "not in suite"),
    (["--problems", "nope"], "unknown problem"), (["--problems", " , "], "--problems"),
    (["--seed", "-1"], "--seed"),
])
def test_bad_input_names_the_option(argv, match):
    with pytest.raises(ValueError, match=match):
        bench.run(_parse(argv))


def test_unknown_method_is_refused():
    with pytest.raises(SystemExit):
        _parse(["--method", "newton"])
    with pytest.raises(ValueError, match="method must be one of"):
        bench.run_suite(methods=["newton"])
