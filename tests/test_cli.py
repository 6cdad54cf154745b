"""Tests of the command line (``numsmooth.cli``), run in-process except one subprocess test."""

import json
import subprocess
import sys

import pytest

from numsmooth import problems as nsp
from numsmooth.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_json(capsys, *argv):
    # the JSON only where asked (--json -); the summary line then goes to stderr
    code = main(["run", "--quiet", "--json", "-", *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err.count("\n") == 1 and "nfev" in out.err
    return json.loads(out.out)


def test_problems_lists_every_problem(capsys):
    assert main(["problems"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(nsp.PROBLEMS)
    assert any(line.startswith("maxquad") and "-0.8414083346" in line for line in lines)


def test_python_m_numsmooth_problems():
    proc = subprocess.run([sys.executable, "-m", "numsmooth", "problems"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "rastrigin" in proc.stdout and "chained_mifflin2" in proc.stdout


def test_run_writes_json_with_the_fields(capsys, tmp_path):
    path = tmp_path / "res.json"
    code = main(["run", "--problem", "rosenbrock", "--method", "gd", "--lr", "1e-3",
                 "--maxiter", "3000", "--json", str(path), "--quiet"])
    assert code == 0
    rec = json.loads(path.read_text())
    for key in ("fun", "x", "nit", "nfev", "history", "problem", "f_star", "method", "arguments"):
        assert key in rec
    assert rec["problem"] == "rosenbrock" and rec["method"] == "gd" and rec["dim"] == 2
    assert rec["arguments"]["lr"] == 1e-3 and rec["arguments"]["maxiter"] == 3000
    assert len(rec["history"]["f"]) == rec["nit"] == 3000
    assert len(rec["history"]["nfev"]) == rec["nit"]
    # one meaning of nfev, the library's: evaluations so far after each step, then the final one
    # and, as maxiter is not convergence, the certificate's min(10, 2 d) = 4 extra points
    assert rec["history"]["nfev"] == list(range(1, 3001)) and rec["nfev"] == rec["njev"] == 3005
    assert all(s is None for s in rec["history"]["sigma"])  # nan -> null: strict JSON
    assert rec["fun"] - rec["f_star"] < 0.05


def test_run_gaussian_homotopy_to_stdout(capsys):
    rec = run_json(capsys, "--problem", "rastrigin", "--dim", "4", "--method", "gaussian-homotopy",
                   "--maxiter", "100", "--seed", "1")
    assert rec["arguments"]["aggregate"] == "mean" and rec["arguments"]["seed"] == 1
    assert abs(rec["fun"] - rec["f_star"]) < 1e-6
    assert len(rec["x"]) == 4


def test_run_lsgd(capsys):
    rec = run_json(capsys, "--problem", "l1", "--method", "lsgd", "--lr", "1e-2", "--maxiter", "200")
    assert rec["arguments"]["sigma"] == 1.0
    assert rec["fun"] < 0.2


@pytest.mark.parametrize("seed", [0, 7, 13])
def test_maxquad_min_norm_hull_reaches_f_star(capsys, seed):
    rec = run_json(capsys, "--problem", "maxquad", "--method", "gradient-sampling", "--seed", str(seed))
    assert abs(rec["fun"] - nsp.get("maxquad").f_star) <= 1e-4


@pytest.mark.parametrize("argv", [
    ["run", "--problem", "nosuch", "--method", "gd"],
    ["run", "--problem", "l1", "--method", "newton"],
    ["run", "--problem", "l1", "--method", "gradient-sampling", "--sigma", "-1"],
    ["run", "--problem", "l1", "--method", "lsgd", "--sigma", "-0.5"],
    ["run", "--problem", "maxquad", "--dim", "5", "--method", "gd"],
    ["run", "--problem", "rosenbrock", "--dim", "1", "--method", "gd"],
    ["run", "--problem", "l1", "--method", "gradient-sampling", "--n", "0"],
    ["run", "--problem", "l1", "--method", "gd", "--lr", "0"],
    ["run", "--problem", "l1", "--method", "gd", "--lr", "nan"],
    ["run", "--problem", "l1", "--method", "gd", "--maxiter", "-3"],
    ["run", "--problem", "l1", "--method", "gd", "--dim", "two"],
    ["run", "--problem", "l1", "--method", "gaussian-homotopy", "--aggregate", "avg"],
    ["run", "--problem", "l1", "--method", "gradient-sampling", "--aggregate", "mean"],
    ["run", "--problem", "l1", "--method", "gradient-sampling", "--decay", "0"],
    ["run", "--method", "gd"],
    ["run", "--problem", "l1", "--method", "gd", "--json", "/nonexistent/dir/x.json"],
    ["frobnicate"],
    ["demo", "--plot", "/nonexistent/dir/demo.png"],
    ["--threads", "0", "problems"],
])
def test_bad_input_exits_2_with_one_line(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numsmooth: error: "), err
    assert "Traceback" not in err


def test_demo_quick_writes_png(capsys, tmp_path):
    path = tmp_path / "demo.png"
    assert main(["demo", "--quick", "--quiet", "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    for word in ("rastrigin", "noisy quadratic", "maxquad", "f reached", "evaluations"):
        assert word in out
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_demo_no_plot(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quick", "--quiet", "--no-plot"]) == 0
    assert not (tmp_path / "numsmooth-demo.png").exists()


def test_problems_describes_one_problem(capsys):
    assert main(["problems", "chebyshev_rosenbrock"]) == 0
    out = capsys.readouterr().out
    assert "first" in out and "(x_1 - 1)^2 / 4" in out and "Gürbüzbalaban" in out
    assert main(["problems", "chebyshev_rosenbrock_2"]) == 0
    out = capsys.readouterr().out
    assert "second" in out and "|x_1 - 1| / 4" in out and "2 |x_i|" in out
    assert main(["problems", "no_such_problem"]) == 2


def test_methods_lists_the_registry(capsys):
    from numsmooth import methods

    assert main(["methods"]) == 0
    heads = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert heads == list(methods.METHODS)
