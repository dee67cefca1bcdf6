"""DAC on the input and ADC on the output: clip at the declared full scale, round to the code grid."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hwsim.device import Device
from hwsim.errors import ConfigError
from hwsim.nonideal.base import NonIdealWrapper
from hwsim.quantise import quantise

DECLARED: Any = "declared"


def effective_bits(declared: int | None, cap: int | None) -> int | None:
    """Converter resolution when an instrument with ``cap`` bits drives a device declaring ``declared`` bits:
    the coarser of the two; ``None`` (float) on one side leaves the other."""
    if cap is None:
        return declared
    if declared is None:
        return int(cap)
    return min(int(declared), int(cap))


def _check_bits(what: str, bits: int | None) -> int | None:
    if bits is None:
        return None
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ConfigError(f"{what} must be an integer number of bits in 1..32 or None (float), got {bits!r}")
    return int(bits)


class Quantisation(NonIdealWrapper):
    """Quantise the input with a ``dac_bits`` DAC and the output with an ``adc_bits`` ADC.

    Both clip at the device's declared ``input_range``/``output_range`` and round to the uniform code
    grid of :mod:`hwsim.quantise`. By default the bits are the device's declared ``dac_bits``/``adc_bits``;
    ``None`` passes float32 through. The wrapper declares the bits it applies in its ``info``, so a host
    talking to a board that serves this chain sends codes on the same grid. On values already on its
    grid the DAC is the identity (idempotent; exact up to 23 bits, the float32 mantissa). No state,
    no randomness.
    """

    def __init__(self, inner: Device, dac_bits: int | None = DECLARED, adc_bits: int | None = DECLARED) -> None:
        super().__init__(inner)
        self.dac_bits = _check_bits("dac_bits", inner.info.dac_bits if dac_bits is DECLARED else dac_bits)
        self.adc_bits = _check_bits("adc_bits", inner.info.adc_bits if adc_bits is DECLARED else adc_bits)
        self.info = dataclasses.replace(inner.info, dac_bits=self.dac_bits, adc_bits=self.adc_bits)

    def _measure(self, x: np.ndarray) -> np.ndarray:
        info = self.info
        y = self.inner.measure(quantise(x, info.input_range, self.dac_bits))
        return quantise(y, info.output_range, self.adc_bits)

    def __repr__(self) -> str:
        return f"<Quantisation dac_bits={self.dac_bits} adc_bits={self.adc_bits} of {self.inner!r}>"
