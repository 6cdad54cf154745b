"""Ask/tell: the caller owns the loop; the run is bit-identical to ``step(fun)``."""

import pickle

import numpy as np
import pytest

import numsmooth as ns

ROSEN = ns.problems.get("rosenbrock")


def rosen_point(x):
    g = np.empty_like(x)
    return ROSEN.fun(x, g), g


def evaluate_rows(X):
    F = np.empty(X.shape[0])
    G = np.empty_like(X)
    for i, x in enumerate(X):
        F[i], G[i] = rosen_point(x.copy())
    return F, G


CHAINS = {
    "lr": lambda: [ns.LR(1e-3)],
    "momentum-backtracking": lambda: [ns.Momentum(0.5), ns.Backtracking()],
    "gs-mean-termination": lambda: [ns.GradientSampling([ns.Adam(0.05)], sigma=0.3, n=6, seed=1,
                                                        termination=ns.TerminateAfterNSteps(2), decay=0.5)],
    "gs-hull-recipe": lambda: ns.recipes.gradient_sampling(5, seed=2),
    "gs-strategy-no-x0": lambda: [ns.GradientSampling([ns.LR(1e-3)], sigma=0.2, n=5, include_x0=False, seed=3,
                                                      sigma_strategy="value", fixed=False)],
    "gs-none-ls-laplacian": lambda: [ns.GradientSampling(None, sigma=0.1, n=4, seed=4),
                                     ns.LaplacianSmoothing(sigma=1.0), ns.Backtracking()],
    "lbfgs-weakwolfe": lambda: [ns.LBFGS(), ns.WeakWolfe()],
    "bfgs-weakwolfe": lambda: [ns.BFGS(), ns.WeakWolfe()],
}


def drive(opt, steps):
    losses, asks = [], []
    for _ in range(steps):
        done = False
        while not done:
            X = opt.ask()
            asks.append(X.shape[0])
            done = opt.tell(*evaluate_rows(X))
        losses.append(opt.last_loss)
    return losses, asks


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_ask_tell_is_bit_identical_to_step(name):
    x0 = ROSEN.x0(5)
    ref = ns.Optimizer(x0, *CHAINS[name]())
    ref_losses = [ref.step(rosen_point) for _ in range(8)]
    opt = ns.Optimizer(x0, *CHAINS[name]())
    losses, asks = drive(opt, 8)
    assert opt.x.tobytes() == ref.x.tobytes()
    assert np.array_equal(losses, ref_losses, equal_nan=True)
    assert opt.num_evaluations == ref.num_evaluations == sum(asks)
    assert pickle.dumps(opt.state_dict()) == pickle.dumps(ref.state_dict())


def test_asking_twice_gives_the_same_points():
    opt = ns.Optimizer(np.ones(3), ns.GradientSampling([ns.LR(0.1)], n=4, seed=0))
    X1 = opt.ask()
    X2 = opt.ask()
    assert np.array_equal(X1, X2) and X1 is not X2


def test_tell_without_ask():
    opt = ns.Optimizer(np.ones(3), ns.LR(0.1))
    with pytest.raises(RuntimeError, match="without a pending ask"):
        opt.tell(np.zeros(1), np.zeros((1, 3)))


@pytest.mark.parametrize("F, G, match", [
    (np.zeros(2), np.zeros((1, 3)), "F of shape"),
    (np.zeros(1), np.zeros((1, 2)), "G of shape"),
    (np.array(["a"]), np.zeros((1, 3)), "F of shape"),
])
def test_bad_tell_is_the_batched_oracle_error_and_changes_nothing(F, G, match):
    opt = ns.Optimizer(np.ones(3), ns.Momentum(0.5), ns.LR(0.1))
    drive(opt, 2)
    before = opt.state_dict()
    X = opt.ask()
    with pytest.raises(ns.OracleError, match=match):
        opt.tell(F, G)
    after = opt.state_dict()
    # as under step(): the failed evaluation is counted, nothing else changes
    assert after.pop("num_evaluations") == before.pop("num_evaluations") + 1
    assert pickle.dumps(after) == pickle.dumps(before)
    assert np.array_equal(opt.ask(), X)  # the step starts again at the same point


def test_nan_values_are_data_as_under_step():
    def nan_oracle(x):
        return float("nan"), np.full_like(x, np.nan)

    ref = ns.Optimizer(np.ones(2), ns.GradientSampling([ns.LR(0.1)], n=3, seed=0), on_refused="ignore")
    ref.step(nan_oracle)
    opt = ns.Optimizer(np.ones(2), ns.GradientSampling([ns.LR(0.1)], n=3, seed=0), on_refused="ignore")
    done = False
    while not done:
        X = opt.ask()
        done = opt.tell(np.full(len(X), np.nan), np.full(X.shape, np.nan))
    assert opt.last_step_finite is ref.last_step_finite is False
    assert np.array_equal(opt.x, ref.x)


