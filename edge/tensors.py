"""Moving arrays between numpy and TVM without the slow paths.

``tvm.runtime.tensor(array, cpu)`` allocates and copies through a generic path (about 60 us for a
64-float vector here) and ``Tensor.numpy()`` copies back (about 25 us); for a model that runs in 10 us
that overhead is most of the call. On the CPU both directions can share memory through DLPack
instead: TVM needs the data contiguous and 64-byte aligned, so an unaligned input is first copied
into an aligned buffer (a few microseconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ALIGN = 64
_KDL_CPU = 1


def aligned(a: np.ndarray) -> np.ndarray:
    """``a`` itself when contiguous and 64-byte aligned, else an aligned contiguous copy."""
    if a.flags.c_contiguous and a.ctypes.data % ALIGN == 0:
        return a
    buf = np.empty(a.nbytes + ALIGN, dtype=np.uint8)
    off = (-buf.ctypes.data) % ALIGN
    out = buf[off:off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def to_tvm(a: np.ndarray, device: Any) -> Any:
    """``a`` as a TVM tensor on ``device``: shared memory on the local CPU, a copy elsewhere."""
    import tvm

    if device.dlpack_device_type() == _KDL_CPU and a.dtype != np.bool_:
        return tvm.runtime.from_dlpack(aligned(a))
    return tvm.runtime.tensor(np.ascontiguousarray(a), device)


def to_numpy(t: Any) -> np.ndarray:
    """A TVM tensor's contents as a numpy array the caller owns."""
    if t.device.dlpack_device_type() == _KDL_CPU and str(t.dtype) != "bool":
        return np.from_dlpack(t).copy()
    return t.numpy()
