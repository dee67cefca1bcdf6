"""Methods see the device only through numpy measurements; inference and training cost exactly the
measurements they should; the data sets split deterministically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwsim.device import Device, DeviceWrapper
from hwsim.errors import ConfigError
from hwsim.reference import ReferenceDevice
from physical.blocks import PhysicalLayer
from physical.datasets import load_dataset
from physical.methods import DIGITAL_ONLY, method_class
from physical.trainer import make_config


class SpyDevice(DeviceWrapper):
    """Records the type of everything handed to ``measure`` before any conversion."""

    def __init__(self, inner: Device) -> None:
        super().__init__(inner)
        self.seen: list[type] = []

    def measure(self, x):  # type: ignore[no-untyped-def]
        self.seen.append(type(x))
        return super().measure(x)


DEVICE_METHODS = ["mfff", "local", "sf", "pat", "insilico", "rf"]
MODEL_FREE_METHODS = ["mfff", "local", "sf"]


def build(method: str, n_in: int = 20, n_out: int = 20, **kw):  # type: ignore[no-untyped-def]
    cfg = make_config("vowels7", system="reference", method=method, twin_samples=300, twin_epochs=5, **kw)
    data = load_dataset("vowels7", 0)
    dev = SpyDevice(ReferenceDevice(n_in=n_in, n_out=n_out, adc_bits=None, dac_bits=None))
    uses = method not in DIGITAL_ONLY
    phys = PhysicalLayer(dev, cfg.input_map, cfg.passes) if uses else None
    m = method_class(method)(cfg, data.n_features, data.n_classes, phys)
    m.setup(data.x_train, data.y_train, np.random.default_rng(0))
    return m, dev, data


def first_block_input(m, data, k=8):  # type: ignore[no-untyped-def]
    """What the first block of ``m`` sees for ``k`` training samples."""
    if m.label_slots:
        from physical.overlay import overlay

        return overlay(data.x_train[:k], data.y_train[:k], m.n_slots, pixels=m.label_pixels)
    return data.x_train[:k]


@pytest.mark.parametrize("method", DEVICE_METHODS)
def test_the_device_only_ever_gets_numpy(method):
    m, dev, data = build(method)
    m.train_batch(data.x_train[:16], data.y_train[:16], np.random.default_rng(1))
    m.predict(data.x_test[:5])
    assert dev.seen and all(t is np.ndarray for t in dev.seen)


@pytest.mark.parametrize("method", MODEL_FREE_METHODS)
def test_model_free_gradient_never_goes_through_the_device(method):
    """d loss / d h of a block equals the gradient with P(h) frozen as a constant: nothing flows into P."""
    m, dev, data = build(method)
    block = m.blocks[0]
    h = torch.from_numpy(first_block_input(m, data)).requires_grad_(True)
    p = m.phys.measure(h)
    assert not p.requires_grad
    out = block(h, p)
    out.pow(2).sum().backward()
    w_direct = block.linear.weight[:, block.phys_features:]
    expected = (2 * out.detach()) @ w_direct.detach()
    torch.testing.assert_close(h.grad, expected)


@pytest.mark.parametrize("method", MODEL_FREE_METHODS)
def test_model_free_methods_never_use_a_model_of_the_device(method, monkeypatch):
    """Training and prediction of the model-free methods never ask for a differentiable model of P."""
    def no_model(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a model-free method used a model of the device")

    monkeypatch.setattr(PhysicalLayer, "through_twin", no_model)
    m, dev, data = build(method, inner_steps=2)
    m.train_batch(data.x_train[:32], data.y_train[:32], np.random.default_rng(1))
    m.predict(data.x_test[:4])
    assert not hasattr(m, "twin") and dev.measurements > 0


def test_pat_gradient_comes_from_the_twin_and_forward_values_from_the_device():
    m, dev, data = build("pat")
    x = data.x_train[:8]
    logits_dev = m.logits(x, "device").detach()
    before = dev.measurements
    logits_pat = m.logits(x, "pat")
    assert dev.measurements - before == 8 * len(m.blocks)  # the forward pass is measured
    torch.testing.assert_close(logits_pat.detach(), logits_dev)  # with the device's values
    logits_pat.sum().backward()
    g_pat = m.blocks[0].linear.weight.grad.clone()
    m.opt.zero_grad(set_to_none=True)
    # the same backward through another twin: the gradient into block 0 changes, so it came from the twin
    twin = m.twin
    m.twin = lambda drive: twin(drive) ** 2
    logits_other = m.logits(x, "pat")
    torch.testing.assert_close(logits_other.detach(), logits_dev)  # forward values still the device's
    logits_other.sum().backward()
    assert not torch.allclose(m.blocks[0].linear.weight.grad, g_pat)


def test_mfff_inference_costs_labels_times_layers_per_sample():
    m, dev, data = build("mfff", layers=3)
    before = dev.measurements
    m.predict(data.x_test[:10])
    assert dev.measurements - before == 10 * 7 * 3 == 10 * m.measurements_per_prediction()


# device rows per prediction as docs/physical.md states them, with chunks c(d) = ceil(d / n_in) of a block input
# of d values: one pass (local, sf, pat, insilico) passes x (c(d_0) + (layers-1) c(width)); mfff: classes x
# that; rf: passes x c(features)
@pytest.mark.parametrize("method,layers,passes", [("local", 2, 1), ("local", 3, 2), ("sf", 2, 3), ("pat", 2, 2),
                                                  ("insilico", 2, 1), ("rf", 2, 2), ("mfff", 2, 2)])
def test_rows_per_prediction_match_the_docs(method, layers, passes):
    m, dev, data = build(method, n_in=8, n_out=5, width=12, layers=layers, passes=passes)
    chunks = -(-m.in_features // 8)  # first block input: 12 features (+ 8 label slots for mfff/pat/insilico)
    hidden = -(-12 // 8)
    per_pass = passes * (chunks + hidden * (layers - 1)) if method != "rf" else passes * chunks
    expected = per_pass * (7 if method == "mfff" else 1)
    assert m.measurements_per_prediction() == expected
    before = dev.measurements
    m.predict(data.x_test[:4])
    assert dev.measurements - before == 4 * expected


@pytest.mark.parametrize("method", ["local", "sf"])
def test_local_training_measures_once_per_block_and_batch(method):
    m, dev, data = build(method, inner_steps=3, passes=2)
    before = dev.measurements
    m.train_batch(data.x_train[:16], data.y_train[:16], np.random.default_rng(0))
    assert dev.measurements - before == 16 * 2 * 2  # 2 blocks, 2 passes, one chunk each, 3 inner steps reuse it


def test_inference_with_chunks_counts_every_device_row():
    m, dev, data = build("mfff", n_in=8, n_out=5, width=12)  # 20 inputs -> 3 chunks, hidden 12 -> 2 chunks
    assert m.phys.out_features(20) == 15
    before = dev.measurements
    m.predict(data.x_test[:4])
    assert dev.measurements - before == 4 * 7 * (3 + 2)


def test_training_costs_and_insilico_does_not_touch_the_device():
    m, dev, data = build("mfff")
    before = dev.measurements
    m.train_batch(data.x_train[:16], data.y_train[:16], np.random.default_rng(0))
    assert dev.measurements - before == 2 * 16 * 2  # positive and negative, once per layer
    m, dev, data = build("pat")
    before = dev.measurements
    m.train_batch(data.x_train[:16], data.y_train[:16], np.random.default_rng(0))
    assert dev.measurements - before == 16 * 2
    m, dev, data = build("insilico")
    assert dev.measurements == 300  # only the twin's data
    m.train_batch(data.x_train[:16], data.y_train[:16], np.random.default_rng(0))
    assert dev.measurements == 300
    assert m.measurements_per_prediction() == 2


def test_backprop_without_the_physical_layer_is_purely_digital():
    cfg = make_config("vowels7", method="pat", physical=False)
    data = load_dataset("vowels7", 0)
    m = method_class("pat")(cfg, data.n_features, data.n_classes, None)
    assert m.setup(data.x_train, data.y_train, np.random.default_rng(0)) == {}
    m.train_batch(data.x_train[:8], data.y_train[:8], np.random.default_rng(0))
    assert m.measurements_per_prediction() == 0
    assert all(b.phys_features == 0 for b in m.blocks)


def test_mfff_learns_vowels_above_chance():
    m, dev, data = build("mfff")
    rng = np.random.default_rng(0)
    for _ in range(40):
        m.train_batch(data.x_train, data.y_train, rng)
    assert np.mean(m.predict(data.x_test) == data.y_test) > 0.6  # chance is 1/7


def test_datasets_split_deterministically_by_seed():
    a, b, c = load_dataset("vowels7", 3), load_dataset("vowels7", 3), load_dataset("vowels7", 4)
    assert (a.x_train.shape, a.x_test.shape, a.n_classes) == ((206, 12), (52, 12), 7)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train)
    np.testing.assert_allclose(a.x_train.mean(0), 0, atol=1e-5)  # z-scored with training statistics
    assert load_dataset("vowels7", 3, scaling="phyll").x_train.min() == 0.0  # PhyLL: global minimum subtracted
    v12 = load_dataset("vowels12", 0)
    assert v12.n_classes == 12 and len(v12.y_train) + len(v12.y_test) > 1500
    d = load_dataset("digits", 0, max_train=100, max_test=20)
    assert d.x_train.shape == (100, 64) and d.x_test.shape == (20, 64)
    with pytest.raises(ConfigError, match="mnist1d"):
        load_dataset("mnist", 0)


def test_mnist1d_comes_from_the_generator_defaults():
    d = load_dataset("mnist1d", 0)
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40) and d.n_classes == 10
    np.testing.assert_array_equal(d.y_train[:10], [2, 6, 4, 5, 6, 6, 6, 0, 3, 1])  # seed 42 of mnist1d


def test_too_few_overlay_slots_is_a_config_error():
    with pytest.raises(ConfigError, match="overlay_slots"):
        build("mfff", overlay_slots=5)
