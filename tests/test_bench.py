"""numsmooth bench: the table, the JSON, the solved flag, the profile, problems of any size and
the user's own problems."""

import json
import math
import textwrap

import numpy as np
import pytest

from numsmooth import bench
from numsmooth import problems as nsp
from numsmooth.cli import main


def bench_json(capsys, tmp_path, *argv):
    out = tmp_path / "rows.json"
    code = main(["bench", "--quiet", "--json", str(out), *argv])
    text = capsys.readouterr()
    assert code == 0, text.err
    return json.loads(out.read_text()), text.out


def test_bench_on_two_problems_writes_the_table_and_json(tmp_path, capsys):
    plot = tmp_path / "profile.png"
    rec, text = bench_json(capsys, tmp_path, "--suite", "hmm2004", "--dim", "10", "--problems",
                           "chained_crescent_1,active_faces", "--method", "hanso", "lbfgsb", "--method", "bfgs",
                           "--maxfev", "4000", "--maxiter", "400", "--plot", str(plot))
    rows = rec["rows"]
    assert rec["status"] == "complete" and rec["error"] is None and rec["dim"] == 10
    # suite order, then method order as given
    assert [(r["problem"], r["method"]) for r in rows] == [
        (p, m) for p in ("active_faces", "chained_crescent_1") for m in ("hanso", "lbfgsb", "bfgs")]
    for r in rows:
        assert set(bench.KEYS) == r.keys()
        assert r["dim"] == 10 and r["f_star"] == 0.0 and r["f_star_source"] == "known"
        assert r["solved"] == (r["f"] - r["f_star"] <= 1e-6 * (1 + abs(r["f_star"])))
        assert 0 < r["nfev"] <= 4000 + 200 and 0 <= r["nit"] <= 400
        assert r["seconds"] >= 0 and r["compile_seconds"] >= 0
    assert all(r["solved"] for r in rows if r["method"] == "hanso")
    for line in ("hanso: solved 2 of 2", "bfgs: solved 2 of 2", "lbfgsb: solved"):
        assert line in text
    head = text.splitlines()[0].split()
    assert head[:4] == ["problem", "method", "f", "f*"]
    for word in ("stat", "evals", "steps", "run", "compile"):
        assert word in head
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


def test_rank_by_best_found_is_the_minimum_over_methods():
    rows = [{"problem": "p", "dim": 3, "method": m, "f": f, "f_star": None, "f_star_source": "best found",
             "solved": False} for m, f in (("a", -2.0), ("b", -2.0 + 1e-7), ("c", -1.0), ("d", math.nan))]
    rows.append({"problem": "q", "dim": 3, "method": "a", "f": 5.0, "f_star": 4.0, "f_star_source": "known",
                 "solved": False})
    bench.rank_by_best_found(rows)
    assert [r["f_star"] for r in rows] == [-2.0, -2.0, -2.0, -2.0, 4.0]
    assert [r["solved"] for r in rows] == [True, True, False, False, False]


def test_dimension_without_known_optimum_is_ranked_by_the_best_found(tmp_path, capsys):
    # chained_mifflin2 has no known optimum at d = 7: the run does not abort, the best value is f*
    assert nsp.get("chained_mifflin2").optimal_value(7) is None
    rec, text = bench_json(capsys, tmp_path, "--dim", "7", "--problems", "maxq,chained_mifflin2",
                           "--method", "bfgs", "gd", "--maxiter", "300")
    rows = {(r["problem"], r["method"]): r for r in rec["rows"]}
    assert len(rows) == 4
    mifflin = [r for r in rec["rows"] if r["problem"] == "chained_mifflin2"]
    best = min(r["f"] for r in mifflin)
    assert all(r["f_star"] == best and r["f_star_source"] == "best found" for r in mifflin)
    assert rows[("maxq", "bfgs")]["f_star_source"] == "known"
    assert rec["f_star_notes"]["chained_mifflin2"] == "best found"
    assert f"~{best:.10g}" in text and "best value any method reached" in text


