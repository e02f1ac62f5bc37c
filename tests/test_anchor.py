"""The outside anchor (lampinn.anchor): the book's tasks stated for fastlsq and solved by it, as a method of the registry.

The tests solve with 3 x 100 features instead of fastlsq's 3 x 500 (the benchmark's), so that they take seconds:
they check that the problems are stated right (a wrong row leaves a large error), not fastlsq's defaults."""
import importlib.util
import sys

import numpy as np
import pytest
import torch

import lampinn
from lampinn import anchor, methods
from lampinn.protocol import Protocol

# not pytest.importorskip: importing fastlsq sets torch's default dtype to float64 for every test after this one
pytestmark = pytest.mark.skipif(importlib.util.find_spec("fastlsq") is None, reason='pip install "lampinn[anchor]"')


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(anchor, "HIDDEN", 100)


@pytest.mark.parametrize("name, scale, bound", [("helmholtz", 3.0, 1e-12), ("elasticity", 0.5, 1e-8)])
def test_fastlsq_solves_a_linear_task(small, name, scale, bound):
    family = lampinn.get_family(name)
    theta = family.train_tasks()[13]
    before = torch.get_default_dtype()
    model = anchor.fit(family, theta, scale=scale, points=family.sample(500, 100, 0))
    assert torch.get_default_dtype() == before  # fastlsq's import sets float64; the package keeps its own default
    error = lampinn.evaluate(model, family, theta)
    assert error["mse"] < bound, error  # measured: 8e-18 (Helmholtz), 6e-10 (elasticity)
    zero = float(np.mean(family.metric_values(family.reference(theta).values) ** 2))
    assert error["mse"] < 1e-6 * zero  # far below predicting nothing
    out = model(torch.as_tensor(family.grid().points[:7]))
    assert out.shape == (7, family.out_dim) and out.dtype == torch.float64
    assert model.seconds > 0 and model.cpu_seconds > 0 and model.scale == scale


def test_fastlsq_states_burgers_in_space_time(small):
    family, theta = lampinn.get_family("burgers"), (0.1, 0.5, 0.0)  # a smooth task (large nu): Newton's rows are right
    model = anchor.fit(family, theta, scale=3.0, points=family.sample(600, 100, 0))
    assert lampinn.evaluate(model, family, theta)["mse"] < 1e-6  # measured: 7e-8
    assert model.newton > 1  # Newton's iterations, from the heat equation's solution


def test_the_registry_runs_it(small, monkeypatch):
    monkeypatch.setitem(anchor.SCALES, "helmholtz", 3.0)  # the search itself is the benchmark's, not a test's
    family = lampinn.get_family("helmholtz")
    method = methods.get_method("fastlsq")
    assert isinstance(method, methods.Anchor) and not method.prepares
    result = methods.run("fastlsq", family, family.unseen_tasks()[:1], Protocol(n_interior=400, n_boundary=100, seed=1))
    assert result.method == "fastlsq" and len(result.models) == 1 and result.metrics[0]["mse"] < 1e-10
    assert result.seconds["adapt_seconds"] > 0 and result.seconds["adapt_cpu_seconds"] > 0
    assert result.seconds["meta_seconds"] == 0 and result.models[0].scale == 3.0


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastlsq", None)  # import fastlsq now raises ImportError
    family = lampinn.get_family("helmholtz")
    before = torch.get_default_dtype()
    with pytest.raises(ValueError, match=r'^fastlsq is not installed; pip install "lampinn\[anchor\]"'):
        anchor.fit(family, family.train_tasks()[0], scale=3.0)
    assert torch.get_default_dtype() == before


def test_bad_input_is_refused():
    fam = lampinn.get_family("helmholtz")
    with pytest.raises(ValueError, match="^scale = -1.0 is not a bandwidth"):
        anchor.fit(fam, fam.train_tasks()[0], scale=-1.0)
    with pytest.raises(ValueError, match="parameter k = nan is not finite"):
        anchor.problem(fam, (1.0, 1.0, float("nan")))