def test_saving_with_a_pending_ask_saves_the_state_before_it():
    opt = ns.Optimizer(ROSEN.x0(4), ns.GradientSampling([ns.LR(1e-3)], n=5, seed=0))
    drive(opt, 2)
    X = opt.ask()
    saved = opt.state_dict()
    pickled = pickle.loads(pickle.dumps(opt))  # the state from before the pending step
    assert pickle.dumps(pickled.state_dict()) == pickle.dumps(saved)
    assert np.array_equal(pickled.ask(), X)
    other = ns.Optimizer(ROSEN.x0(4), ns.GradientSampling([ns.LR(1e-3)], n=5, seed=0))
    other.load_state_dict(saved)
    assert np.array_equal(other.ask(), X)  # asks for the same points again
    opt.discard_pending()  # nothing was told: not even the evaluation count changes
    assert pickle.dumps(opt.state_dict()) == pickle.dumps(saved)
    # all three continue alike
    for o in (opt, pickled, other):
        o.step(rosen_point)
    assert opt.x.tobytes() == pickled.x.tobytes() == other.x.tobytes()
    assert pickle.dumps(opt.state_dict()) == pickle.dumps(pickled.state_dict()) == pickle.dumps(other.state_dict())


def test_load_discards_a_pending_step():
    opt = ns.Optimizer(np.ones(3), ns.LR(0.1))
    state = opt.state_dict()
    opt.ask()
    opt.load_state_dict(state)
    with pytest.raises(RuntimeError, match="without a pending ask"):
        opt.tell(np.zeros(1), np.zeros((1, 3)))


def test_step_that_needs_no_points():
    gs = ns.GradientSampling([ns.LR(0.1)], sigma=0.01, n=3, sigma_min=0.1)
    opt = ns.Optimizer(np.ones(2), gs)
    X = opt.ask()
    assert X.shape == (0, 2)
    assert opt.tell(np.zeros(0), np.zeros((0, 2))) is True
    assert opt.stop_message is not None and "sigma_min" in opt.stop_message


# -- threads ---------------------------------------------------------------------------------------
import gc  # noqa: E402
import threading  # noqa: E402


def helper_threads():
    return [t for t in threading.enumerate() if t.name == "numsmooth-ask-tell"]


def test_a_dropped_optimizer_ends_its_pending_step_thread():
    gc.collect()
    assert helper_threads() == []
    opt = ns.Optimizer(np.ones(3), ns.GradientSampling([ns.LR(0.1)], n=4, seed=0))
    opt.step(lambda x: (float(x @ x), 2 * x))  # the optimizer refers to itself (its counting oracle)
    opt.ask()
    (thread,) = helper_threads()
    del opt
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_stepping_ends_a_pending_ask_and_steps_from_before_it():
    quad = lambda x: (float(x @ x), 2 * x)  # noqa: E731
    ref = ns.Optimizer(np.ones(3), ns.Momentum(0.5), ns.LR(0.1))
    ref.step(quad)
    opt = ns.Optimizer(np.ones(3), ns.Momentum(0.5), ns.LR(0.1))
    opt.ask()
    (thread,) = helper_threads()
    opt.step(quad)
    assert not thread.is_alive() and helper_threads() == []
    assert pickle.dumps(opt.state_dict()) == pickle.dumps(ref.state_dict())


@pytest.mark.parametrize("trial", range(10))
def test_simultaneous_asks_leave_one_thread_at_most(trial):
    opt = ns.Optimizer(np.ones(3), ns.GradientSampling([ns.LR(0.1)], n=4, seed=trial))
    barrier = threading.Barrier(2)
    results = []

    def ask():
        barrier.wait()
        try:
            results.append(opt.ask())
        except RuntimeError as exc:
            results.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    points = [r for r in results if isinstance(r, np.ndarray)]
    errors = [r for r in results if not isinstance(r, np.ndarray)]
    assert points and all(np.array_equal(p, points[0]) for p in points)
    assert all("busy with a step in another thread" in str(e) for e in errors)
    assert len(helper_threads()) == 1
    opt.discard_pending()
    assert helper_threads() == []


def test_tell_with_per_parameter_gradients_says_the_expected_shape():
    opt = ns.Optimizer([np.ones(2), np.ones(3)], ns.LR(0.1))
    X = opt.ask()
    F = (X * X).sum(axis=1)
    with pytest.raises(ns.OracleError, match=r"^tell\(\) got G as a list of 2 arrays \(per-parameter gradients\?\); "
                                             r"expected an array of shape \(1, 5\)"):
        opt.tell(F, [2 * X[:, :2], 2 * X[:, 2:]])
    with pytest.raises(ns.OracleError, match=r"^tell\(\) got G as a ragged list; expected an array of shape "
                                             r"\(1, 5\) of floats.*with 2 parameters, row i is the concatenation"):
        opt.tell(F, [[2 * X[0, :2], 2 * X[0, 2:]]])
    assert opt.tell(F, 2 * X)  # the step was still waiting for its values
    assert np.allclose(opt.x, 0.8) and opt.num_evaluations == 1
