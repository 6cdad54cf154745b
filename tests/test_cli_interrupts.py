"""Nothing lost: real SIGINT/SIGTERM sent to real `numsmooth run` and `bench` processes, oracle
exceptions, the partial result of ns.minimize, problem files that exit or raise at import, and
configuration errors as one line."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import numsmooth as ns
from numsmooth.cli import main

WORKTREE = str(Path(ns.__file__).resolve().parent.parent)
PNG = b"\x89PNG"


def start(argv, cwd):
    # not a terminal, interval 0: a progress line after every step of run
    env = dict(os.environ, PYTHONPATH=WORKTREE, NUMSMOOTH_PROGRESS_INTERVAL="0")
    return subprocess.Popen([sys.executable, "-m", "numsmooth", *argv], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def signal_after(proc, marker, sig):
    """Send ``sig`` once stderr shows a line containing ``marker``; return (stdout, stderr, code)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            break
    else:  # pragma: no cover - the process ended without the line
        raise AssertionError("".join(seen))
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    return out, "".join(seen) + err, proc.returncode


@pytest.mark.slow  # a fresh process doing real work (minutes under NUMBA_DISABLE_JIT)
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_interrupted_keeps_summary_json_and_plot(tmp_path, sig, code):
    # a run that would take hours: mxhilb is O(d^2) per evaluation
    proc = start(["run", "--problem", "mxhilb", "--dim", "1500", "--method", "gd", "--maxiter", "100000000",
                  "--json", "r.json", "--plot", "r.png"], tmp_path)
    out, err, rc = signal_after(proc, "mxhilb gd: step 2/", sig)  # the run is in its loop
    assert rc == code, err
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert f"interrupted ({name})" in err and "Traceback" not in err
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["outcome"] == "interrupted" and rec["error"] == f"interrupted ({name})"
    assert rec["status"] == 5 and rec["success"] is False and rec["message"].startswith("interrupted: ")
    assert len(rec["x"]) == 1500 and rec["nit"] == len(rec["history"]["f"])
    assert rec["nfev"] >= rec["nit"]
    # the summary line is the record's
    (line,) = out.splitlines()
    assert line.startswith("mxhilb gd d=1500: ") and f"nit {rec['nit']}," in line and "status 5" in line
    assert (tmp_path / "r.png").read_bytes()[:4] == PNG
    assert rec["nit"] >= 2  # x is the point after nit steps of gd: replay them
    p = ns.problems.get("mxhilb")
    ref = ns.minimize(p.fun, p.x0(1500), ns.LR(1e-3), maxiter=rec["nit"])
    assert rec["x"] == ref.x.tolist()


@pytest.mark.slow  # a fresh process that finishes whole runs before the signal
def test_bench_interrupted_keeps_every_finished_row(tmp_path):
    # maxq / bfgs finishes; maxq / gd runs 10^7 steps: the signal lands in it
    proc = start(["bench", "--problems", "maxq,mxhilb", "--dim", "300", "--method", "bfgs", "gd",
                  "--maxiter", "10000000", "--maxfev", "100000000", "--json", "b.json", "--plot", "b.png"], tmp_path)
    out, err, rc = signal_after(proc, "maxq / bfgs:", signal.SIGINT)
    assert rc == 130, err
    rec = json.loads((tmp_path / "b.json").read_text())
    assert rec["status"] == "interrupted" and rec["error"] == "interrupted (SIGINT)"
    assert [(r["problem"], r["method"]) for r in rec["rows"]] == [("maxq", "bfgs")]
    assert rec["rows"][0]["solved"] is True
    assert out.splitlines()[2].startswith("maxq ") and "bfgs: solved 1 of 1" in out
    assert "interrupted (SIGINT): only the 1 runs above finished" in out.splitlines()
    assert "1 finished rows kept" in err and (tmp_path / "b.png").read_bytes()[:4] == PNG


FAILING = textwrap.dedent('''
    import numpy as np
    calls = 0

    def fails_at_30(x):
        global calls
        calls += 1
        if calls == 30:
            raise ZeroDivisionError("the model blew up")
        return float(x @ x), 2 * x
''')


def test_run_oracle_exception_is_named_and_the_result_kept(tmp_path, capsys, monkeypatch):
    (tmp_path / "failing.py").write_text(FAILING)
    monkeypatch.chdir(tmp_path)
    # the warm-up makes 2 evaluations + 1 final: the run fails at its 27th call
    code = main(["run", "--problem", "failing.py:fails_at_30", "--dim", "3", "--method", "gd", "--maxiter", "100",
                 "--json", "r.json", "--quiet"])
    out = capsys.readouterr()
    assert code == 1
    assert "ZeroDivisionError: the model blew up" in out.err and out.err.count("\n") == 1
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["outcome"] == "error" and "ZeroDivisionError: the model blew up" in rec["error"]
    assert rec["nit"] == 26 and rec["status"] == 5 and len(rec["history"]["f"]) == 26
    ref = ns.minimize(lambda x: (float(x @ x), 2 * x), np.zeros(3), ns.LR(1e-3), maxiter=26)
    assert rec["x"] == ref.x.tolist()
    assert out.out.startswith("fails_at_30 gd d=3: ") and "nit 26" in out.out


