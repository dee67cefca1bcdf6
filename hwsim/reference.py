"""A trivial reference device: a fixed random mixing matrix followed by an elementwise tanh."""

from __future__ import annotations

import numpy as np

from hwsim.device import Device, DeviceInfo


class ReferenceDevice(Device):
    """``y = tanh(gain * x @ W)`` with ``W`` drawn once from ``seed``; ``gain`` (per output) is settable.

    It exists so the hardware boundary (protocol, server, non-idealities) can be tested without any
    physical model.
    """

    def __init__(self, n_in: int = 16, n_out: int = 16, seed: int = 0, adc_bits: int | None = 12,
                 dac_bits: int | None = 12, max_batch: int = 4096) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        self.gain = np.ones(n_out, dtype=np.float32)
        self.info = DeviceInfo(
            name="reference", input_shape=(n_in,), output_shape=(n_out,),
            input_range=(-1.0, 1.0), output_range=(-1.0, 1.0), dac_bits=dac_bits, adc_bits=adc_bits,
            max_batch=max_batch, serial_number=f"REF-{seed:04d}", params={"gain": (n_out,)},
            limits={"max_abs_input": 1.0}, description="tanh(gain * x @ W), W fixed random")

    def _measure(self, x: np.ndarray) -> np.ndarray:
        # float64 inside, so an independent implementation (the C firmware) agrees to the last bit
        # after float32 rounding and ADC quantisation.
        mixed = x.astype(np.float64) @ self.weight.astype(np.float64)
        return np.tanh(self.gain.astype(np.float64) * mixed).astype(np.float32)

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        if "gain" in params:
            self.gain = params["gain"]

    def _get_params(self) -> dict[str, np.ndarray]:
        return {"gain": self.gain}
