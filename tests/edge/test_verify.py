"""Verification refuses a build that disagrees with the source model (acceptance 7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edge
from edge.errors import VerificationError
from edge.verify import compare
from tests.edge import edge_models as em


def test_negative_indexing_is_refused_with_the_error_magnitude(tmp_path):
    model = em.LastStep().eval()
    with pytest.raises(VerificationError) as err:
        edge.compile_model(model, (torch.randn(2, 5, 4),))
    exc = err.value
    assert exc.max_abs_error > 1e-3  # the frontend reads the wrong time step
    assert f"error {exc.max_abs_error:.4g} at" in str(exc)
    assert "output 0 at index" in str(exc) and "atol=0.0001" in str(exc)
    assert "negative indexing" in str(exc)  # points at the cause


def test_the_same_model_indexed_from_the_front_compiles():
    class FrontIndexed(em.LastStep):
        def forward(self, x):
            return self.fc(x[:, x.shape[1] - 1])

    model = FrontIndexed().eval()
    compiled = edge.compile_model(model, (torch.randn(2, 5, 4),))
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32")
    np.testing.assert_allclose(compiled(x), em.reference(model, x), atol=1e-4)


def test_no_verify_is_recorded():
    compiled = edge.compile_model(em.LastStep().eval(), (torch.randn(2, 5, 4),), verify=False)
    assert compiled.info["verification"]["passed"] is None


def test_cross_target_is_verified_by_a_host_proxy():
    compiled = edge.compile_model(em.mlp(), (torch.randn(1, 16),), target="rpi4")
    ver = compiled.info["verification"]
    assert ver["passed"] and ver["ran_on"] == "host-proxy" and "proxy" in ver["note"]


def test_compare_reports_worst_element():
    got = [np.array([[0.0, 1.0], [2.0, 3.5]])]
    want = [np.array([[0.0, 1.0], [2.0, 3.0]])]
    res = compare(got, want, atol=1e-4, rtol=1e-4)
    assert not res["ok"] and res["index"] == (1, 1) and res["max_abs_error"] == pytest.approx(0.5)
    assert compare(want, want, 1e-4, 1e-4)["ok"]
    assert not compare([np.zeros(3)], [np.zeros(4)], 1e-4, 1e-4)["ok"]
    assert not compare([np.array([np.nan])], [np.array([1.0])], 1e-4, 1e-4)["ok"]
