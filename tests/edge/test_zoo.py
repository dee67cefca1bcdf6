"""Reference models and their digits training: the split, the architectures, the cache."""

from __future__ import annotations

import pytest
import torch

from edge import zoo
from edge.digits import digits_split
from edge.dynamic import MultiExitNet
from hwsim.errors import ConfigError


def test_digits_split_is_stratified_standardised_and_seeded():
    a, b, c = digits_split(0), digits_split(0), digits_split(1)
    assert a.x_train.shape[1:] == (1, 8, 8) and a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797
    assert len(a.x_test) == 540 and len(a.x_val) > 150
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)
    assert torch.bincount(a.y_test).min() >= 50  # every class is in the test split
    assert a.x_train.mean(0).abs().max() < 1e-4  # standardised on the training split
    assert a.x_train.std(0).max() < 1.01
    with pytest.raises(ConfigError):
        digits_split(0, test_fraction=1.5)


@pytest.mark.parametrize("name", ["mlp", "cnn", "ee_cnn"])
def test_architectures_take_digit_images(name):
    for quick in (True, False):
        model = zoo.build(zoo.zoo_spec(name, quick=quick)).eval()
        assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    if name == "ee_cnn":
        assert isinstance(model, MultiExitNet) and len(model.forward_all(torch.zeros(2, 1, 8, 8))) == 3


def test_cnn_is_wide_and_ee_cnn_puts_its_work_late():
    from edge.compress.stats import count_macs

    x = torch.zeros(1, 1, 8, 8)
    cnn = zoo.build(zoo.zoo_spec("cnn"))
    assert count_macs(cnn, x) > 5e6  # wide enough for channel pruning to pay off after compilation
    ee = zoo.build(zoo.zoo_spec("ee_cnn")).eval()
    costs = [count_macs(ee.stage_module(k), h) for k, h in enumerate(_stage_inputs(ee, x))]
    assert costs[2] > 5 * (costs[0] + costs[1])


def _stage_inputs(net, x):
    out = [x]
    with torch.no_grad():
        for stage in net.stages[:-1]:
            x = stage(x)
            out.append(x)
    return out


def test_training_learns_and_is_cached(private_cache, monkeypatch):
    data = digits_split(0)
    spec = zoo.zoo_spec("mlp", quick=True, epochs=3)
    first = zoo.trained(spec, data)
    assert first.metrics["test_acc"] > 0.6  # chance is 0.1
    assert first.path.exists() and str(private_cache) in str(first.path)

    def no_training(*_a, **_k):
        raise AssertionError("a cached model was trained again")

    monkeypatch.setattr(zoo, "fit", no_training)
    again = zoo.trained(spec, data)
    assert again.metrics == first.metrics
    for p, q in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(p, q)
    other = zoo.zoo_spec("mlp", quick=True, epochs=4)
    assert zoo.cache_path("mlp", other.key()) != first.path
    with pytest.raises(AssertionError, match="trained again"):
        zoo.trained(other, data)


def test_early_exit_training_reports_every_exit(private_cache):
    data = digits_split(0)
    tr = zoo.trained(zoo.zoo_spec("ee_cnn", quick=True, epochs=1), data)
    accs = tr.metrics["exit_test_acc"]
    assert len(accs) == 3 and min(accs) > 0.2  # chance is 0.1
    assert abs(accs[-1] - tr.metrics["test_acc"]) < 1e-6


def test_bad_names_and_mismatched_split():
    with pytest.raises(ConfigError, match="unknown reference model"):
        zoo.zoo_spec("resnet")
    with pytest.raises(ConfigError, match="seed"):
        zoo.trained(zoo.zoo_spec("mlp", quick=True, seed=1), digits_split(0))