def test_every_dimension_rule_is_checked_before_any_run(capsys):
    # d = 1: seven problems need d >= 2; nothing runs, one line names them all
    assert main(["bench", "--dim", "1", "--method", "bfgs"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1
    assert out.err.startswith("numsmooth: error: argument --dim: dim = 1")
    for name in ("chained_lq", "brown2", "chained_crescent_2"):
        assert name in out.err
    assert "maxq" not in out.err.replace("maxq ", "")  # maxq allows d = 1


MYBENCH = textwrap.dedent('''
    import numpy as np
    import numsmooth as ns
    from helper_beside import SHIFT

    def shifted_l1(x):
        return float(np.sum(np.abs(x - SHIFT))) - 3.0, np.sign(x - SHIFT)

    l1 = ns.problems.get("l1")
''')


@pytest.fixture
def user_files(tmp_path):
    (tmp_path / "helper_beside.py").write_text("SHIFT = 0.5\n")
    (tmp_path / "mybench.py").write_text(MYBENCH)
    return tmp_path


def test_user_problems_with_and_without_f_star(user_files, capsys, tmp_path):
    f = user_files / "mybench.py"
    rec, text = bench_json(capsys, tmp_path, "--problem", f"{f}:shifted_l1", "--problem", f"{f}:l1",
                           "--f-star", "-3", "--f-star", "0", "--dim", "4", "--method", "bfgs", "lbfgs")
    rows = rec["rows"]
    assert [r["problem"] for r in rows] == ["shifted_l1"] * 2 + ["l1"] * 2
    assert all(r["f_star_source"] == "given" for r in rows) and rec["suite"] is None
    assert [r["f_star"] for r in rows] == [-3.0, -3.0, 0.0, 0.0]
    assert all(r["dim"] == 4 for r in rows)
    # without --f-star: the best value found
    rec, _ = bench_json(capsys, tmp_path, "--problem", f"{f}:shifted_l1", "--dim", "3", "--method", "bfgs", "gd",
                        "--maxiter", "50")
    assert {r["f_star_source"] for r in rec["rows"]} == {"best found"}
    assert rec["rows"][0]["f_star"] == min(r["f"] for r in rec["rows"])


def test_user_problem_with_the_suite(user_files, capsys, tmp_path):
    rec, _ = bench_json(capsys, tmp_path, "--suite", "hmm2004", "--problems", "maxq", "--problem",
                        f"{user_files / 'mybench.py'}:shifted_l1", "--dim", "3", "--method", "bfgs")
    assert [r["problem"] for r in rec["rows"]] == ["maxq", "shifted_l1"]


@pytest.mark.parametrize("argv, match", [
    (["--maxfev", "0"], "argument --maxfev"), (["--dim", "0"], "argument --dim"),
    (["--problems", "maxquad"], "not in suite"), (["--problems", "nope"], "unknown problem"),
    (["--problems", " , "], "argument --problems"), (["--seed", "-1"], "argument --seed"),
    (["--method", "newton"], "argument --method"),
    (["--json", "/nonexistent/dir/rows.json"], "argument --json: directory"),
    (["--json", "."], "argument --json: '.' is a directory"),
    (["--json", "/proc/self/rows.json"], "argument --json: no permission"),
    (["--plot", "/nonexistent/dir/p.png"], "argument --plot"),
    (["--problem", "nosuch.py:f"], "argument --problem"),
    (["--problem", "x.py:f", "--f-star", "1", "--f-star", "2"], "argument --f-star"),
    (["--dim", "100000000", "--method", "bfgs"], "argument --dim"),  # the d x d matrix of BFGS
])
def test_bad_input_exits_2_naming_the_option_before_any_run(argv, match, capsys):
    assert main(["bench", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1
    assert out.err.startswith("numsmooth: error: ") and match in out.err, out.err


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'newton'; choose one of hanso"):
        bench.run_suite(methods=["newton"])


def test_mifflin2_optimum_at_1000_and_its_source():
    p = nsp.get("chained_mifflin2")
    assert abs(p.optimal_value(1000) - -706.55) < 0.005 and "-706.55" in p.optimal_value_source(1000)
    assert p.optimal_value(50) == p.f_star and p.optimal_value_source(50).startswith("numerical")
    assert p.optimal_value(200) < p.optimal_value(50) and "every d >= 50" in p.optimal_value_source(200)
    assert p.optimal_value(49) is None and p.optimal_value_source(49) is None


def test_table_shows_the_certificate_and_marks_best_found():
    rows = [
        {"problem": "p", "method": "a", "f": 1.5, "f_star": 1.0, "f_star_source": "known", "solved": False,
         "nfev": 10, "nit": 3, "seconds": 0.5, "compile_seconds": 2.0, "stationarity": 3.2e-9},
        {"problem": "q", "method": "a", "f": -7.0, "f_star": -7.0, "f_star_source": "best found", "solved": True,
         "nfev": 12, "nit": 4, "nsteps": 9, "seconds": 0.25, "compile_seconds": 0.0, "stationarity": math.nan},
    ]
    lines = bench.format_table(rows).splitlines()
    # a row without nsteps (every step an iteration) shows nit twice
    assert lines[2].split() == ["p", "a", "1.5", "1", "5.00e-01", "3.2e-09", "10", "3", "3", "0.50", "2.00", "no"]
    assert lines[3].split() == ["q", "a", "-7", "~-7", "0.00e+00", "-", "12", "4", "9", "0.25", "0.00", "yes"]
    assert lines[5].startswith("~ no known optimum")


FAILS_LATER = textwrap.dedent('''
    import numpy as np
    calls = 0

    def flaky(x):
        global calls
        calls += 1
        if calls > 110:
            raise FloatingPointError("sensor offline")
        return float(np.abs(x - 1.0).sum()), np.sign(x - 1.0)
''')


def test_oracle_exception_keeps_the_finished_rows(tmp_path, capsys):
    (tmp_path / "flaky.py").write_text(FAILS_LATER)
    out = tmp_path / "rows.json"
    code = main(["bench", "--problem", f"{tmp_path / 'flaky.py'}:flaky", "--dim", "3", "--method", "gd", "bfgs",
                 "--maxiter", "100", "--json", str(out), "--quiet"])
    text = capsys.readouterr()
    assert code == 1
    rec = json.loads(out.read_text())
    assert rec["status"] == "error" and "FloatingPointError: sensor offline" in rec["error"]
    # gd: 2 warm-up steps (3 calls) + 100 steps (101 calls) + the certificate's min(10, 2 d) = 6
    # extra points finish at call 110; bfgs runs into call 111
    assert [(r["problem"], r["method"], r["nfev"]) for r in rec["rows"]] == [("flaky", "gd", 107)]
    assert text.out.splitlines()[2].split()[:2] == ["flaky", "gd"] and "sensor offline" in text.err
    assert "error: OracleError" in text.out and "only the 1 runs above finished" in text.out
