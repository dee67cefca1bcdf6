"""ABR: the Pensieve simulator core, the environment, the baselines and the FCC test protocol."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence

import agents  # noqa: F401  (registers the environments)
from agents.abr.evaluate import evaluate_abr
from agents.abr.sim import ABRSimulator, qoe_lin
from agents.abr.baselines import BBA, RateBased, RobustMPC
from agents.abr.env import ABREnv
from agents.abr.traces import Trace, parse_trace
from hwsim.errors import ConfigError, DataError


def constant_trace(mbps: float, rows: int = 1000, step_s: float = 1.0) -> Trace:
    return Trace("const", tuple(i * step_s for i in range(rows)), tuple([mbps * 1e6 / 8.0] * rows))


def test_download_time_is_size_over_payload_rate_plus_rtt():
    sizes = [[950_000] * 49] * 6  # 950 kB at 8 Mbit/s (1 MB/s) x 0.95 payload share = 1 s
    sim = ABRSimulator(sizes)
    sim.start(constant_trace(8.0), 1)
    delay_ms, sleep_ms, rebuffer_ms, size = sim.download(0)
    assert delay_ms == pytest.approx(1080.0)
    assert rebuffer_ms == pytest.approx(1080.0)  # empty buffer at the start
    assert sim.buffer_ms == pytest.approx(4000.0) and sleep_ms == 0.0 and size == 950_000
    delay_ms, _, rebuffer_ms, _ = sim.download(0)
    assert rebuffer_ms == 0.0 and sim.buffer_ms == pytest.approx(4000.0 - 1080.0 + 4000.0)


def test_buffer_is_capped_at_60_s_with_500_ms_sleeps():
    sim = ABRSimulator([[1000] * 49] * 6)  # tiny chunks: the buffer fills fast
    sim.start(constant_trace(8.0), 1)
    slept = []
    for _ in range(20):
        _, sleep_ms, _, _ = sim.download(0)
        assert sim.buffer_ms <= 60000.0 + 1e-9
        slept.append(sleep_ms)
    assert any(s > 0 for s in slept)
    assert all(s % 500.0 == 0.0 for s in slept)


def test_trace_loops_back_to_row_1():
    sim = ABRSimulator([[2_000_000] * 49] * 6)
    trace = constant_trace(8.0, rows=4)  # rows at 0..3 s: 3 s of delivery per pass
    sim.start(trace, 3)
    delay_ms, _, _, _ = sim.download(0)  # 2 MB at 0.95 MB/s: row 3, wrap to row 1, then part of row 2
    assert delay_ms == pytest.approx(2_000_000 / 950_000 * 1000.0 + 80.0)
    assert sim.ptr == 2 and sim.last_time == pytest.approx(2_000_000 / 950_000 - 2.0 + 1.0)


def test_qoe_lin_formula():
    assert qoe_lin(4300, 300, 0.0) == pytest.approx(4.3 - 4.0)
    assert qoe_lin(300, 300, 1.0) == pytest.approx(0.3 - 4.3)


def test_malformed_trace_raises_data_error(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("0.0 1.0\nnot a number\n")
    with pytest.raises(DataError):
        parse_trace(bad)
    flat = tmp_path / "zero"
    flat.write_text("0 0\n1 0\n2 0\n")
    with pytest.raises(DataError, match="positive"):
        parse_trace(flat)


def test_episode_has_47_decisions_and_info():
    env = ABREnv("fcc-test", train=False)
    obs, info = env.reset(seed=0)
    assert obs.shape == (48,) and obs.dtype == np.float32 and np.array_equal(obs.reshape(6, 8), env.state)
    assert info["chunk_index"] == 1 and info["quality"] == 0
    steps, done = 0, False
    while not done:
        obs, reward, done, truncated, info = env.step(2)
        assert reward == pytest.approx(info["qoe"])
        steps += 1
    assert steps == 47 and info["chunks_remaining"] == 0
    with pytest.raises(ConfigError):
        env.step(6)
    with pytest.raises(ConfigError):
        ABREnv(history_len=5)


def test_observation_matches_pensieve_state():
    env = ABREnv("fcc-test", train=False)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(5)
    obs = obs.reshape(6, 8)
    assert obs[0, -1] == pytest.approx(1.0)
    assert obs[1, -1] == pytest.approx(info["buffer_s"] / 10.0)
    assert obs[2, -1] == pytest.approx(info["chunk_bytes"] / info["delay_ms"] / 1000.0, rel=1e-6)
    assert obs[3, -1] == pytest.approx(info["delay_ms"] / 10000.0, rel=1e-6)
    sizes = np.asarray(info["video_sizes"])
    assert obs[4, :6] == pytest.approx(sizes[:, info["chunk_index"]] / 1e6, rel=1e-6)
    assert obs[5, -1] == pytest.approx(info["chunks_remaining"] / 48.0)
    # the two columns past the 6 sizes look ahead: the following chunks at the bitrate just chosen
    assert obs[4, 6:] == pytest.approx(sizes[5, info["chunk_index"] + 1:info["chunk_index"] + 3] / 1e6, rel=1e-6)


def test_test_protocol_walks_traces_in_order():
    env = ABREnv("fcc-test", train=False)
    _, info = env.reset(seed=1)
    assert info["trace_index"] == 0
    assert env.reset()[1]["trace_index"] == 1
    assert env.reset(seed=7)[1]["trace_index"] == 0
    assert env.reset(options={"trace_index": 42})[1]["trace_index"] == 42
    with pytest.raises(ConfigError):
        env.reset(options={"trace_index": 100})


def test_training_protocol_is_seeded_and_noisy():
    def rollout(seed):
        env = ABREnv("hsdpa-train", train=True)
        obs, info = env.reset(seed=seed)
        out = [obs]
        for q in [0, 3, 5, 1] * 5:
            out.append(env.step(q)[0])
        return np.stack(out), info["trace_index"]

    a, b, c = rollout(3), rollout(3), rollout(4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    noisy = ABREnv("fcc-test", train=False, delay_noise=True)
    clean = ABREnv("fcc-test", train=False)
    assert noisy.reset(seed=0)[1]["delay_ms"] != clean.reset(seed=0)[1]["delay_ms"]


def test_bba_map():
    bba = BBA()
    assert bba.act(None, {"buffer_s": 4.9}) == 0
    assert bba.act(None, {"buffer_s": 15.0}) == 5
    assert bba.act(None, {"buffer_s": 10.0}) == 2  # (10 - 5) / 10 x 5 = 2.5 -> 2


def test_rate_based_picks_highest_bitrate_under_harmonic_mean():
    rb = RateBased()
    rb.reset()
    # 1.5 MB per 1000 ms = 1.5 MB/s = 12 Mbit/s, then 0.25 MB/s = 2 Mbit/s: harmonic mean 3.43 Mbit/s
    assert rb.act(None, {"chunk_bytes": 1_500_000, "delay_ms": 1000.0}) == 5
    assert rb.act(None, {"chunk_bytes": 250_000, "delay_ms": 1000.0}) == 4


def test_mpc_follows_bandwidth():
    sizes = tuple(tuple([int(k * 500_000)] * 49) for k in (0.3, 0.75, 1.2, 1.85, 2.85, 4.3))
    info = {"quality": 0, "buffer_s": 20.0, "chunk_index": 10, "video_sizes": sizes}
    fast, slow = RobustMPC(), RobustMPC()
    fast.reset(), slow.reset()
    assert fast.act(None, {**info, "chunk_bytes": 10_000_000, "delay_ms": 100.0}) == 5
    assert slow.act(None, {**info, "buffer_s": 0.5, "chunk_bytes": 10_000, "delay_ms": 1000.0}) == 0


def test_fcc_protocol_bba_and_mpc():
    """Acceptance: BBA in [0.70, 0.80] (the data README measures 0.764), robustMPC above BBA, and
    NetLLM's robustMPC variant near NetLLM's reported 0.85."""
    env = ABREnv("fcc-test", train=False)
    bba = evaluate_abr(BBA(), env)
    assert bba.chunks == 100 * 47
    assert 0.70 <= bba.qoe <= 0.80
    assert bba.qoe == pytest.approx(0.764, abs=0.002)
    mpc = evaluate_abr(RobustMPC(), env)
    netllm = evaluate_abr(RobustMPC.netllm_variant(), env)
    assert mpc.qoe > bba.qoe
    assert 0.80 <= netllm.qoe <= 0.90
    assert mpc.qoe > netllm.qoe  # the full search beats the one-level-switch variant


def test_native_vector_env_matches_sync_vector_env():
    actions = np.random.default_rng(0).integers(6, size=(60, 3))
    runs = []
    for mode in ("vector_entry_point", "sync"):
        vec = gym.make_vec("hwsim/ABR-v0", num_envs=3, vectorization_mode=mode)
        runs.append([vec.reset(seed=11)] + [vec.step(a) for a in actions])
    assert type(gym.make_vec("hwsim/ABR-v0", num_envs=2)).__name__ == "ABRVectorEnv"
    for native, sync in zip(*runs):
        assert data_equivalence(native, sync)


def test_longest_delivery_matches_the_simulator_from_every_start():
    """The exact delivery-time bound equals the worst the simulator does from a dense grid of starts
    (row boundaries and points inside rows), on a trace with a zero-rate stretch."""
    rows = [(0.0, 1.0), (1.0, 2.0), (2.5, 0.0), (4.0, 0.5), (5.0, 3.0), (6.0, 0.0), (7.0, 1.5)]
    trace = Trace("t", tuple(t for t, _ in rows), tuple(m * 1e6 / 8.0 for _, m in rows))
    size = 400_000
    worst = 0.0
    for start_row in range(1, len(rows)):
        for frac in np.linspace(0.0, 0.999, 60):
            sim = ABRSimulator([[size] * 49] * 6)
            sim.start(trace, start_row)
            sim.last_time += frac * (trace.times[start_row] - sim.last_time)
            delay_ms, *_ = sim.download(0)
            worst = max(worst, (delay_ms - 80.0) / 1000.0)
    bound = trace.longest_delivery_s(size, 0.95)
    assert bound >= worst - 1e-9
    assert bound == pytest.approx(worst, rel=2e-2)  # the grid comes within 2 % of the exact maximum


def test_observation_bounds_are_the_real_ones():
    env = ABREnv("fcc-test", train=False)
    high = env.observation_space.high.reshape(6, 8)
    assert high[2, 0] < 1.0 and high[3, 0] < 10.0  # MB/s and download time / 10 s of this trace set
    seen = np.zeros((6, 8))
    for index in range(len(env.traces)):  # the top bitrate throughout: the longest downloads
        obs, info = env.reset(options={"trace_index": index})
        done = False
        while not done:
            assert env.observation_space.contains(obs)
            seen = np.maximum(seen, obs.reshape(6, 8))
            obs, _, done, _, info = env.step(5)
    assert seen[2, -1] > 0.5 * high[2, 0] and seen[3, -1] > 0.5 * high[3, 0]


def test_robust_mpc_does_not_depend_on_plan_order():
    env = ABREnv("fcc-test", train=False)
    plain = evaluate_abr(RobustMPC(), env)
    shuffled = RobustMPC()
    rng = np.random.default_rng(0)
    for h in shuffled.plans:
        order = rng.permutation(len(shuffled.plans[h]))
        shuffled.plans[h] = shuffled.plans[h][order]
        shuffled.base[h] = shuffled.base[h][:, order]
        shuffled.code[h] = shuffled.code[h][order]
    other = evaluate_abr(shuffled, env)
    assert other.per_trace_qoe == plain.per_trace_qoe


def test_robust_mpc_breaks_exact_ties_by_the_plan_not_by_rounding():
    """(1,1,1,2,2) and (2,2,2,1,1) have the same QoE (float sums gave 4.2 and 4.199999999999999): equal
    plans go to the lexicographically greatest, Pensieve's choice."""
    mpc = RobustMPC()
    plans, base = mpc.plans[5], mpc.base[5][1]
    a = int(np.flatnonzero((plans == [1, 1, 1, 2, 2]).all(axis=1))[0])
    b = int(np.flatnonzero((plans == [2, 2, 2, 1, 1]).all(axis=1))[0])
    assert base[a] == base[b]
    sizes = tuple(tuple([1000] * 49) for _ in range(6))  # tiny chunks: no plan rebuffers
    info = {"quality": 5, "buffer_s": 30.0, "chunk_index": 10, "video_sizes": sizes,
            "chunk_bytes": 1_000_000, "delay_ms": 1000.0}
    mpc.reset()
    assert mpc.act(None, info) == 5  # all plans at the top bitrate tie with nothing; it wins outright


