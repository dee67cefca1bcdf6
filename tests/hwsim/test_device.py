"""The Device interface: validation, batching, counters, parameters, life cycle."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim import Device, DeviceInfo, NotSupportedError, ShapeError
from hwsim.device import DeviceWrapper
from hwsim.reference import ReferenceDevice


class Doubler(Device):
    def __init__(self, max_batch: int = 4) -> None:
        super().__init__()
        self.info = DeviceInfo(name="doubler", input_shape=(3,), output_shape=(3,), max_batch=max_batch)
        self.batches: list[int] = []

    def _measure(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(len(x))
        return 2 * x


def test_measure_splits_into_max_batch_chunks_and_counts_samples():
    dev = Doubler(max_batch=4)
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = dev.measure(x)
    np.testing.assert_array_equal(y, 2 * x)
    assert dev.batches == [4, 4, 2]
    assert dev.measurements == 10 and dev.calls == 3


@pytest.mark.parametrize("bad, fragment", [
    (np.zeros(3), "expected (batch, 3)"),
    (np.zeros((2, 4)), "expected (batch, 3)"),
    (np.array([["a", "b", "c"]]), "dtype"),
    (np.array([[0.0, np.nan, 1.0]]), "NaN"),
])
def test_bad_input_is_refused_with_a_specific_message(bad, fragment):
    dev = Doubler()
    with pytest.raises(ShapeError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        dev.measure(bad)
    assert dev.measurements == 0


def test_wrong_output_shape_from_an_implementation_is_caught():
    class Broken(Doubler):
        def _measure(self, x):
            return x[:, :2]

    with pytest.raises(ShapeError, match="returned shape"):
        Broken().measure(np.zeros((2, 3)))


def test_empty_batch_returns_empty_output():
    assert Doubler().measure(np.zeros((0, 3))).shape == (0, 3)


def test_params_are_checked_by_name_and_shape():
    dev = ReferenceDevice(n_in=4, n_out=5, seed=1)
    dev.set_params({"gain": np.full(5, 0.5)})
    np.testing.assert_array_equal(dev.get_params()["gain"], np.full(5, 0.5, dtype=np.float32))
    with pytest.raises(ShapeError, match="no parameter 'phase'"):
        dev.set_params({"phase": np.zeros(5)})
    with pytest.raises(ShapeError, match="expected \\(5,\\)"):
        dev.set_params({"gain": np.zeros(4)})
    with pytest.raises(NotSupportedError):
        Doubler().set_params({"gain": np.zeros(3)})


def test_reference_device_is_deterministic_and_uses_gain():
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16)).astype(np.float32)
    a, b = ReferenceDevice(seed=3), ReferenceDevice(seed=3)
    np.testing.assert_array_equal(a.measure(x), b.measure(x))
    assert not np.allclose(a.measure(x), ReferenceDevice(seed=4).measure(x))
    b.set_params({"gain": np.zeros(16)})
    np.testing.assert_array_equal(b.measure(x), np.zeros((8, 16), dtype=np.float32))


def test_closed_device_refuses_and_context_manager_closes():
    with Doubler() as dev:
        dev.measure(np.zeros((1, 3)))
    assert dev.closed
    with pytest.raises(NotSupportedError, match="closed"):
        dev.measure(np.zeros((1, 3)))


def test_wrapper_forwards_and_finds_root():
    inner = ReferenceDevice(seed=0)
    wrapped = DeviceWrapper(DeviceWrapper(inner))
    x = np.zeros((2, 16), dtype=np.float32)
    wrapped.measure(x)
    assert wrapped.root is inner and inner.measurements == 2 and wrapped.measurements == 2
    wrapped.set_params({"gain": np.ones(16)})
    wrapped.close()
    assert inner.closed


def test_info_round_trips_through_dict_and_hash_tracks_schema():
    info = ReferenceDevice(seed=0).info
    again = DeviceInfo.from_dict(info.to_dict())
    assert again == info and again.schema_hash() == info.schema_hash()
    other = ReferenceDevice(seed=0, adc_bits=10).info
    assert other.schema_hash() != info.schema_hash()
    # serial number and firmware are not part of the schema
    assert DeviceInfo.from_dict({**info.to_dict(), "serial_number": "X"}).schema_hash() == info.schema_hash()
    with pytest.raises(ValueError, match="unknown DeviceInfo fields"):
        DeviceInfo.from_dict({**info.to_dict(), "colour": "red"})
