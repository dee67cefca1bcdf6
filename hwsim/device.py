"""The one interface every physical system, simulator, wrapper and remote board implements."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from hwsim.errors import NotSupportedError, ShapeError


@dataclass(frozen=True)
class DeviceInfo:
    """What a device declares about itself; a board sends the same fields in its HELLO reply.

    ``input_range``/``output_range`` are the DAC/ADC full scales; ``dac_bits``/``adc_bits`` of ``None``
    mean the values cross the boundary as float32 (a simulator, or a board with float I/O).
    ``params`` maps each settable parameter to its shape; ``limits`` holds safety limits such as a
    maximum drive level, which a board enforces with its interlock.
    """

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_range: tuple[float, float] = (-1.0, 1.0)
    output_range: tuple[float, float] = (-1.0, 1.0)
    dac_bits: int | None = None
    adc_bits: int | None = None
    dtype: str = "float32"
    max_batch: int = 4096
    firmware_version: str = "hwsim-sim/0.1"
    serial_number: str = "SIM-0000"
    params: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)
    description: str = ""

    @property
    def input_size(self) -> int:
        """Number of scalar inputs per sample."""
        return int(np.prod(self.input_shape))

    @property
    def output_size(self) -> int:
        """Number of scalar outputs per sample."""
        return int(np.prod(self.output_shape))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (tuples become lists)."""
        d = asdict(self)
        d["params"] = {k: list(v) for k, v in self.params.items()}
        d["limits"] = dict(self.limits)
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceInfo:
        """Rebuild an info from :meth:`to_dict` output (unknown keys are an error)."""
        d = dict(d)
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown DeviceInfo fields {sorted(extra)}")
        for key in ("input_shape", "output_shape", "input_range", "output_range"):
            if key in d:
                d[key] = tuple(d[key])
        if "params" in d:
            d["params"] = {k: tuple(v) for k, v in d["params"].items()}
        if "limits" in d:
            d["limits"] = dict(d["limits"])
        return cls(**d)

    def schema_hash(self) -> str:
        """SHA-256 (hex, 16 chars) of what the host must agree on: shapes, ranges, bits, dtype, params."""
        keys = ("input_shape", "output_shape", "input_range", "output_range", "dac_bits", "adc_bits",
                "dtype", "params")
        d = self.to_dict()
        blob = json.dumps({k: d[k] for k in keys}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Device:
    """A black box that measures a batch: numpy in, numpy out, never differentiable.

    Subclasses set ``self.info`` and implement :meth:`_measure` (and :meth:`_set_params` /
    :meth:`_get_params` when they have parameters). :meth:`measure` validates the batch, splits it
    into chunks of ``info.max_batch`` and counts every sample measured in ``measurements``: that
    count is the cost metric of physical training.
    """

    info: DeviceInfo

    def __init__(self) -> None:
        self.measurements = 0
        self.calls = 0
        self.closed = False

    # -- measuring -------------------------------------------------------------------------
    def measure(self, x: np.ndarray) -> np.ndarray:
        """Measure a batch ``x`` of shape ``(B, *info.input_shape)``; returns ``(B, *info.output_shape)`` float32."""
        x = self.check_input(x)
        if self.closed:
            raise NotSupportedError(f"device '{self.info.name}' is closed; open a new one")
        outs = []
        step = max(1, int(self.info.max_batch))
        for start in range(0, x.shape[0], step):
            chunk = x[start:start + step]
            y = np.asarray(self._measure(chunk), dtype=np.float32)
            expect = (chunk.shape[0], *self.info.output_shape)
            if y.shape != expect:
                raise ShapeError(f"device '{self.info.name}' returned shape {y.shape}, declared {expect}")
            self.measurements += chunk.shape[0]
            self.calls += 1
            outs.append(y)
        if not outs:
            return np.zeros((0, *self.info.output_shape), dtype=np.float32)
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` as a C-contiguous float32 batch or raise :class:`ShapeError` saying what is wrong."""
        try:
            arr = np.asarray(x)
        except Exception as exc:  # pragma: no cover - numpy raises for ragged input
            raise ShapeError(f"input to '{self.info.name}' is not an array: {exc}") from exc
        if arr.dtype.kind not in "fiub":
            raise ShapeError(f"input to '{self.info.name}' has dtype {arr.dtype}; pass real numbers")
        want = tuple(self.info.input_shape)
        if arr.ndim != len(want) + 1 or tuple(arr.shape[1:]) != want:
            raise ShapeError(
                f"input to '{self.info.name}' has shape {tuple(arr.shape)}; "
                f"expected (batch, {', '.join(map(str, want))})"
                " -- add a leading batch axis for a single sample")
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ShapeError(f"input to '{self.info.name}' contains NaN or inf; a DAC cannot output that")
        return arr

    def _measure(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- parameters ------------------------------------------------------------------------
    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Write device parameters (e.g. a metasurface configuration); names and shapes per ``info.params``."""
        if not self.info.params:
            raise NotSupportedError(f"device '{self.info.name}' has no settable parameters")
        checked = {}
        for name, value in params.items():
            if name not in self.info.params:
                raise ShapeError(f"device '{self.info.name}' has no parameter '{name}'; "
                                 f"it has {sorted(self.info.params)}")
            arr = np.asarray(value, dtype=np.float32)
            if tuple(arr.shape) != tuple(self.info.params[name]):
                raise ShapeError(f"parameter '{name}' has shape {arr.shape}; expected {tuple(self.info.params[name])}")
            checked[name] = arr.copy()
        self._set_params(checked)

    def get_params(self) -> dict[str, np.ndarray]:
        """Read back the current device parameters."""
        if not self.info.params:
            raise NotSupportedError(f"device '{self.info.name}' has no settable parameters")
        return {k: np.asarray(v, dtype=np.float32).copy() for k, v in self._get_params().items()}

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        raise NotSupportedError(f"device '{self.info.name}' cannot set parameters")

    def _get_params(self) -> dict[str, np.ndarray]:
        raise NotSupportedError(f"device '{self.info.name}' cannot report parameters")

    # -- life cycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Release the device; further measurements raise."""
        self.closed = True

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        i = self.info
        return f"<{type(self).__name__} {i.name} {i.input_shape}->{i.output_shape} measured={self.measurements}>"


class DeviceWrapper(Device):
    """A device that forwards to an inner device; the base of every non-ideality model."""

    def __init__(self, inner: Device) -> None:
        super().__init__()
        self.inner = inner
        self.info = inner.info

    def _measure(self, x: np.ndarray) -> np.ndarray:
        return self.inner.measure(x)

    def set_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Forward parameters to the wrapped device."""
        self.inner.set_params(params)

    def get_params(self) -> dict[str, np.ndarray]:
        """Read parameters from the wrapped device."""
        return self.inner.get_params()

    def close(self) -> None:
        """Close this wrapper and the wrapped device."""
        super().close()
        self.inner.close()

    @property
    def root(self) -> Device:
        """The innermost (unwrapped) device."""
        dev: Device = self
        while isinstance(dev, DeviceWrapper):
            dev = dev.inner
        return dev
