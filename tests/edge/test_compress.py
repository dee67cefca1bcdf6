"""Compression methods: channel pruning really shrinks and stays exact where it should, low-rank
error falls with rank and ordered layers keep the prefix property, lottery masks survive rewinding
and retraining, int8 simulation matches its QDQ ONNX export."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from edge.compress.channel import ChannelConfig, channel_prune, shrink_channels
from edge.compress.lowrank import (LowRankConfig, OrderedLowRank, lowrank_compress, ordered_dropout_loss,
                                   reconstruction_error, set_rank_fraction, svd_factorize, to_ordered, truncated)
from edge.compress.prune import (LotteryConfig, apply_masks, global_magnitude_masks, lottery_ticket, mask_sparsity,
                                 prunable, rewind)
from edge.compress.quantize import QuantizedLayer, export_qdq_onnx, quantize_int8
from edge.compress.stats import count_macs, count_nonzero, count_params
from edge.compress.surgery import fold_batchnorm, rebuild_to_state
from edge.digits import digits_split
from edge.train import EdgeTrainConfig
from edge.zoo import build_cnn, build_mlp
from hwsim.errors import ConfigError, NotSupportedError


@pytest.fixture(scope="module")
def data():
    return digits_split(0)


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model.eval()


# --- channel pruning -------------------------------------------------------------------------------


@pytest.mark.parametrize("criterion", ["l1", "l2", "bn"])
def test_channel_keep_all_is_identity(data, criterion):
    torch.manual_seed(0)
    model = _randomise_bn(build_cnn((8, 16, 24)))
    same = shrink_channels(model, 1.0, data.x_train, criterion).eval()
    x = data.x_test[:16]
    torch.testing.assert_close(same(x), model(x), rtol=0, atol=0)


def test_channel_pruning_removes_dead_filters_exactly(data):
    """Filters that are zero (weights and bias) produce ReLU(0) = 0: cutting them, and the matching
    input channels of the consumer -- a conv, or a linear behind Flatten -- must not change the output."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12 * 16, 20), nn.ReLU(), nn.Linear(20, 10)).eval()
    with torch.no_grad():
        for layer, dead in ((model[0], [1, 4, 5, 7]), (model[2], list(range(0, 12, 2))), (model[6], list(range(10)))):
            layer.weight[dead] = 0
            layer.bias[dead] = 0
    small = shrink_channels(model, (0.5, 0.5, 0.5), data.x_train, "l1").eval()
    assert [small[0].out_channels, small[2].in_channels, small[2].out_channels] == [4, 4, 6]
    assert small[6].in_features == 6 * 16 and small[6].out_features == 10 and small[8].in_features == 10
    x = data.x_test[:32]
    torch.testing.assert_close(small(x), model(x), rtol=1e-5, atol=1e-6)


def test_channel_bn_criterion_drops_switched_off_channels(data):
    torch.manual_seed(2)
    model = _randomise_bn(build_cnn((8, 16, 24)))
    with torch.no_grad():
        for bn, off in ((model[1], [0, 3, 6, 7]), (model[4], list(range(8, 16))), (model[8], list(range(12)))):
            bn.weight[off] = 0
            bn.bias[off] = 0
    small = shrink_channels(model, 0.5, data.x_train, "bn").eval()
    x = data.x_test[:32]
    torch.testing.assert_close(small(x), model(x), rtol=1e-5, atol=1e-5)


def test_channel_pruning_shrinks_params_and_keeps_shapes(data):
    torch.manual_seed(3)
    model = build_cnn((16, 32, 64))
    small = channel_prune(model, data, ChannelConfig(keep=0.25, finetune=EdgeTrainConfig(epochs=1)))
    assert [m.out_channels for m in small if isinstance(m, nn.Conv2d)] == [4, 8, 16]
    assert count_params(small) < count_params(model) / 8
    assert count_macs(small, data.x_test) < count_macs(model, data.x_test) / 8
    for n in (1, 7):
        assert small(data.x_test[:n]).shape == (n, 10)
    mlp = shrink_channels(build_mlp((40, 30)), 0.5, data.x_train)
    assert [m.out_features for m in mlp if isinstance(m, nn.Linear)] == [20, 15, 10]
    assert mlp(data.x_test[:3]).shape == (3, 10)