def test_minimize_partial_result_on_keyboard_interrupt_and_oracle_error():
    quad = lambda x: (float(x @ x), 2 * x)  # noqa: E731

    def stop_at_7(intermediate_result):
        if intermediate_result.nit == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        ns.minimize(quad, np.ones(4), ns.LR(0.1), maxiter=100, callback=stop_at_7)
    r = info.value.partial_result
    ref = ns.minimize(quad, np.ones(4), ns.LR(0.1), maxiter=7)
    assert isinstance(r, ns.OptimizeResult) and r.status == 5 and r.success is False
    assert r.message == "interrupted: KeyboardInterrupt" and r.nit == 7 and r.nfev == 7
    np.testing.assert_array_equal(r.x, ref.x)
    assert r.history["f"] == ref.history["f"] and np.isnan(r.fun) and r.jac is None

    calls = 0

    def fails(x):
        nonlocal calls
        calls += 1
        if calls == 5:
            raise RuntimeError("no")
        return quad(x)

    with pytest.raises(ns.OracleError) as info:
        ns.minimize(fails, np.ones(4), ns.LR(0.1), maxiter=100)
    r = info.value.partial_result
    assert r.nit == 4 and r.nfev == 5 and "RuntimeError: no" in r.message
    np.testing.assert_array_equal(r.x, ns.minimize(quad, np.ones(4), ns.LR(0.1), maxiter=4).x)


@pytest.mark.parametrize("body, words", [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while being imported"),
    ("import sys\nsys.exit('bye')\n", "called sys.exit('bye')"),
    ("raise RuntimeError('broken setup')\n", "raised RuntimeError: broken setup"),
    ("import no_such_module_here\n", "ModuleNotFoundError"),
])
def test_problem_file_that_exits_or_raises_at_import(tmp_path, body, words):
    (tmp_path / "bad.py").write_text(body + "def f(x):\n    return 0.0, x\n")
    env = dict(os.environ, PYTHONPATH=WORKTREE)
    for argv in (["run", "--problem", "bad.py:f", "--dim", "2", "--method", "gd"],
                 ["bench", "--problem", "bad.py:f", "--dim", "2", "--method", "gd"]):
        proc = subprocess.run([sys.executable, "-m", "numsmooth", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith("numsmooth: error: argument --problem: 'bad.py' ") and words in proc.stderr
        assert proc.stderr.count("\n") == 1


def test_problem_file_imports_its_neighbour(tmp_path, monkeypatch, capsys):
    sub = tmp_path / "project"
    sub.mkdir()
    (sub / "shapes.py").write_text("CENTER = 2.0\n")
    (sub / "myfile.py").write_text(textwrap.dedent('''
        import numpy as np
        from shapes import CENTER

        def f(x):
            r = x - CENTER
            return float(np.abs(r).sum() + 0.5 * r @ r), np.sign(r) + r
    '''))
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert main(["run", "--problem", "project/myfile.py:f", "--dim", "5", "--method", "hanso", "--json", "-",
                 "--quiet"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert sys.path == before  # the folder was on sys.path only while importing
    np.testing.assert_allclose(rec["x"], 2.0, atol=1e-6)


@pytest.mark.parametrize("var, value, words", [
    ("NUMSMOOTH_BLOCK_BUDGET_BYTES", "lots", "NUMSMOOTH_BLOCK_BUDGET_BYTES must be an integer; got 'lots'"),
    ("NUMSMOOTH_HULL_TOL", "-1", "NUMSMOOTH_HULL_TOL must be >= 0; got '-1'"),
])
def test_bad_environment_variable_is_one_line(tmp_path, var, value, words):
    env = dict(os.environ, PYTHONPATH=WORKTREE, **{var: value})
    proc = subprocess.run([sys.executable, "-m", "numsmooth", "problems"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("numsmooth: error: ") and words in proc.stderr
    assert proc.stderr.count("\n") == 1
    # the library still refuses the value at its first use
    code = f"import numsmooth\ntry:\n    numsmooth.config.get('hull_tol')\nexcept (TypeError, ValueError) as e:\n    print('refused', e)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.startswith("refused") and words in proc.stdout


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc (a directory no user may write)")
def test_output_folder_without_permission(capsys):
    # /proc/self refuses new files even to root: a real permission check without dropping privileges
    assert main(["run", "--problem", "maxq", "--method", "gd", "--json", "/proc/self/r.json"]) == 2
    err = capsys.readouterr().err
    assert err == "numsmooth: error: argument --json: no permission to create a file in '/proc/self'\n"
