"""Moving arrays between numpy and TVM without the slow paths.

``tvm.runtime.tensor(array, cpu)`` allocates and copies through a generic path (about 60 us for a
64-float vector here) and ``Tensor.numpy()`` copies back (about 10 to 25 us); for a model that runs
in 10 us that overhead is most of the call. On the CPU both directions can share memory through
DLPack instead: TVM needs the data contiguous and 64-byte aligned. :class:`InputStage` keeps one
aligned buffer per input already wrapped as a TVM tensor, so a call costs one ``copyto`` per input.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

ALIGN = 64
_KDL_CPU = 1


def empty_aligned(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(nbytes + ALIGN, dtype=np.uint8)
    off = (-buf.ctypes.data) % ALIGN
    return buf[off:off + nbytes].view(dtype).reshape(shape)


def aligned(a: np.ndarray) -> np.ndarray:
    """``a`` itself when contiguous and 64-byte aligned, else an aligned contiguous copy."""
    if a.flags.c_contiguous and a.ctypes.data % ALIGN == 0:
        return a
    out = empty_aligned(a.shape, a.dtype)
    out[...] = a
    return out


def shares_memory(device: Any, dtype: Any) -> bool:
    """True when arrays of ``dtype`` reach ``device`` through DLPack without a copy (the local CPU)."""
    return device.dlpack_device_type() == _KDL_CPU and np.dtype(dtype) != np.bool_


def to_tvm(a: np.ndarray, device: Any) -> Any:
    """``a`` as a TVM tensor on ``device``: shared memory on the local CPU, a copy elsewhere."""
    import tvm

    if shares_memory(device, a.dtype):
        return tvm.runtime.from_dlpack(aligned(a))
    return tvm.runtime.tensor(np.ascontiguousarray(a), device)


def to_numpy(t: Any) -> np.ndarray:
    """A TVM tensor's contents as a numpy array the caller owns."""
    if t.device.dlpack_device_type() == _KDL_CPU:
        try:
            return np.from_dlpack(t).copy()
        except (BufferError, TypeError, ValueError, RuntimeError):  # a dtype numpy cannot take by DLPack
            pass
    return t.numpy()


class InputStage:
    """Input tensors reused from call to call: on the local CPU each input shape gets an aligned
    buffer wrapped once as a TVM tensor, and a call copies the inputs into it (elsewhere, or for
    dtypes DLPack cannot share, a call makes fresh device tensors). Not for concurrent calls:
    the owner serialises them."""

    def __init__(self, device: Any, max_shapes: int = 8) -> None:
        self.device = device
        self.max_shapes = max_shapes
        self._staged: dict[tuple, tuple[list[np.ndarray], list[Any]]] = {}

    def place(self, arrays: Sequence[np.ndarray]) -> list[Any]:
        """TVM tensors holding ``arrays`` (valid until the next call)."""
        key = tuple((a.shape, a.dtype.str) for a in arrays)
        entry = self._staged.get(key)
        if entry is None:
            if not all(shares_memory(self.device, a.dtype) for a in arrays):
                return [to_tvm(a, self.device) for a in arrays]
            if len(self._staged) >= self.max_shapes:
                self._staged.clear()
            buffers = [empty_aligned(a.shape, a.dtype) for a in arrays]
            entry = self._staged[key] = (buffers, [to_tvm(b, self.device) for b in buffers])
        for buf, a in zip(entry[0], arrays):
            buf[...] = a
        return entry[1]


_TYPES: list[type] = []


def tvm_types() -> tuple[type, type]:
    """TVM's tensor class and tvm_ffi's array class (imported on first use)."""
    if not _TYPES:
        from tvm.runtime import Tensor
        from tvm_ffi import Array

        _TYPES[:] = [Tensor, Array]
    return _TYPES[0], _TYPES[1]


class StaticCall:
    """A VM function called with numpy inputs of exactly one signature on the local CPU, with as little
    Python per call as possible: the inputs are copied into aligned buffers wrapped as TVM tensors once,
    and the outputs leave through DLPack. A call with any other input returns ``None`` (the caller then
    takes its general, checking path)."""

    def __init__(self, fn: Any, weights: Sequence[Any], signature: Sequence[tuple[tuple[int, ...], Any]],
                 device: Any, lock: Any) -> None:
        self._fn = fn
        self._sig = [(tuple(shape), np.dtype(dtype)) for shape, dtype in signature]
        self._buffers = [empty_aligned(shape, dtype) for shape, dtype in self._sig]
        self._args = [to_tvm(b, device) for b in self._buffers] + list(weights)
        self._lock = lock

    @staticmethod
    def possible(device: Any, signature: Sequence[tuple[tuple[int | None, ...], Any]]) -> bool:
        """True when every input has a static shape and reaches ``device`` without a copy."""
        return all(None not in shape and shares_memory(device, dtype) for shape, dtype in signature)

    def __call__(self, arrays: Sequence[Any]) -> list[np.ndarray] | None:
        """The outputs, or ``None`` when ``arrays`` do not have exactly this signature."""
        if len(arrays) != len(self._sig):
            return None
        for a, (shape, dtype) in zip(arrays, self._sig):
            if type(a) is not np.ndarray or a.shape != shape or a.dtype != dtype:
                return None
        with self._lock:
            for buf, a in zip(self._buffers, arrays):
                np.copyto(buf, a)
            out = self._fn(*self._args)
        return flatten_outputs(out)


def flatten_outputs(value: Any) -> list[np.ndarray]:
    """A model's output (tensor, tuple/list, dict, TVM tensor/array) as a flat list of numpy arrays."""
    tensor, array = tvm_types()  # by exact type first: attribute probes on TVM objects cost microseconds
    if type(value) is tensor:
        return [to_numpy(value)]
    if type(value) is array:
        return [a for v in value for a in flatten_outputs(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in flatten_outputs(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in flatten_outputs(v)]
    if hasattr(value, "detach"):
        return [value.detach().cpu().numpy()]
    if hasattr(value, "device") and hasattr(value, "numpy"):  # a subclass of TVM's tensor
        return [to_numpy(value)]
    if hasattr(value, "numpy"):
        return [value.numpy()]
    if type(value).__name__ == "Array":  # tvm_ffi container
        return [a for v in value for a in flatten_outputs(v)]
    return [np.asarray(value)]
