"""Experience pools (collection, files, bad files) and backbones (names, paths, the shipped
SmolLM2-135M GGUF file; loading the real weights is a slow test)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.netllm.adapt import collect_pool
from agents.netllm.backbone import SMOLLM2, BackboneSpec, backbone_config, load_backbone, smollm2_gguf
from agents.netllm.pool import ExperiencePool
from agents.netllm.tasks import get_task
from hwsim.errors import ConfigError, DataError


def test_collect_records_whole_episodes_of_each_policy(tmp_path):
    pool = collect_pool(get_task("abr"), ["bba", "rate"], episodes=2, seed=5)
    assert pool.policy_names == ("bba", "rate") and pool.env_id == "hwsim/ABR-v0"
    assert len(pool.episodes()) == 4 and all(s.stop - s.start == 47 for s in pool.episodes())
    assert pool.observations.shape == (4 * 47, 48) and pool.targets is None
    summary = pool.summary()
    assert summary["policies"]["bba"]["episodes"] == 2 and summary["policies"]["rate"]["steps"] == 94
    # both policies met the same two episodes (same seeds): same first observation
    assert np.array_equal(pool.observations[0], pool.observations[94])
    loaded = ExperiencePool.load(pool.save(tmp_path / "pool.npz"))
    for name in ("observations", "actions", "rewards", "dones", "policies"):
        assert np.array_equal(getattr(loaded, name), getattr(pool, name)), name
    assert loaded.policy_names == pool.policy_names


def test_viewport_pool_holds_the_true_futures():
    pool = collect_pool(get_task("vp"), None, episodes=2)
    assert pool.targets is not None and pool.targets.shape[1:] == (20, 3)
    assert np.all(np.abs(pool.targets) <= 1.0)
    assert len(pool.episodes()) == 2


def test_bad_pool_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="not an experience pool"):
        ExperiencePool.load(bad)
    with pytest.raises(DataError, match="does not exist"):
        ExperiencePool.load(tmp_path / "none.npz")
    with pytest.raises(DataError, match="disagree in length"):
        ExperiencePool(np.zeros((3, 2)), np.zeros(2), np.zeros(3), np.ones(3, bool), np.zeros(3, int), ("a",), "x")
    with pytest.raises(DataError, match="finished episode"):
        ExperiencePool(np.zeros((3, 2)), np.zeros(3), np.zeros(3), np.zeros(3, bool), np.zeros(3, int), ("a",), "x")


def test_backbone_names():
    assert BackboneSpec(SMOLLM2, random_weights=True, num_layers=6).label == "smollm2-135m[:6] random"
    with pytest.raises(ConfigError):
        BackboneSpec("tiny", num_layers=0)
    with pytest.raises(DataError, match="does not exist"):
        backbone_config("./no/such/model")
    with pytest.raises(DataError, match="GGUF file"):
        backbone_config("/no/such/model.gguf")


def test_smollm2_is_found_in_the_installed_wheel():
    path = smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    with open(path, "rb") as fh:
        assert fh.read(4) == b"GGUF"


@pytest.mark.slow
def test_smollm2_weights_are_the_pretrained_ones():
    """The dequantised GGUF weights are a working language model; the random ablation is not."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    config = backbone_config(SMOLLM2)  # metadata only
    assert (config.model_type, config.hidden_size, config.num_hidden_layers) == ("llama", 576, 30)
    backbone = load_backbone(BackboneSpec(SMOLLM2))
    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert len(tokenizer) == backbone.model.config.vocab_size == 49152
    lm = LlamaForCausalLM(backbone.model.config)
    lm.model = backbone.model
    lm.lm_head.weight = backbone.model.embed_tokens.weight  # tied embeddings
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        out = lm.generate(ids, max_new_tokens=4, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1]:])
    random = load_backbone(BackboneSpec(SMOLLM2, random_weights=True, num_layers=2))
    q_random, q_trained = (b.model.layers[0].self_attn.q_proj.weight for b in (random, backbone))
    assert not torch.allclose(q_random, q_trained)
