"""The public recipes reach the documented results and stop by themselves."""

import numpy as np
import pytest

import numsmooth as ns
from numsmooth import recipes

MAXQUAD = ns.problems.get("maxquad")
RASTRIGIN = ns.problems.get("rastrigin")


@pytest.mark.parametrize("seed", [0, 3])
def test_gradient_sampling_solves_maxquad_and_stops(seed):
    res = ns.minimize(MAXQUAD.fun, MAXQUAD.x0(), *recipes.gradient_sampling(10, seed=seed), maxiter=5000)
    assert res.status == 4 and res.success
    assert "sigma_min" in res.message
    assert 0 <= res.fun - MAXQUAD.f_star <= 1e-6
    assert res.nfev <= 20_000


def test_gradient_sampling_chain_shape():
    gs, ls = recipes.gradient_sampling(4, sigma=0.5, seed=1)
    assert isinstance(gs, ns.GradientSampling) and isinstance(ls, ns.Backtracking)
    assert gs.sampler.n == 8 and gs.sampler.aggregate == "min-norm-hull"
    assert gs.sampler.distribution == "ball" and not gs.fixed and gs.sigma == 0.5


def test_gaussian_homotopy_takes_rastrigin_to_its_global_minimum():
    res = ns.minimize(RASTRIGIN.fun, np.full(10, 3.3), *recipes.gaussian_homotopy(seed=0), maxiter=150)
    assert res.fun < 1e-6
    gd = ns.minimize(RASTRIGIN.fun, np.full(10, 3.3), ns.LR(1e-3), maxiter=300)
    assert gd.fun > 10  # plain descent stops in a local minimum


def test_gaussian_homotopy_stages_and_floor():
    (gs,) = recipes.gaussian_homotopy(sigma=1.0, decay=0.5, stage=2, n=8, sigma_min=0.2, seed=0)
    res = ns.minimize(RASTRIGIN.fun, np.full(2, 3.3), gs, maxiter=100)
    # stages of 2 steps at sigma 1, 1/2, 1/4; 1/8 < 0.2 ends the run
    assert res.status == 4 and res.nit == 6 and gs.sigma == 0.125


@pytest.mark.parametrize("kwargs, match", [
    (dict(d=0), "d must be >= 1"), (dict(d=3, decay=1.5), "decay"), (dict(d=3, sigma=0.0), "sigma"),
    (dict(d=3, n=1), "n must be >= 2"), (dict(d=3, sigma_min=-1.0), "sigma_min"),
])
def test_gradient_sampling_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        recipes.gradient_sampling(**kwargs)