def test_native_vector_env_same_step_autoreset_matches_sync():
    actions = np.random.default_rng(1).integers(6, size=(100, 3))
    runs = []
    for mode in ("vector_entry_point", "sync"):
        vec = gym.make_vec("hwsim/ABR-v0", num_envs=3, vectorization_mode=mode,
                           **({"autoreset_mode": "same_step"} if mode != "sync" else {}),
                           **({"vector_kwargs": {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}}
                              if mode == "sync" else {}))
        out = [vec.reset(seed=3)[0]]
        finals = []
        for a in actions:
            obs, reward, terminated, truncated, info = vec.step(a)
            out += [obs, reward, terminated, truncated]
            if "final_obs" in info:
                finals += [o for o, m in zip(info["final_obs"], info["_final_obs"]) if m]
        runs.append((out, finals))
    (native, native_finals), (sync, sync_finals) = runs
    assert all(np.array_equal(x, y) for x, y in zip(native, sync))
    assert len(native_finals) == len(sync_finals) >= 3
    assert all(np.array_equal(x, y) for x, y in zip(native_finals, sync_finals))


def test_vector_env_plays_one_trace_per_environment():
    from agents.abr.vector import ABRVectorEnv

    vec = ABRVectorEnv(num_envs=3, trace_set="fcc-test", train=False)
    _, info = vec.reset(options={"trace_index": [4, 0, 9]})
    assert info["trace_index"].tolist() == [4, 0, 9]
    with pytest.raises(ConfigError):
        vec.reset(options={"trace_index": [1, 2]})
    with pytest.raises(ConfigError):
        vec.step(np.array([0, 6, 1]))


def test_rgb_render_shows_the_episode():
    env = ABREnv("fcc-test", train=False, render_mode="rgb_array")
    env.reset(seed=0)
    for q in (0, 3, 5, 5, 2):
        env.step(q)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape[2] == 3 and frame.std() > 0
    text = ABREnv("fcc-test", train=False, render_mode="ansi")
    text.reset(seed=0)
    text.step(4)
    assert "2850" in text.render()
    with pytest.raises(ConfigError):
        ABREnv(render_mode="human")
