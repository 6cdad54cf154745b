"""``numsmooth run`` on the user's own problem, its summary line, JSON, flag checks and progress."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import numsmooth
from numsmooth import problems as nsp
from numsmooth.cli import main

WORKTREE = str(Path(numsmooth.__file__).resolve().parent.parent)

MYPROBLEM = textwrap.dedent('''
    import numba
    import numpy as np
    import numsmooth as ns

    def quad(x):
        return float(np.sum((x - 1.0) ** 2)), 2.0 * (x - 1.0)

    @ns.batched
    def quad_batched(X):
        return ((X - 1.0) ** 2).sum(axis=1), 2.0 * (X - 1.0)

    @numba.njit
    def quad_jitted(x, g):
        f = 0.0
        for i in range(x.size):
            g[i] = 2.0 * (x[i] - 1.0)
            f += (x[i] - 1.0) ** 2
        return f

    l1 = ns.problems.get("l1")
    not_an_oracle = 3
''')


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh directory holding myproblem.py, the current directory, on sys.path."""
    (tmp_path / "myproblem.py").write_text(MYPROBLEM)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "myproblem", raising=False)
    return tmp_path


def summary(out):
    lines = out.splitlines()
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize("spec", ["myproblem.py:quad", "myproblem:quad", "myproblem.py:quad_batched",
                                  "myproblem:quad_jitted"])
def test_user_problem_every_oracle_kind(project, capsys, spec):
    code = main(["run", "--problem", spec, "--dim", "5", "--method", "gd", "--lr", "0.1",
                 "--maxiter", "50", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    line = summary(out.out)
    name = spec.split(":")[1]
    assert line.startswith(f"{name} gd d=5: f = ")
    # 50 steps and the final point (51 calls), then the certificate's min(10, 2 d) extra points:
    # a run stopped by maxiter is not converged, so it is certified
    for word in ("nfev 61", "nit 50", "status 1", "run ", "compile "):
        assert word in line
    f = float(line.split("f = ")[1].split(",")[0])
    assert f == pytest.approx(5 * 0.8 ** 100, rel=1e-9)  # GD on (x - 1)^2 from 0 with lr 0.1


def test_user_problem_file_by_path_from_elsewhere(tmp_path, capsys, monkeypatch):
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    (sub / "prob.py").write_text(MYPROBLEM)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--problem", f"{sub / 'prob.py'}:quad", "--x0", "3,3", "--method",
                 "gaussian-homotopy", "--maxiter", "20", "--quiet"]) == 0
    line = summary(capsys.readouterr().out)
    assert line.startswith("quad gaussian-homotopy d=2: ")


def test_user_problem_object_uses_its_start_and_f_star(project, capsys):
    assert main(["run", "--problem", "myproblem.py:l1", "--method", "gd", "--maxiter", "5", "--quiet",
                 "--json", "-"]) == 0
    out = capsys.readouterr()
    rec = json.loads(out.out)
    assert rec["problem"] == "l1" and rec["source"] == "myproblem.py:l1"
    assert rec["f_star"] == nsp.get("l1").f_star and rec["dim"] == nsp.get("l1").default_dim
    assert "f - f* =" in summary(out.err)


def test_x0_from_npy_and_list(project, capsys):
    np.save(project / "start.npy", np.array([4.0, -2.0, 0.5]))
    for x0 in ("start.npy", "4,-2,0.5"):
        assert main(["run", "--problem", "myproblem:quad", "--x0", x0, "--method", "gd", "--maxiter", "0",
                     "--json", "-", "--quiet"]) == 0
        rec = json.loads(capsys.readouterr().out)
        assert rec["x"] == [4.0, -2.0, 0.5] and rec["dim"] == 3
        assert rec["fun"] == 9 + 9 + 0.25 and rec["jac"] == [6.0, -6.0, -1.0]


