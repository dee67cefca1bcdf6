"""Architecture description, actions and student builder of N2N: counts match the built modules,
students are really smaller modules, bad actions raise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from agents.n2n.layers import (FEATURES, Arch, InvalidArchitecture, Layer, arch_from_json, build, count_macs,
                               count_params, layer_features)
from agents.n2n.teachers import teacher_arch
from edge.compress.stats import count_macs as module_macs
from edge.compress.stats import count_params as module_params
from hwsim.errors import ConfigError


@pytest.mark.parametrize("model,dataset", [("resnet", "digits"), ("cnn", "digits"), ("cnn", "mnist1d"),
                                           ("resnet", "mnist1d")])
def test_counts_match_built_module_for_removals(model, dataset):
    teacher = teacher_arch(model, dataset, width=0.25)
    masks = list(itertools.product([0, 1], repeat=len(teacher)))
    picked = [masks[0], masks[-1]] + [masks[i] for i in np.random.default_rng(0).choice(len(masks), 8, replace=False)]
    checked = 0
    for keep in picked:
        arch = teacher.remove(keep)
        try:
            net = build(arch)
        except InvalidArchitecture:
            continue
        x = torch.randn(2, *arch.in_shape)
        assert net(x).shape == (2, 10)
        assert module_params(net) == count_params(arch)
        if arch.dims == 2:  # edge's MAC counter handles 2-D convolutions only
            assert module_macs(net, x) == count_macs(arch)
        checked += 1
    assert checked >= 5


def test_students_are_smaller_modules_not_masks():
    teacher = teacher_arch("resnet", "digits")
    student = teacher.remove([1, 1, 0, 1, 0, 1, 0]).shrink([0.5, 0.25, 1.0, 0.5])
    net = build(student)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs][:1] == [8]  # stem 16 -> 8
    assert len(convs) < len([m for m in build(teacher).modules() if isinstance(m, nn.Conv2d)])
    assert module_params(net) == count_params(student) < count_params(teacher) / 4
    assert all(bool((p != 0).any()) for p in net.parameters() if p.dim() > 1)


def test_shrink_rounds_and_keeps_at_least_one_channel_and_ignores_pool():
    arch = Arch((1, 8, 8), (Layer("conv", 3), Layer("pool"), Layer("fc", 10)), 10)
    shrunk = arch.shrink([0.1, 0.1, 0.55])
    assert [layer.out for layer in shrunk.layers] == [1, 0, 6]


def test_pooling_a_single_pixel_is_invalid():
    arch = Arch((1, 2), (Layer("pool"), Layer("pool")), 10)
    with pytest.raises(InvalidArchitecture, match="leaves nothing"):
        build(arch)


def test_bad_actions_and_descriptions_raise():
    teacher = teacher_arch("cnn", "digits")
    with pytest.raises(ConfigError, match="keep flags"):
        teacher.remove([1, 0])
    with pytest.raises(ConfigError, match="factors"):
        teacher.shrink([0.5])
    with pytest.raises(ConfigError, match="in \\(0, 1\\]"):
        teacher.shrink([0.0] * len(teacher))
    with pytest.raises(ConfigError, match="unknown layer kind"):
        Layer("lstm", 4)
    with pytest.raises(ConfigError, match="spatial layers must come first"):
        Arch((1, 8, 8), (Layer("fc", 4), Layer("conv", 4)), 10)
    with pytest.raises(ConfigError, match="malformed"):
        arch_from_json({"layers": []})


def test_json_round_trip_and_key():
    teacher = teacher_arch("resnet", "mnist1d")
    again = arch_from_json(teacher.to_json())
    assert again == teacher and again.key() == teacher.key()
    assert teacher.remove([1] * len(teacher)).key() == teacher.key()
    assert teacher.remove([1, 0] + [1] * (len(teacher) - 2)).key() != teacher.key()


def test_features_are_bounded_and_describe_layers():
    teacher = teacher_arch("cnn", "digits")
    feats = layer_features(teacher)
    assert feats.shape == (len(teacher), len(FEATURES))
    assert feats.min() >= 0 and feats.max() <= 1
    kinds = feats[:, :4].argmax(1)
    assert [("conv", "res", "pool", "fc")[k] for k in kinds] == [layer.kind for layer in teacher.layers]
    assert 0.9 < feats[:, -1].sum() < 1  # parameter shares; the classifier holds the rest
