"""Early-exit networks: the exit policy at its extremes and in between, batch and per-sample runs,
the torch.cond form, the sweep, and the stages compiled with TVM matching PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge.dynamic import (CondEarlyExit, EarlyExitRunner, SweepPoint, build_ee_cnn, eager_stages, multi_exit_loss,
                          pick_threshold, run_per_sample, threshold_sweep)
from edge.compress.surgery import fold_batchnorm
from edge.digits import digits_split
from hwsim.errors import ConfigError, ShapeError


@pytest.fixture(scope="module")
def data():
    return digits_split(0)


@pytest.fixture(scope="module")
def net():
    """A small early-exit CNN with random weights, sharpened so its exits disagree in confidence."""
    torch.manual_seed(0)
    model = build_ee_cnn((8, 16, 32, 48))
    with torch.no_grad():
        for head in model.exits:
            head[-1].weight.mul_(8.0)
    return fold_batchnorm(model.eval())


def _softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits, dim=1).detach().numpy()


def test_forward_is_the_last_exit_and_loss_weights_exits(net, data):
    x, y = data.x_train[:16], data.y_train[:16]
    outs = net.forward_all(x)
    assert len(outs) == 3
    torch.testing.assert_close(net(x), outs[-1])
    ce = [torch.nn.functional.cross_entropy(o, y) for o in outs]
    loss = multi_exit_loss([1.0, 0.0, 3.0])(net, x, y)
    torch.testing.assert_close(loss, (ce[0] + 3 * ce[2]) / 4)
    for bad in ([], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0]):
        with pytest.raises(ConfigError):
            multi_exit_loss(bad)
    with pytest.raises(ConfigError, match="2 exit weights"):
        multi_exit_loss([1.0, 1.0])(net, x, y)


def test_threshold_one_runs_every_stage(net, data):
    x = data.x_test[:64]
    probs, exits = EarlyExitRunner(eager_stages(net))(x.numpy(), 1.0)
    assert (exits == 2).all()
    np.testing.assert_allclose(probs, _softmax(net(x)), rtol=1e-5, atol=1e-6)


def test_threshold_zero_always_exits_first(net, data):
    x = data.x_test[:64]
    probs, exits = EarlyExitRunner(eager_stages(net))(x.numpy(), 0.0)
    assert (exits == 0).all()
    np.testing.assert_allclose(probs, _softmax(net.forward_all(x)[0]), rtol=1e-5, atol=1e-6)


def test_each_sample_stops_at_its_first_confident_exit(net, data):
    x = data.x_test[:128]
    all_probs = [_softmax(o) for o in net.forward_all(x)]
    conf = np.stack([p.max(1) for p in all_probs], axis=1)
    thr = float(np.median(conf[:, 0]))  # about half leave at the first exit
    runner = EarlyExitRunner(eager_stages(net))
    probs, exits = runner(x.numpy(), thr)
    expected = np.array([next((k for k in range(2) if conf[i, k] >= thr), 2) for i in range(len(x))])
    np.testing.assert_array_equal(exits, expected)
    assert len(set(exits.tolist())) >= 2
    for i, k in enumerate(exits):
        np.testing.assert_allclose(probs[i], all_probs[k][i], rtol=1e-5, atol=1e-6)
    preds, single_exits, seconds = run_per_sample(lambda a: runner(a, thr), x.numpy())
    np.testing.assert_array_equal(single_exits, exits)  # a batch behaves like its samples one by one
    np.testing.assert_array_equal(preds, probs.argmax(1))
    assert seconds > 0
    with pytest.raises(ShapeError):
        runner(np.zeros(64, dtype=np.float32), thr)


def test_cond_module_follows_the_same_policy(net, data):
    cond = CondEarlyExit(net).eval()
    runner = EarlyExitRunner(eager_stages(net))
    for thr in (0.0, 0.6, 1.0):
        for i in range(3):
            x = data.x_test[i:i + 1]
            with torch.no_grad():
                probs, index = cond(x, torch.tensor([thr]))
            want_probs, want_exit = runner(x.numpy(), thr)
            assert int(index[0]) == int(want_exit[0])
            np.testing.assert_allclose(probs.numpy(), want_probs, rtol=1e-5, atol=1e-6)


def test_sweep_and_pick(net, data):
    x, y = data.x_test[:40].numpy(), data.y_test[:40].numpy()
    points = threshold_sweep(EarlyExitRunner(eager_stages(net)), x, y, [0.0, 0.9, 1.0], repeat=1)
    assert [p.threshold for p in points] == [0.0, 0.9, 1.0]
    for p in points:
        assert abs(sum(p.exit_fractions) - 1) < 1e-9 and p.mean_latency_s > 0
    assert points[0].exit_fractions[0] == 1.0 and points[-1].exit_fractions[-1] == 1.0
    assert points[-1].accuracy == float((net(data.x_test[:40]).argmax(1).numpy() == y).mean())
    fake = [SweepPoint(0.5, 0.90, [1, 0, 0], 1.0), SweepPoint(0.8, 0.975, [0.5, 0.5, 0], 2.0),
            SweepPoint(0.9, 0.98, [0, 1, 0], 3.0), SweepPoint(1.0, 0.98, [0, 0, 1], 4.0)]
    assert pick_threshold(fake, 0.98, 0.005).threshold == 0.8
    assert pick_threshold(fake, 0.98, 0.0).threshold == 0.9
    with pytest.raises(ConfigError):
        pick_threshold(fake, 0.99, 0.001)


def test_compiled_stages_match_pytorch(net, data):
    """Each stage compiled on its own (TVM, verified by the compile) gives the exits and outputs of PyTorch."""
    pytest.importorskip("tvm")
    from edge.dynamic import compile_stages

    stages = compile_stages(net, data.x_test[:1], num_threads=1)
    compiled, eager = EarlyExitRunner(stages), EarlyExitRunner(eager_stages(net))
    x = data.x_test[:24].numpy()
    for thr in (0.0, 0.7, 1.0):
        got = run_per_sample(lambda a, thr=thr: compiled(a, thr), x)
        want = run_per_sample(lambda a, thr=thr: eager(a, thr), x)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
        for i in range(3):
            p_c, _ = compiled(x[i:i + 1], thr)
            p_e, _ = eager(x[i:i + 1], thr)
            np.testing.assert_allclose(p_c, p_e, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_compiled_cond_matches_pytorch(net, data):
    """The torch.cond policy compiled to a Relax If (one module) matches the eager policy."""
    pytest.importorskip("tvm")
    import edge
    from edge.dynamic import CondRunner

    cond = edge.compile_model(CondEarlyExit(net).eval(), example_inputs=(data.x_test[:1], torch.tensor([0.9])),
                              num_threads=1)
    runner, eager = CondRunner(cond, 3), EarlyExitRunner(eager_stages(net))
    x = data.x_test[:24].numpy()
    for thr in (0.0, 0.7, 1.0):
        for i in range(len(x)):
            p_c, e_c = runner(x[i:i + 1], thr)
            p_e, e_e = eager(x[i:i + 1], thr)
            assert int(e_c[0]) == int(e_e[0])
            np.testing.assert_allclose(p_c, p_e, rtol=1e-4, atol=1e-4)
