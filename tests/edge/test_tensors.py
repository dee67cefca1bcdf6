"""numpy <-> TVM transfer helpers and the staged inputs of a compiled model."""

import numpy as np
import pytest
import torch

tvm = pytest.importorskip("tvm")

from edge.tensors import InputStage, aligned, empty_aligned, to_numpy, to_tvm  # noqa: E402


def test_aligned_arrays_are_shared_and_unaligned_ones_copied():
    a = empty_aligned((3, 5), np.float32)
    assert a.ctypes.data % 64 == 0 and a.flags.c_contiguous
    assert aligned(a) is a
    b = np.arange(17, dtype=np.float32)[1:]  # 4 bytes past an allocation boundary
    c = aligned(b)
    assert c.ctypes.data % 64 == 0 and np.array_equal(c, b)
    t = to_tvm(b, tvm.cpu(0))
    assert np.array_equal(to_numpy(t), b)


def test_to_numpy_returns_a_copy_the_caller_owns():
    t = tvm.runtime.tensor(np.ones(4, dtype=np.float32))
    a = to_numpy(t)
    a[:] = 7
    assert np.array_equal(to_numpy(t), np.ones(4, dtype=np.float32))


def test_stage_reuses_its_buffers_and_keeps_values_apart():
    stage = InputStage(tvm.cpu(0))
    x1 = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    t1 = stage.place([x1])
    assert np.array_equal(to_numpy(t1[0]), x1)
    x2 = x1 + 1
    t2 = stage.place([x2])
    assert t2[0] is t1[0]  # the same device tensor, refilled
    assert np.array_equal(to_numpy(t2[0]), x2)
    t3 = stage.place([np.zeros((4, 3), np.float32)])  # another shape: another buffer
    assert t3[0].shape == (4, 3)
    assert np.array_equal(to_numpy(stage.place([x2])[0]), x2)


def test_compiled_model_gives_fresh_outputs_on_every_call():
    import edge

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh()).eval()
    compiled = edge.compile_model(model, (torch.randn(2, 6),), dynamic_batch=True)
    xs = [np.random.default_rng(s).standard_normal((n, 6)).astype(np.float32) for s, n in ((1, 2), (2, 2), (3, 5))]
    outs = [compiled(x) for x in xs]
    for x, y in zip(xs, outs):  # earlier outputs are not overwritten by later calls
        np.testing.assert_allclose(y, model(torch.from_numpy(x)).detach().numpy(), atol=1e-5, rtol=1e-5)
    unaligned = np.arange(13, dtype=np.float32)[1:].reshape(2, 6)
    np.testing.assert_allclose(compiled(unaligned), model(torch.from_numpy(unaligned)).detach().numpy(),
                               atol=1e-5, rtol=1e-5)


def test_static_signature_fast_path_matches_the_checking_path():
    """A static model's calls with exactly its input signature skip the general checks; every other input
    goes through them, and results agree and stay the caller's."""
    import edge
    from edge.errors import InputMismatchError

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.Tanh()).eval()
    compiled = edge.compile_model(model, (torch.randn(1, 16),))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 16)).astype(np.float32)
    first = compiled(x)
    assert compiled._static is not None and isinstance(first, np.ndarray)
    want = model(torch.from_numpy(x)).detach().numpy()
    second = compiled(x + 1)
    np.testing.assert_allclose(first, want, atol=1e-5, rtol=1e-5)  # not overwritten by the second call
    wide = rng.standard_normal((1, 32)).astype(np.float32)
    strided = wide[:, ::2]  # the signature's shape and dtype, not contiguous
    np.testing.assert_allclose(compiled(strided), model(torch.from_numpy(strided.copy())).detach().numpy(),
                               atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(compiled(torch.from_numpy(x + 1)), second, atol=0, rtol=0)  # the checking path
    with pytest.raises(InputMismatchError, match="float32"):
        compiled(x.astype(np.float64))
    with pytest.raises(InputMismatchError, match="shape"):
        compiled(np.zeros((2, 16), np.float32))
    with pytest.raises(InputMismatchError, match="1 input"):
        compiled(x, x)