def test_channel_pruning_rejects_what_it_cannot_cut(data):
    with pytest.raises(NotSupportedError, match="nn.Sequential"):
        shrink_channels(nn.ModuleList([nn.Linear(2, 2)]), 0.5, data.x_train)  # type: ignore[arg-type]
    with pytest.raises(NotSupportedError, match="LSTM"):
        shrink_channels(nn.Sequential(nn.Flatten(), nn.LSTM(64, 8)), 0.5, data.x_train)
    with pytest.raises(ConfigError, match="criterion"):
        shrink_channels(build_mlp((8,)), 0.5, data.x_train, "entropy")
    with pytest.raises(ConfigError, match="keep"):
        shrink_channels(build_mlp((8,)), 0.0, data.x_train)


def test_shrunk_model_restores_from_state_dict(data):
    torch.manual_seed(4)
    small = shrink_channels(_randomise_bn(build_cnn((8, 16, 24))), 0.5, data.x_train).eval()
    restored = rebuild_to_state(build_cnn((8, 16, 24)), small.state_dict())
    x = data.x_test[:8]
    torch.testing.assert_close(restored(x), small(x), rtol=0, atol=0)


def test_fold_batchnorm_keeps_outputs(data):
    torch.manual_seed(5)
    model = _randomise_bn(build_cnn((8, 16, 24)))
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = data.x_test[:16]
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)