def test_json_file_and_summary_on_stdout(project, capsys):
    path = project / "out.json"
    assert main(["run", "--problem", "maxquad", "--method", "gradient-sampling", "--json", str(path),
                 "--quiet"]) == 0
    line = summary(capsys.readouterr().out)
    rec = json.loads(path.read_text())
    assert line.startswith("maxquad gradient-sampling d=10: f = ")
    assert f"status {rec['status']}" in line and f"nfev {rec['nfev']}" in line
    assert rec["status"] == 4 and abs(rec["fun"] - rec["f_star"]) < 1e-6
    assert rec["arguments"] == {"maxiter": 1000, "maxfev": None, "sigma": 0.1, "n": None, "decay": 0.1,
                                "sigma_min": 1e-8, "seed": 0}
    assert rec["outcome"] == "complete" and rec["error"] is None
    assert rec["compile_seconds"] >= 0 and rec["seconds"] >= 0
    assert set(rec["history"]) == {"f", "f_smoothed", "sigma", "update_norm", "nfev"}
    assert rec["nfev"] == rec["njev"] and rec["history"]["nfev"][-1] <= rec["nfev"]


def test_run_matches_the_documented_recipe(capsys):
    # numsmooth run --method gradient-sampling is ns.recipes.gradient_sampling(d, seed=...)
    assert main(["run", "--problem", "maxquad", "--method", "gradient-sampling", "--seed", "3", "--json", "-",
                 "--quiet"]) == 0
    rec = json.loads(capsys.readouterr().out)
    p = nsp.get("maxquad")
    res = numsmooth.minimize(p.fun, p.x0(), *numsmooth.recipes.gradient_sampling(10, seed=3), maxiter=1000)
    assert rec["fun"] == res.fun and rec["nfev"] == res.nfev and rec["nit"] == res.nit


def test_without_json_no_result_dump(capsys):
    assert main(["run", "--problem", "rosenbrock", "--method", "gd", "--maxiter", "10", "--quiet"]) == 0
    out = capsys.readouterr()
    assert summary(out.out).startswith("rosenbrock gd d=2: ") and out.err == ""


