"""The adapted model's parts with the tiny backbone: only LoRA, encoders and heads train; the
step-by-step cached policy computes exactly what training computes; training learns."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from agents.netllm.adapt import build
from agents.netllm.backbone import BackboneSpec, band_mask, load_backbone
from agents.netllm.lora import LoRAConfig, apply_lora, load_trainable_state, parameter_counts, trainable_state
from agents.netllm.offline_rl import DecodeState, ReturnStats, make_sequences, train_offline
from agents.netllm.pool import ExperiencePool
from agents.netllm.tasks import get_task
from agents.netllm.training import NetLLMTrainConfig
from hwsim.errors import ConfigError, DataError, ShapeError

ABR_SPACES = {"observation_shape": [6, 8], "action": {"type": "discrete", "n": 6}}
VP_SPACES = {"observation_shape": [10, 3], "action": {"type": "box", "shape": [20, 3]}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _abr_model(context: int = 20, rank: int = 4, seed: int = 0):
    return build(get_task("abr"), BackboneSpec("tiny"), LoRAConfig(rank=rank),
                 NetLLMTrainConfig(context=context, seed=seed),
                 ABR_SPACES, 60, "cpu")


def test_only_adapters_encoders_and_heads_train():
    model = _abr_model()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    backbone_trained = [n for n in names if n.startswith("backbone.") and "lora_" not in n]
    assert not backbone_trained
    assert any("q_proj.lora_A" in n for n in names) and any("v_proj.lora_B" in n for n in names)
    assert not any("k_proj.lora" in n or "mlp" in n and "lora" in n for n in names)
    assert any(n.startswith("state_encoder.") for n in names) and any(n.startswith("head.") for n in names)
    counts = parameter_counts(model)
    assert 0 < counts["lora"] < counts["trainable"] < counts["total"]
    frozen = parameter_counts(_abr_model(rank=0))
    assert frozen["lora"] == 0 and frozen["trainable"] == counts["trainable"] - counts["lora"]


def test_trainable_state_round_trip_and_mismatch():
    a, b = _abr_model(seed=0), _abr_model(seed=1)
    state = trainable_state(a)
    assert any(not torch.equal(state[k], dict(b.named_parameters())[k].detach()) for k in state)
    load_trainable_state(b, state)
    assert all(torch.equal(state[k], dict(b.named_parameters())[k].detach()) for k in state)
    with pytest.raises(DataError, match="does not match"):
        load_trainable_state(_abr_model(rank=0), state)
    with pytest.raises(DataError, match="has shape"):
        load_trainable_state(_abr_model(rank=2), state)


def test_lora_target_names_are_checked():
    backbone = load_backbone(BackboneSpec("tiny"))
    with pytest.raises(ConfigError, match="not linear layers"):
        apply_lora(backbone, LoRAConfig(rank=2, targets=("query",)))


def test_random_backbones_are_reproducible_and_layers_can_be_cut():
    a, b = load_backbone(BackboneSpec("tiny", seed=3)), load_backbone(BackboneSpec("tiny", seed=3))
    c = load_backbone(BackboneSpec("tiny", seed=4))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert load_backbone(BackboneSpec("tiny", num_layers=1)).num_layers == 1


def test_band_mask_limits_look_back_to_context_steps():
    pos = torch.arange(6)
    steps = pos // 2  # two tokens per step
    allowed = band_mask(steps, steps, pos, pos, 2, torch.float32)[0, 0] == 0
    assert allowed[5].tolist() == [False, False, True, True, True, True]  # steps 1 and 2, causal
    assert allowed[2].tolist() == [True, True, True, False, False, False]
    assert not allowed[0, 1]


@pytest.mark.parametrize("context", [1, 3, 50])
def test_cached_acting_equals_the_training_forward(context):
    model = _abr_model(context=context).eval()
    with torch.no_grad():  # make the adapters matter
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    gen = torch.Generator().manual_seed(0)
    b, s = 3, 9
    obs = torch.rand(b, s, 6, 8, generator=gen)
    prev = torch.randint(0, 7, (b, s), generator=gen)
    rtg, ts = torch.rand(b, s, generator=gen), torch.arange(s).expand(b, s)
    with torch.no_grad():
        full = model(obs, prev, rtg, ts)
    state = DecodeState()
    steps = torch.stack([model.act_step(state, obs[:, i], prev[:, i], rtg[:, i], ts[:, i]) for i in range(s)], 1)
    assert torch.allclose(full, steps, atol=1e-5)
    if context < s:  # the band matters: attending to everything would give other logits
        wide = _abr_model(context=50).eval()
        wide.load_state_dict(model.state_dict())
        with torch.no_grad():
            assert not torch.allclose(wide(obs, prev, rtg, ts), full, atol=1e-4)


def _toy_pool(episodes: int = 6, length: int = 12) -> ExperiencePool:
    """Action = 1 when the buffer row's last value is above 0.5, else 4; reward = 1 for the good action."""
    rng = np.random.default_rng(0)
    obs = rng.random((episodes * length, 6, 8)).astype(np.float32)
    actions = np.where(obs[:, 1, -1] > 0.5, 1, 4)
    rewards = rng.random(len(actions))
    dones = np.zeros(len(actions), dtype=bool)
    dones[length - 1::length] = True
    policies = np.zeros(len(actions), dtype=np.int64)
    return ExperiencePool(obs, actions, rewards, dones, policies, ("toy",), "hwsim/ABR-v0")