# --- low rank --------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", [nn.Linear(48, 32), nn.Conv2d(6, 16, 3, padding=1)], ids=["linear", "conv"])
def test_lowrank_error_falls_with_rank_and_vanishes_at_full_rank(layer):
    torch.manual_seed(6)
    full = min(layer.weight.flatten(1).shape)
    errors = [reconstruction_error(layer, r) for r in range(1, full + 1)]
    assert all(b <= a + 1e-6 for a, b in zip(errors, errors[1:]))
    assert errors[0] > 0.3 and errors[-1] < 1e-5
    x = torch.randn(4, 48) if isinstance(layer, nn.Linear) else torch.randn(4, 6, 8, 8)
    torch.testing.assert_close(svd_factorize(layer, full)(x), layer(x), rtol=1e-4, atol=1e-4)
    half = svd_factorize(layer, full // 4)
    assert isinstance(half, nn.Sequential) and count_params(half) < count_params(layer)
    with torch.no_grad():
        out_err = float((half(x) - layer(x)).norm() / layer(x).norm())
    assert out_err < 1.0


def test_ordered_prefix_equals_truncated_layers():
    torch.manual_seed(7)
    cases = ((nn.Linear(40, 24), torch.randn(5, 40)), (nn.Conv2d(4, 12, 3, padding=1), torch.randn(2, 4, 8, 8)))
    for layer, x in cases:
        od = OrderedLowRank(layer)
        torch.testing.assert_close(od(x), layer(x), rtol=1e-4, atol=1e-4)  # exact SVD at full rank
        with torch.no_grad():
            od.first.add_(0.05 * torch.randn_like(od.first))  # trained factors need not come from an SVD
        for r in (1, 3, od.max_rank // 2, od.max_rank):
            od.rank = r
            torch.testing.assert_close(od.truncate(r)(x), od(x), rtol=1e-5, atol=1e-5)


def test_ordered_dropout_trains_only_the_sampled_prefix():
    """A step at rank r gives zero gradient to components r+1.. (what makes prefixes nested)."""
    torch.manual_seed(8)
    od = OrderedLowRank(nn.Linear(20, 16))
    od.rank = 5
    od(torch.randn(8, 20)).pow(2).sum().backward()
    assert od.first.grad[5:].abs().max() == 0 and od.second.grad[:, 5:].abs().max() == 0
    assert od.first.grad[:5].abs().max() > 0


def test_ordered_dropout_loss_samples_prefixes_and_restores_full_rank(data):
    model = to_ordered(build_mlp((32, 32)))
    seen = set()
    layer = [m for m in model.modules() if isinstance(m, OrderedLowRank)][0]
    orig_forward = layer.forward

    def spy(x):
        seen.add(layer.rank)
        return orig_forward(x)

    layer.forward = spy
    loss = ordered_dropout_loss(generator=torch.Generator().manual_seed(0))
    for _ in range(20):
        loss(model, data.x_train[:8], data.y_train[:8])
    assert len(seen) > 5 and all(r is not None and 1 <= r <= layer.max_rank for r in seen)
    assert layer.rank is None


def test_lowrank_compress_returns_plain_smaller_model(data):
    torch.manual_seed(9)
    model = build_mlp((64, 64))
    cfg = LowRankConfig(train=EdgeTrainConfig(epochs=1), fractions=(0.25, 1.0), max_val_drop=1.0,
                        max_val_loss_rise=10.0, finetune=EdgeTrainConfig(epochs=0))
    small, info = lowrank_compress(model, data, cfg)
    assert info["fraction"] == 0.25
    assert not any(isinstance(m, OrderedLowRank) for m in small.modules())
    assert count_params(small) < count_params(model)
    assert small(data.x_test[:3]).shape == (3, 10)
    set_rank_fraction(model, None)  # no ordered layers: a no-op
    assert truncated(to_ordered(model), 1.0)(data.x_test[:2]).shape == (2, 10)


# --- lottery ticket --------------------------------------------------------------------------------


def test_global_magnitude_masks_prune_smallest_globally():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(16.0).view(4, 4))
        model[1].weight.copy_(torch.arange(8.0).view(2, 4) + 100)
    masks = global_magnitude_masks(model, 0.5)
    assert masks["0.weight"].sum() == 4 and masks["1.weight"].all()
    again = global_magnitude_masks(model, 0.75, masks)  # nested: earlier pruned weights stay pruned
    assert not (again["0.weight"] & ~masks["0.weight"]).any()
    assert abs(mask_sparsity(again) - 0.75) < 1e-9


def test_lottery_masks_respected_after_rewinding_and_retraining(data):
    torch.manual_seed(10)
    model = build_mlp((32,))
    cfg = LotteryConfig(rounds=2, rate=0.5, rewind_step=3, train=EdgeTrainConfig(epochs=1))
    pruned, masks, history = lottery_ticket(model, data, cfg)
    assert [h["round"] for h in history] == [0, 1, 2]
    assert abs(mask_sparsity(masks) - cfg.sparsity) < 0.01
    for name, w in prunable(pruned).items():
        assert not w[~masks[name]].any(), f"{name} has non-zero pruned weights"
    total = sum(w.numel() for w in prunable(pruned).values())
    zeros = sum(int((w == 0).sum()) for w in prunable(pruned).values())
    assert zeros >= cfg.sparsity * total - 1
    assert count_nonzero(pruned) < count_params(pruned)
    assert count_params(pruned) == count_params(model)  # dense storage: the masks are baked in
    # rewinding resets the survivors to the saved weights and keeps the pruned ones at zero
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    rewound = rewind(copy.deepcopy(pruned), state, masks)
    for name, w in prunable(rewound).items():
        torch.testing.assert_close(w[masks[name]], state[name][masks[name]])
        assert not w[~masks[name]].any()
    assert apply_masks(rewound, masks) is rewound


# --- int8 ------------------------------------------------------------------------------------------


def test_int8_weights_on_grid_and_qdq_onnx_matches(data, tmp_path):
    torch.manual_seed(11)
    model = fold_batchnorm(_randomise_bn(build_cnn((8, 16, 24))))
    q = quantize_int8(model, data.x_train[:256])
    layers = [m for m in q.modules() if isinstance(m, QuantizedLayer)]
    assert len(layers) == 4
    for m in layers:
        codes = m.layer.weight.detach().flatten(1) / m.w_scale[:, None]
        assert torch.allclose(codes, codes.round(), atol=1e-3) and codes.abs().max() <= 127.001
    x = data.x_test[:64]
    with torch.no_grad():
        dense, quant = model(x), q(x)
    assert (dense.argmax(1) == quant.argmax(1)).float().mean() > 0.9
    assert 0 < float((dense - quant).abs().max()) < 0.5 * float(dense.abs().max())
    for m in layers:
        m.qdq_ops = True
    with torch.no_grad():
        torch.testing.assert_close(q(x), quant, rtol=1e-5, atol=1e-5)  # fake-quant ops == plain arithmetic
    for m in layers:
        m.qdq_ops = False
    import onnx
    import onnxruntime as ort

    path = export_qdq_onnx(q, x[:1], tmp_path / "q.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # reference QDQ semantics
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, quant.detach().numpy(), rtol=1e-4, atol=1e-4)


def test_int8_needs_weighted_layers(data):
    with pytest.raises(ConfigError):
        quantize_int8(nn.Sequential(nn.ReLU()), data.x_train[:4])


def test_count_macs_counts_convs_and_linears_once(data):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    assert count_macs(model, data.x_test[:5]) == 64 * 4 * 9 + 64 * 10
    assert count_macs(quantize_int8(model, data.x_train[:32]), data.x_test[:5]) == 64 * 4 * 9 + 64 * 10
    assert count_params(model) == 4 * 9 + 4 + 64 * 10 + 10
