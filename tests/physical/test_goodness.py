"""Goodness functions, the forward-forward loss (gradient checked numerically) and the label overlay."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hwsim.errors import ConfigError
from physical.goodness import cosine_goodness, ff_loss, goodness_fn, pass_on, sumsq_goodness, unit_vectors
from physical.overlay import overlay, wrong_labels


@pytest.mark.parametrize("name", ["cosine", "sumsq"])
def test_loss_gradient_matches_finite_differences(name):
    """d loss / d (W, b) of one block, analytic (autograd) vs central differences (float64)."""
    g = torch.Generator().manual_seed(0)
    z_pos = torch.rand(6, 5, generator=g, dtype=torch.float64) + 0.1
    z_neg = torch.rand(6, 5, generator=g, dtype=torch.float64) + 0.1
    xi = unit_vectors(1, 4, g)[0].double()
    w = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    good = goodness_fn(name)

    def loss(w, b):
        return ff_loss(good(z_pos @ w.T + b, xi), good(z_neg @ w.T + b, xi), alpha=4.0)

    assert torch.autograd.gradcheck(loss, (w, b), eps=1e-6, atol=1e-6)
    # and by hand, one coordinate, so the check does not rest on gradcheck alone
    lw = loss(w, b)
    lw.backward()
    h = 1e-6
    with torch.no_grad():
        wp, wm = w.clone(), w.clone()
        wp[1, 2] += h
        wm[1, 2] -= h
        numeric = (loss(wp, b) - loss(wm, b)) / (2 * h)
    assert float(w.grad[1, 2]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-8)


def test_cosine_goodness_reads_magnitudes_only_up_to_scale():
    xi = unit_vectors(1, 8, torch.Generator().manual_seed(1))[0]
    y = torch.randn(5, 8)
    g = cosine_goodness(y, xi)
    assert torch.allclose(g, cosine_goodness(-3.0 * y, xi), atol=1e-6)  # |y| and scale invariant
    assert torch.all(g.abs() <= 1 + 1e-6)
    assert torch.allclose(cosine_goodness(xi.abs()[None], xi), torch.tensor([float(xi.abs() @ xi / xi.abs().norm())]))


def test_sumsq_goodness_and_its_normalised_pass_on():
    y = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.allclose(sumsq_goodness(y), torch.tensor([12.5, 2.0]))
    out = pass_on(y, "sumsq")
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)
    assert pass_on(y, "cosine") is y


def test_loss_values():
    same = torch.tensor([0.3, 0.7])
    assert float(ff_loss(same, same, 4.0)) == pytest.approx(math.log(2))
    assert float(ff_loss(torch.tensor([0.9]), torch.tensor([0.1]), 4.0)) < float(ff_loss(same, same, 4.0))


def test_unknown_goodness_is_a_config_error():
    with pytest.raises(ConfigError, match="cosine"):
        goodness_fn("l1")


def test_overlay_per_sample_does_not_depend_on_the_batch():
    x = np.array([[1.0, -2.0, 0.5], [10.0, 0.0, 3.0]], dtype=np.float32)
    both = overlay(x, np.array([2, 0]), 4, "sample")
    alone = overlay(x[:1], np.array([2]), 4, "sample")
    assert both.shape == (2, 7)
    np.testing.assert_array_equal(both[0], alone[0])
    np.testing.assert_array_equal(both[0, :4], [0, 0, 2.0, 0])  # max |x| of that sample
    np.testing.assert_array_equal(both[1, :4], [10.0, 0, 0, 0])
    np.testing.assert_array_equal(both[:, 4:], x)


def test_overlay_batch_max_is_the_reference_behaviour():
    x = np.array([[1.0, -2.0], [10.0, 0.0]], dtype=np.float32)
    out = overlay(x, 1, 3, "batch")  # one label for the whole batch, value = largest |x| in the batch
    np.testing.assert_array_equal(out[:, :3], [[0, 10.0, 0], [0, 10.0, 0]])
    # the same sample gets another overlay in another batch: the dependence the per-sample mode removes
    assert overlay(x[:1], 1, 3, "batch")[0, 1] == 2.0


def test_overlay_rejects_labels_that_do_not_fit():
    with pytest.raises(ConfigError, match="slots"):
        overlay(np.zeros((1, 2)), 5, 3)
    with pytest.raises(ConfigError, match="overlay mode"):
        overlay(np.zeros((1, 2)), 0, 3, "max")


def test_wrong_labels_are_wrong_and_uniform():
    rng = np.random.default_rng(0)
    y = np.full(6000, 3)
    neg = wrong_labels(y, 7, rng)
    assert not np.any(neg == y)
    counts = np.bincount(neg, minlength=7)
    assert counts[3] == 0
    assert np.all(np.abs(counts[np.arange(7) != 3] - 1000) < 150)
