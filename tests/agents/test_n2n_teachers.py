"""The teacher zoo: the ResNet-20 teacher has He et al.'s layout (19 convolutions and a classifier),
its counted parameters and MACs are the built module's, its widths scale, and it trains and caches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agents.n2n import teachers
from agents.n2n.layers import build, count_macs, count_params
from agents.n2n.teachers import MODELS, load_teacher, teacher_arch, teacher_spec
from edge.compress.stats import count_macs as module_macs
from edge.compress.stats import count_params as module_params
from hwsim.errors import ConfigError


def _convs(net: nn.Module) -> int:
    return sum(isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.kernel_size != (1,) and m.kernel_size != (1, 1)
               for m in net.modules())


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_resnet20_is_three_stages_of_three_blocks(dataset):
    arch = teacher_arch("resnet20", dataset)
    assert "resnet20" in MODELS
    assert [layer.kind for layer in arch.layers] == ["conv"] + ["res"] * 9
    assert [layer.out for layer in arch.layers[1:]] == [16] * 3 + [32] * 3 + [64] * 3
    assert [layer.stride for layer in arch.layers[1:]] == [1, 1, 1, 2, 1, 1, 2, 1, 1]
    net = build(arch)
    assert _convs(net) == 19  # stem + 9 blocks x 2 (1x1 projections on the stride-2 blocks not counted)
    x = torch.randn(3, *arch.in_shape)
    assert net(x).shape == (3, 10)
    assert module_params(net) == count_params(arch)
    if arch.dims == 2:  # edge's MAC counter handles 2-D convolutions only
        assert module_macs(net, x) == count_macs(arch)


def test_resnet20_is_deeper_and_larger_than_the_resnet14_teacher():
    deep, shallow = teacher_arch("resnet20", "digits"), teacher_arch("resnet", "digits")
    assert len(deep) > len(shallow)
    assert count_params(deep) > count_params(shallow) and count_macs(deep) > count_macs(shallow)


def test_width_scales_every_layer_of_resnet20():
    full, quarter = teacher_arch("resnet20", "digits"), teacher_arch("resnet20", "digits", width=0.25)
    assert [layer.out for layer in quarter.layers] == [max(2, round(layer.out / 4)) for layer in full.layers]


def test_unknown_teacher_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="resnet20"):
        teacher_arch("resnet21", "digits")


def test_quick_resnet20_teacher_trains_and_loads_from_its_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(teachers, "cache_dir", lambda *parts: tmp_path)
    spec = teacher_spec("resnet20", "digits", quick=True, epochs=2)
    trained = load_teacher(spec)
    assert trained.metrics["test_acc"] > 0.3  # 10 classes: chance is 0.1
    assert trained.path.parent == tmp_path and trained.path.exists()
    cached = load_teacher(spec)
    assert cached.metrics == trained.metrics
    x = trained.data.x_test[:16]
    assert torch.equal(cached.model(x), trained.model(x))
