"""The N2N reward (parameter and latency variants) and the cheap latency model."""

from __future__ import annotations

import math

import pytest

from agents.n2n.cache import StudentResult
from agents.n2n.latency import LatencyModel, calibrate, calibration_set, default_model
from agents.n2n.layers import count_macs
from agents.n2n.reward import RewardFn, n2n_reward
from agents.n2n.teachers import teacher_arch
from hwsim.errors import ConfigError


def student(valid=True, params=100, val_acc=0.9, latency_est_s=1e-3, latency_s=None):
    return StudentResult("k", {}, valid, params=params, val_acc=val_acc, latency_est_s=latency_est_s,
                         latency_s=latency_s)


def test_formula_matches_the_paper():
    # C = 1 - 0.1 = 0.9 -> C(2-C) = 0.99
    assert n2n_reward(0.1, 1.0) == pytest.approx(0.99)
    assert n2n_reward(0.5, 0.8) == pytest.approx(0.75 * 0.8)
    assert n2n_reward(1.0, 1.0) == 0.0  # the teacher itself
    assert n2n_reward(1.01, 1.0) == -1.0  # larger than the teacher


def test_reward_prefers_smaller_students_at_equal_accuracy_and_accurate_ones_at_equal_size():
    fn = RewardFn("params", teacher_cost=1000, teacher_acc=0.95)
    assert fn(student(params=100)) > fn(student(params=500)) > fn(student(params=900))
    assert fn(student(val_acc=0.95)) > fn(student(val_acc=0.5))
    assert fn(student(params=100, val_acc=0.95)) == pytest.approx(0.99)


def test_invalid_students_get_minus_one():
    fn = RewardFn("params", teacher_cost=1000, teacher_acc=0.95)
    assert fn(student(valid=False)) == -1.0
    assert fn(student(params=2000)) == -1.0


def test_latency_rewards_use_their_cost_field():
    est = RewardFn("latency-est", teacher_cost=2e-3, teacher_acc=1.0)
    meas = RewardFn("latency", teacher_cost=2e-3, teacher_acc=1.0)
    s = student(params=10**6, val_acc=1.0, latency_est_s=1e-3, latency_s=3e-3)
    assert est(s) == pytest.approx(0.75)  # C = 0.5; the parameter count plays no part
    assert meas(s) == -1.0  # slower than the teacher


def test_unknown_reward_and_bad_teacher_raise():
    with pytest.raises(ConfigError, match="unknown reward"):
        RewardFn("flops", 1.0, 1.0)
    with pytest.raises(ConfigError, match="positive"):
        RewardFn("params", 0.0, 1.0)


def test_latency_model_grows_with_depth_and_width():
    teacher = teacher_arch("resnet", "digits")
    model = default_model("host")
    thin = teacher.shrink([0.25] * len(teacher))
    shallow = teacher.remove([1, 1, 0, 1, 0, 1, 0])
    assert model.estimate(thin) < model.estimate(teacher)
    assert model.estimate(shallow) < model.estimate(teacher)
    assert default_model("jetson-orin").source == "default:jetson"
    assert default_model("jetson-orin").estimate(teacher) < model.estimate(teacher)


def test_calibration_recovers_the_coefficients_it_was_given():
    truth = LatencyModel(per_layer_s=30e-6, macs_per_s=2e9)
    archs = calibration_set(teacher_arch("resnet", "digits"))
    assert len(archs) >= 3
    fitted = calibrate(archs, [truth.estimate(a) for a in archs])
    assert fitted.per_layer_s == pytest.approx(truth.per_layer_s, rel=1e-6)
    assert fitted.macs_per_s == pytest.approx(truth.macs_per_s, rel=1e-6)
    with pytest.raises(ConfigError, match="at least two"):
        calibrate(archs[:1], [1.0])
    assert math.isfinite(fitted.estimate(archs[0])) and count_macs(archs[0]) > 0