def test_returns_and_sequences():
    pool = _toy_pool(episodes=2, length=5)
    config = NetLLMTrainConfig(return_scale=2.0, max_seq_steps=3)
    stats = ReturnStats.from_pool(pool, config)
    rtg = stats.returns_to_go(pool.rewards[:5])
    norm = (pool.rewards[:5] - pool.rewards.min()) / (pool.rewards.max() - pool.rewards.min()) / 2.0
    assert np.allclose(rtg, np.cumsum(norm[::-1])[::-1])
    assert stats.max_timestep == 5
    assert stats.max_return == pytest.approx(max(rtg[0], stats.returns_to_go(pool.rewards[5:])[0]))
    seq = make_sequences(pool, stats, 6, max_seq_steps=3)
    assert len(seq) == 4 and seq.valid.sum() == 10  # each 5-step episode -> pieces of 3 and 2 steps
    assert seq.prev[0, 0] == 6 and seq.prev[0, 1] == pool.actions[0] and seq.prev[1, 0] == pool.actions[2]
    assert seq.timesteps[1, :2].tolist() == [3, 4] and not seq.valid[1, 2]
    with pytest.raises(DataError, match="0..3"):
        make_sequences(pool, stats, 4, 3)


def test_offline_training_learns_the_pool_policy():
    pool = _toy_pool()
    config = NetLLMTrainConfig(steps=60, batch_size=4, lr=3e-3, warmup=1, log_every=10, context=4)
    stats = ReturnStats.from_pool(pool, config)
    model = build(get_task("abr"), BackboneSpec("tiny"), LoRAConfig(rank=4), config, ABR_SPACES, stats.max_timestep,
                  "cpu")
    logs = []
    result = train_offline(model, pool, stats, config, log=lambda **m: logs.append(m))
    assert result["final_loss"] < 0.5 * result["first_loss"]
    assert logs[-1]["accuracy"] > 0.9 and [m["step"] for m in logs] == [10, 20, 30, 40, 50, 60]


def test_state_encoder_checks_shapes():
    model = _abr_model()
    with pytest.raises(ShapeError, match=r"\(6, 8\)"):
        model.state_encoder(torch.zeros(2, 6, 6))


def test_vp_model_predicts_bounded_trajectories():
    model = build(get_task("vp"), BackboneSpec("tiny"), LoRAConfig(rank=2), NetLLMTrainConfig(), VP_SPACES, 0, "cpu")
    hist = np.random.default_rng(0).uniform(-1, 1, (5, 10, 3)).astype(np.float32)
    pred = model.predict(hist)
    assert pred.shape == (5, 20, 3) and np.all(np.abs(pred) <= 1.0)
    assert np.allclose(pred, hist[:, -1:, :], atol=1e-6)  # the zero-initialised head starts at "stay"
    with pytest.raises(ShapeError):
        model.predict(hist[:, :, :2])


def test_a_resumed_run_equals_an_uninterrupted_one():
    pool = _toy_pool()
    config = NetLLMTrainConfig(steps=4, batch_size=2, lr=1e-3, warmup=2, checkpoint_every=2, context=4)
    stats = ReturnStats.from_pool(pool, config)

    def fresh():
        return build(get_task("abr"), BackboneSpec("tiny"), LoRAConfig(rank=4, dropout=0.1), config, ABR_SPACES,
                     stats.max_timestep, "cpu")

    straight = fresh()
    saved = {}

    def keep(step, state):  # the optimiser's state dict holds live tensors: copy it as a file would
        saved[step] = (trainable_state(straight), copy.deepcopy(state))

    train_offline(straight, pool, stats, config, checkpoint=keep)
    resumed = fresh()
    weights, state = saved[2]
    load_trainable_state(resumed, weights)
    train_offline(resumed, pool, stats, config, start_step=2, resume=state)
    a, b = trainable_state(straight), trainable_state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_learning_rate_schedules():
    from agents.netllm.training import lr_factor

    constant = NetLLMTrainConfig(steps=100, warmup=10)
    cosine = NetLLMTrainConfig(steps=100, warmup=10, schedule="cosine")
    assert [lr_factor(constant, s) for s in (0, 4, 9, 50, 99)] == pytest.approx([0.1, 0.5, 1.0, 1.0, 1.0])
    assert [lr_factor(cosine, s) for s in (0, 9)] == pytest.approx([0.1, 1.0])
    assert lr_factor(cosine, 54) == pytest.approx(0.5, abs=0.02) and lr_factor(cosine, 99) == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="schedule"):
        NetLLMTrainConfig(schedule="step")
