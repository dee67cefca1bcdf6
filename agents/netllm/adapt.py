"""The adaptation pipeline end to end, as the command line and the benchmark run it: collect an
experience pool, train a run (``runs/<name>/``: ``config.json``, ``metrics.jsonl``, ``checkpoint.pt``
that ``resume`` continues, ``curves.png``, ``train.json``), rebuild a trained model from its run
folder, and evaluate any policy in the task's test environment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym

import agents  # noqa: F401  (registers the environments)
from agents.netllm.backbone import BackboneSpec, load_backbone
from agents.netllm.evaluate import BatchPolicy, PerEnvPolicies, play_episodes
from agents.netllm.lora import LoRAConfig, apply_lora, load_trainable_state, parameter_counts, trainable_state
from agents.netllm.offline_rl import ReturnStats, train_offline
from agents.netllm.policy import DecisionPolicy, TrajectoryPolicy
from agents.netllm.pool import ExperiencePool, collect
from agents.netllm.supervised import train_supervised
from agents.netllm.tasks import Task, build_model, env_spaces, get_task
from agents.netllm.training import NetLLMTrainConfig
from hwsim.errors import ConfigError, DataError
from hwsim.runs import RunRecord

RUN_FORMAT = 1
DEFAULT_EPISODES = 50


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible to torch, else ``cpu``; other names pass through."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for but torch sees no CUDA GPU; use --device cpu or auto")
    return name


def collect_pool(task: Task, policies: Sequence[str] | None = None, episodes: int | None = None, seed: int = 0,
                 env_id: str | None = None) -> ExperiencePool:
    """The experience pool of ``task``: each policy (default: the task's) plays ``episodes``
    episodes of the training environment (every episode in order for tasks that walk them)."""

    env_id = env_id or task.train_env
    options = None
    if task.walk_episodes:
        probe = gym.make(env_id)
        count = task.episode_count(probe)
        probe.close()
        episodes = count if episodes is None else min(episodes, count)
        options = task.options
    elif episodes is None:
        episodes = DEFAULT_EPISODES
    names = list(policies or task.pool_policies)
    return collect(env_id, [task.make_policy(n) for n in names], episodes, seed=seed, target=task.target,
                   options=options, desc=f"collect {task.name}")


def build(task: Task, backbone: BackboneSpec, lora: LoRAConfig, config: NetLLMTrainConfig, spaces: dict[str, Any],
          max_timestep: int, device: str) -> Any:
    """Backbone (frozen) + LoRA + task model on ``device``; the new weights are seeded by ``config.seed``."""
    import torch


    net = load_backbone(backbone, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        apply_lora(net, lora)
        model = build_model(task, net, spaces, config, max_timestep)
    return model.to(device)


def _config_payload(task: Task, backbone: BackboneSpec, lora: LoRAConfig, config: NetLLMTrainConfig, pool_path: str,
                    pool: ExperiencePool, spaces: dict[str, Any], stats: Any) -> dict[str, Any]:
    return {"format": RUN_FORMAT, "task": task.name, "backbone": backbone.to_dict(), "lora": lora.to_dict(),
            "train": config.to_dict(), "pool": {"path": pool_path, **pool.summary()}, "spaces": spaces,
            "stats": stats.to_dict() if stats is not None else None}


def _resumable(saved: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether a run saved with configuration ``saved`` may continue under ``now``: everything equal
    except a larger step count, which a cosine schedule would not follow."""
    same = {k: v for k, v in saved.items() if k != "train"} == {k: v for k, v in now.items() if k != "train"}
    before, after = dict(saved["train"]), dict(now["train"])
    grown = after["steps"] >= before["steps"] and (after["steps"] == before["steps"] or after["schedule"] == "constant")
    before.pop("steps"), after.pop("steps")
    return same and before == after and grown


def train_run(task_name: str, pool_path: str | Path, run: str, runs_dir: str | Path = "runs",
              backbone: BackboneSpec | None = None, lora: LoRAConfig | None = None,
              config: NetLLMTrainConfig | None = None, device: str = "auto", resume: bool = False) -> dict[str, Any]:
    """Adapt the backbone to ``task_name`` on the pool at ``pool_path``, recording ``runs_dir/run``
    (``backbone``, ``lora`` and ``config`` default to their classes' defaults). With ``resume`` the run
    continues from its checkpoint (its saved configuration must match)."""
    backbone = BackboneSpec() if backbone is None else backbone
    lora = LoRAConfig() if lora is None else lora
    config = NetLLMTrainConfig() if config is None else config
    task = get_task(task_name)
    device = resolve_device(device)
    pool = ExperiencePool.load(pool_path)
    if pool.env_id.split("-")[0] != task.train_env.split("-")[0]:  # same family: hwsim/ABR-..., hwsim/Viewport-...
        raise DataError(f"pool {pool_path} was collected in {pool.env_id}, not in an environment of task "
                        f"'{task.name}'; collect one with 'hwsim netllm collect --task {task.name}'")
    spaces = env_spaces(pool.env_id)
    stats = ReturnStats.from_pool(pool, config) if task.kind == "offline-rl" else None
    payload = _config_payload(task, backbone, lora, config, str(pool_path), pool, spaces, stats)
    record = RunRecord(run, runs_dir, resume=resume)
    start_step, fit_state = 0, None
    checkpoint = record.load_checkpoint() if resume else None
    if resume and checkpoint is None:
        raise DataError(f"nothing to resume in {record.dir}: no checkpoint.pt; start the run without --resume")
    if checkpoint is not None and not _resumable(checkpoint["config"], payload):
        raise ConfigError(f"run {record.dir} was started with another configuration; resume with the same "
                          "options (only --steps may grow, and only with the constant schedule) or pick a new --run")
    model = build(task, backbone, lora, config, spaces, stats.max_timestep if stats else 0, device)
    if checkpoint is not None:
        load_trainable_state(model, checkpoint["trainable"])
        start_step, fit_state = int(checkpoint["step"]), checkpoint["fit"]
        record.truncate_after("step", start_step)
    record.write_json("config.json", payload)

    def save(step: int, state: dict[str, Any]) -> None:
        record.save_checkpoint({"step": step, "trainable": trainable_state(model), "fit": state, "config": payload})

    started = time.perf_counter()
    trainer = train_offline if task.kind == "offline-rl" else train_supervised
    args = (model, pool, stats, config) if task.kind == "offline-rl" else (model, pool, config)
    result = trainer(*args, device=device, start_step=start_step, resume=fit_state, log=record.log, checkpoint=save)
    result.update(run=str(record.dir), device=device, params=parameter_counts(model),
                  wall_s=time.perf_counter() - started, backbone=backbone.label)
    record.write_json("train.json", result)
    record.plot("step", ["loss", "accuracy"] if task.kind == "offline-rl" else ["loss"],
                title=f"{run}: {task.name} on {backbone.label}")
    return {"model": model, "task": task, "stats": stats, "result": result, "record": record}


def load_run(run_dir: str | Path, device: str = "auto") -> dict[str, Any]:
    """Rebuild the trained model of a run folder (its configuration and last checkpoint)."""

    run_dir = Path(run_dir)
    config_path, ckpt_path = run_dir / "config.json", run_dir / "checkpoint.pt"
    if not config_path.exists() or not ckpt_path.exists():
        raise DataError(f"{run_dir} is not a trained run (needs config.json and checkpoint.pt); "
                        "train one with 'hwsim netllm train'")
    cfg = json.loads(config_path.read_text())
    if cfg.get("format") != RUN_FORMAT:
        raise DataError(f"{config_path} has run format {cfg.get('format')}; this version reads {RUN_FORMAT}")
    import torch

    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    task = get_task(cfg["task"])
    config = NetLLMTrainConfig(**cfg["train"])
    stats = ReturnStats(**cfg["stats"]) if cfg["stats"] else None
    device = resolve_device(device)
    lora = LoRAConfig(**{**cfg["lora"], "targets": tuple(cfg["lora"]["targets"])})
    model = build(task, BackboneSpec(**cfg["backbone"]), lora, config, cfg["spaces"],
                  stats.max_timestep if stats else 0, device)
    load_trainable_state(model, checkpoint["trainable"])
    return {"model": model.eval(), "task": task, "stats": stats, "config": config, "step": int(checkpoint["step"]),
            "meta": cfg}


def make_policy(task: Task, model: Any, stats: Any = None, config: NetLLMTrainConfig | None = None, greedy: bool = True,
                seed: int = 0, name: str | None = None) -> Any:
    """The trained ``model`` as a policy of ``task``'s environments."""
    if task.kind == "offline-rl":
        scale = config.target_return_scale if config is not None else 1.0
        return DecisionPolicy(model, stats, task.reward_key, scale, greedy=greedy, seed=seed,
                              name=name or f"netllm-{task.name}")
    return TrajectoryPolicy(model, name=name or f"netllm-{task.name}")


def evaluate(task: Task, policy: Any, env_id: str | None = None, episodes: int | None = None,
             batch: int = 128) -> dict[str, Any]:
    """Play every test episode (or the first ``episodes``) of ``task`` with ``policy``: a batch policy
    (``batch`` episodes at a time), a factory of :class:`agents.policy.Policy` objects (one fresh copy
    per episode, e.g. a baseline class) or one policy instance (episodes one after another).
    Returns the task's summary with the wall time."""

    env_id = env_id or task.test_env
    probe = gym.make(env_id)
    count = task.episode_count(probe)
    probe.close()
    n = count if episodes is None else min(int(episodes), count)
    if n < 1:
        raise ConfigError("evaluate needs at least one episode")
    if isinstance(policy, BatchPolicy):
        players = policy
    elif not isinstance(policy, type) and hasattr(policy, "act"):  # one instance: episodes one after another
        players, batch = PerEnvPolicies(lambda: policy), 1
    else:  # a factory of fresh policies (a baseline class): one copy per episode
        players = PerEnvPolicies(policy)
    started = time.perf_counter()
    played = play_episodes(lambda: gym.make(env_id), players, [task.options(i) for i in range(n)], batch=batch,
                           desc=f"evaluate {players.name}")
    summary = task.summarise(played)
    summary.update(env_id=env_id, episodes=n, policy=players.name, eval_s=time.perf_counter() - started)
    return summary


def summary_row(summary: dict[str, Any]) -> str:
    """One line of text for an evaluation summary."""
    return (f"{summary['policy']}: {summary['metric']} {summary['value']:.4f} over {summary['episodes']} episodes "
            f"of {summary['env_id']} ({summary['eval_s']:.1f} s)")


