"""Viewport prediction: data split and windows, the wrap-aware metric, the baselines and the env."""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines.viewport import ConstantVelocity, LinearRegression, Static
from agents.envs.viewport import ViewportEnv
from agents.policy import run_episode
from agents.viewport_data import (SPLITS, angle_error, load_trajectories, load_windows, mean_absolute_error,
                                  wrap_degrees)
from hwsim.errors import ConfigError, ShapeError


def test_split_is_disjoint_in_video_and_user():
    for dataset in ("Jin2022", "Wu2017"):
        train_videos, train_users = SPLITS["train"][dataset]
        test_videos, test_users = SPLITS["test"][dataset]
        assert not set(train_videos) & set(test_videos)
        assert not set(train_users) & set(test_users)
    test = load_trajectories("test")
    assert {(t.dataset, t.video) for t in test} == {("Jin2022", 4), ("Wu2017", 3)}
    assert len(test) == 21 + 9
    with pytest.raises(ConfigError):
        load_trajectories("valid")


def test_windows_follow_netllm_defaults():
    windows = load_windows("test", ["Jin2022"])
    assert windows.history.shape[1:] == (10, 3) and windows.future.shape[1:] == (20, 3)
    # Jin2022 traces have 300 rows: starts 30, 45, ..., 225 -> 14 windows per user
    assert len(windows) == 21 * 14
    traj = load_trajectories("test", ("Jin2022",))[0]
    np.testing.assert_array_equal(windows.history[0], traj.angles[20:30])
    np.testing.assert_array_equal(windows.future[0], traj.angles[30:50])


def test_angle_error_wraps_roll_and_yaw_only():
    err = angle_error(np.array([179.0, 80.0, -179.0]), np.array([-179.0, -80.0, 179.0]))
    np.testing.assert_allclose(err, [2.0, 160.0, 2.0])
    with pytest.raises(ConfigError):
        mean_absolute_error(np.zeros((2, 3)), np.zeros((3, 3)))


def linear_motion(start, velocity, steps):
    t = np.arange(steps)[:, None]
    return wrap_degrees(np.asarray(start) + t * np.asarray(velocity))


def test_linear_and_velocity_are_exact_on_linear_motion_through_the_wrap():
    path = linear_motion([0.0, 10.0, 170.0], [0.5, -1.0, 3.0], 30)  # yaw crosses +180 at step 4
    hist, fut = path[None, :10], path[None, 10:]
    for predictor in (LinearRegression(), ConstantVelocity()):
        assert mean_absolute_error(predictor.predict(hist), fut) < 1e-9
    # NetLLM-style fitting of raw angles extrapolates the jump instead (the ablation)
    assert mean_absolute_error(LinearRegression(unwrap=False).predict(hist), fut) > 10.0
    np.testing.assert_array_equal(Static().predict(hist)[0], np.repeat(hist[0, -1:], 20, axis=0))
    with pytest.raises(ShapeError):
        Static().predict(np.zeros((10, 3)))


def test_env_reward_is_minus_mae_and_matches_dataset_metric():
    env = ViewportEnv("test", datasets=("Jin2022",), shuffle=False)
    windows = load_windows("test", ["Jin2022"])
    policy = ConstantVelocity()
    rewards = []
    for index in range(len(env.trajectories)):
        rewards += run_episode(env, policy, options={"trajectory_index": index}).rewards
    assert len(rewards) == len(windows)
    expected = mean_absolute_error(policy.predict(windows.history), windows.future)
    assert -np.mean(rewards) == pytest.approx(expected, rel=1e-5)


def test_env_spaces_info_and_bad_action():
    env = ViewportEnv("train")
    obs, info = env.reset(seed=0)
    assert obs.shape == (30,) and env.action_space.shape == (20, 3)
    np.testing.assert_allclose(obs.reshape(10, 3) * np.array([180.0, 90.0, 180.0]), info["history_deg"], atol=1e-4)
    _, reward, _, _, info = env.step(np.zeros((20, 3), dtype=np.float32))
    assert reward == pytest.approx(-info["mae_deg"]) and info["target_deg"].shape == (20, 3)
    with pytest.raises(ShapeError):
        env.step(np.zeros((10, 3)))