@pytest.mark.parametrize("argv, flag", [
    (["--problem", "rosenbrock", "--method", "gradient-sampling", "--sigma", "0"], "--sigma"),
    (["--problem", "rosenbrock", "--method", "lsgd", "--min-numel", "2", "--sigma", "0"], "--sigma"),
    (["--problem", "rosenbrock", "--method", "gaussian-homotopy", "--decay", "2"], "--decay"),
    (["--problem", "rosenbrock", "--method", "gradient-sampling", "--decay", "1"], "--decay"),
    (["--problem", "rosenbrock", "--method", "gaussian-homotopy", "--stage", "0"], "--stage"),
    (["--problem", "rosenbrock", "--method", "gaussian-homotopy", "--n", "1000000000000"], "--n"),
    (["--problem", "rosenbrock", "--method", "gaussian-homotopy", "--n", "0"], "--n"),
    (["--problem", "maxquad", "--method", "gradient-sampling", "--n", "1"], "--n"),
    (["--problem", "maxquad", "--method", "hanso", "--n", "1"], "--n"),
    (["--problem", "rastrigin", "--method", "bfgs", "--dim", "10000000"], "--dim"),  # a 1e7 x 1e7 matrix
    (["--problem", "rosenbrock", "--method", "lbfgs", "--history", "0"], "--history"),
    (["--problem", "rosenbrock", "--method", "bfgs", "--history", "5"], "--history"),
    (["--problem", "rosenbrock", "--method", "gd", "--maxfev", "0"], "--maxfev"),
    (["--problem", "rosenbrock", "--method", "gd", "--f-star", "nan"], "--f-star"),
    (["--problem", "rastrigin", "--method", "gd", "--dim", "1000000000000"], "--dim"),
    (["--problem", "rosenbrock", "--method", "gd", "--maxiter", "-1"], "--maxiter"),
    (["--problem", "rosenbrock", "--method", "gd", "--stage", "3"], "--stage"),
    (["--problem", "rosenbrock", "--method", "gd", "--sigma", "1"], "--sigma"),
    (["--problem", "rosenbrock", "--method", "gd", "--seed", "1"], "--seed"),
    (["--problem", "rosenbrock", "--method", "lsgd", "--aggregate", "max"], "--aggregate"),
    (["--problem", "maxquad", "--method", "gradient-sampling", "--stage", "5"], "--stage"),
    (["--problem", "maxquad", "--method", "gradient-sampling", "--lr", "0.1"], "--lr"),
    (["--problem", "rosenbrock", "--method", "gradient-sampling", "--min-numel", "2"], "--min-numel"),
    (["--problem", "rosenbrock", "--method", "lsgd"], "--method"),  # 2 variables: lsgd would be gd
    (["--problem", "maxquad", "--method", "gd", "--x0", "1,2,3"], "--x0"),  # maxquad: d = 10
    (["--problem", "rosenbrock", "--method", "gd", "--x0", "1,a"], "--x0"),
    (["--problem", "rosenbrock", "--method", "gd", "--x0", "missing.npy"], "--x0"),
    (["--problem", "myproblem.py:quad", "--method", "gd"], "--problem"),  # needs --x0 or --dim
    (["--problem", "myproblem.py:nosuch", "--dim", "2", "--method", "gd"], "--problem"),
    (["--problem", "myproblem.py:not_an_oracle", "--dim", "2", "--method", "gd"], "--problem"),
    (["--problem", "nosuch.py:f", "--dim", "2", "--method", "gd"], "--problem"),
    (["--problem", "no_such_module:f", "--dim", "2", "--method", "gd"], "--problem"),
    (["--problem", "myproblem:quad", "--dim", "3", "--x0", "1,2", "--method", "gd"], "--dim"),
    (["--problem", "rosenbrock", "--method", "gd", "--plot", "/nonexistent/dir/p.png"], "--plot"),
    (["--problem", "rosenbrock", "--method", "gd", "--json", "."], "--json"),  # a directory
    (["--problem", "rosenbrock", "--method", "gd", "--json", "missing/out.json"], "--json"),
    (["--problem", "rosenbrock", "--method", "gd", "--json", "myproblem.py/out.json"], "--json"),  # parent is a file
    (["--problem", "rosenbrock", "--method", "gd", "--plot", "myproblem.py/p.png"], "--plot"),
])
def test_bad_flag_exits_2_with_one_line_naming_it(project, capsys, argv, flag):
    assert main(["run", *argv]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith(f"numsmooth: error: argument {flag}"), out.err


def test_lsgd_small_problem_with_min_numel(capsys):
    assert main(["run", "--problem", "rosenbrock", "--method", "lsgd", "--min-numel", "2", "--maxiter", "5",
                 "--json", "-", "--quiet"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["arguments"]["min_numel"] == 2
    # the smoothing took place: the trajectory differs from gd's
    assert main(["run", "--problem", "rosenbrock", "--method", "gd", "--maxiter", "5", "--json", "-",
                 "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["x"] != rec["x"]


def test_plot_into_a_directory(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["run", "--problem", "rosenbrock", "--method", "gd", "--maxiter", "5",
                 "--plot", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert (tmp_path / "numsmooth-run.png").read_bytes()[:4] == b"\x89PNG"
    assert not Path(str(tmp_path) + ".png").exists()
    assert "numsmooth-run.png" in out.err and "is a directory" in out.err


def test_not_a_terminal_log_lines_and_quiet(capsys, monkeypatch):
    monkeypatch.setenv("NUMSMOOTH_PROGRESS_INTERVAL", "0")
    assert main(["run", "--problem", "rosenbrock", "--method", "gd", "--maxiter", "3"]) == 0
    out = capsys.readouterr()
    logs = [line for line in out.err.splitlines() if "step" in line]
    assert logs == [line for line in out.err.splitlines() if line.startswith("rosenbrock gd: step ")]
    assert len(logs) == 3 and logs[0].startswith("rosenbrock gd: step 1/3, f = ")
    assert summary(out.out).startswith("rosenbrock gd d=2")
    assert main(["run", "--problem", "rosenbrock", "--method", "gd", "--maxiter", "3", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_console_script_in_fresh_directory_with_pythonpath(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(MYPROBLEM)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), WORKTREE]),
               NUMSMOOTH_PROGRESS_INTERVAL="0")
    proc = subprocess.run([sys.executable, "-m", "numsmooth", "run", "--problem", "pkg.mod:quad", "--dim", "3",
                           "--method", "gd", "--lr", "0.1", "--maxiter", "4"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert summary(proc.stdout).startswith("quad gd d=3: f = ")
    assert "quad gd: step 4/4" in proc.stderr  # not a terminal: log lines


def _result(f_hist, fun, nfev_hist, nfev, **extra):
    return numsmooth.OptimizeResult(history={"f": f_hist, "f_smoothed": [np.nan] * len(f_hist), "nfev": nfev_hist},
                                    fun=fun, nfev=nfev, **extra)


def test_plot_without_known_optimum_shows_f_not_a_log_gap():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from numsmooth.cli.plots import Curve, convergence_curve, figure

    res = _result([5.0, -3.0, -40.0], -41.0, [1, 2, 3], 4)
    ev, f = convergence_curve(res, None)
    np.testing.assert_array_equal(ev, [1, 2, 3, 4])
    np.testing.assert_array_equal(f, [5.0, -3.0, -40.0, -41.0])  # f itself, negative values kept
    fig = figure([Curve("p", "gd", (ev, f), gap=False)])
    ax = fig.axes[0]
    assert ax.get_ylabel() == "f" and ax.get_yscale() == "linear"  # |f| from 3 to 41: linear
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), f)
    plt.close(fig)
    fig = figure([Curve("p", "gd", (ev, np.array([5e4, -3.0, -2.0, 1.0])), gap=False)])
    assert fig.axes[0].get_yscale() == "symlog"  # |f| from 1 to 5e4: more than three decades
    plt.close(fig)
    ev, gap = convergence_curve(res, -41.0)
    np.testing.assert_array_equal(gap, [46.0, 38.0, 1.0, 0.0])
    fig = figure([Curve("p", "gd", (ev, gap))])
    assert fig.axes[0].get_ylabel() == "f - f*" and fig.axes[0].get_yscale() == "log"
    plt.close(fig)


def test_plot_of_an_interrupted_run_drops_the_unknown_last_value():
    from numsmooth.cli.plots import convergence_curve

    ev, f = convergence_curve(_result([2.0, 1.0], np.nan, [1, 2], 2), None)
    np.testing.assert_array_equal(ev, [1, 2])
    np.testing.assert_array_equal(f, [2.0, 1.0])


def test_run_plot_on_own_oracle_is_labelled_f(project, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from numsmooth.cli import plots

    original, labels = plots.figure, []

    def recording(curves):
        fig = original(curves)
        labels.append(fig.axes[0].get_ylabel())
        return fig

    monkeypatch.setattr(plots, "figure", recording)
    for argv, label in ((["--dim", "3"], "f"), (["--dim", "3", "--f-star", "0"], "f - f*")):
        assert main(["run", "--problem", "myproblem.py:quad", *argv, "--method", "gd", "--maxiter", "5",
                     "--plot", str(project / "p.png"), "--quiet"]) == 0
        assert labels.pop() == label
        assert (project / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_summary_line_shows_the_stationarity_certificate():
    from numsmooth.cli.run import _summary

    res = _result([1.0], 0.5, [3], 4, nit=1, status=0, message="m", stationarity=2.5e-7, stationarity_radius=1e-4)
    line = _summary("p m", 3, res, 0.25, 1.0, 2.0)
    assert line == ("p m d=3: f = 0.5 (f - f* = 0.25), stationarity 2.50e-07 (radius 1e-04), nfev 4, nit 1, "
                    "status 0 (m), run 1.00 s, compile 2.00 s")
    res = _result([1.0], 0.5, [3], 4, nit=1, status=0, message="m")  # no certificate: nothing said
    assert "stationarity" not in _summary("p m", 3, res, None, 1.0, 2.0)
