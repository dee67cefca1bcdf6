"""PPO on hwsim's native vector environments, CleanRL style: one config dataclass, one loop, read top
to bottom.

The environments' native vector form (:class:`agents.envs.vector.NativeVectorEnv`, same-step
autoreset) is stepped with one batched torch forward pass per step; every ``num_steps`` steps the
rollout is scored with GAE and the policy and value are updated for ``update_epochs`` epochs of
clipped-surrogate minibatches. Observations are normalised by a running mean and std, rewards by
the running std of the discounted return (gymnasium's ``NormalizeObservation`` / ``NormalizeReward``
semantics), both clipped; both statistics are saved with the weights and used when acting.
Episodes cut by a time limit are bootstrapped from the final observation's value.

Every ``eval_every`` environment steps the deterministic policy (most likely action) is scored on
the environment family's test protocol (:mod:`agents.rl.tasks`), and the run record gets a JSONL
line, a checkpoint that ``resume`` continues from, and a learning-curve PNG with the baselines of
the same protocol as horizontal lines.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from agents.rl.curve import plot_learning_curve
from agents.rl.networks import build_network
from agents.rl.tasks import RLTask, env_kwargs, get_task
from hwsim.errors import ConfigError
from hwsim.progress import progress
from hwsim.runs import RunRecord


@dataclass
class PPOTrainConfig:
    """Everything a PPO run depends on (CleanRL's names where they exist)."""

    env_id: str = "hwsim/ABR-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    total_steps: int = 20_000_000  # environment steps (decisions), over all environments
    num_envs: int = 128
    num_steps: int = 128  # steps per environment per rollout
    update_epochs: int = 4
    num_minibatches: int = 4
    learning_rate: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.05
    # None: constant ent_coef; a number: ent_coef annealed linearly to it (as Pensieve anneals). On ABR
    # annealing to 0.005 collapsed the policy (FCC QoE 0.805 after 3M steps against 0.951 at constant 0.05)
    ent_coef_final: float | None = None
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    norm_adv: bool = True
    normalize_obs: bool = True
    normalize_reward: bool = True
    clip_obs: float = 10.0
    clip_reward: float = 10.0
    hidden: tuple[int, ...] = (64, 64)
    seed: int = 0
    torch_threads: int = 1
    eval_every: int = 1_000_000  # environment steps between evaluations and checkpoints (0: only at the end)

    def check(self) -> None:
        """Raise :class:`~hwsim.errors.ConfigError` on settings that cannot train."""
        if self.num_envs < 1 or self.num_steps < 1 or self.update_epochs < 1:
            raise ConfigError("num_envs, num_steps and update_epochs must be >= 1")
        if self.num_minibatches < 1 or (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ConfigError(f"num_minibatches ({self.num_minibatches}) must divide num_envs x num_steps "
                              f"({self.num_envs * self.num_steps})")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError("gamma must be in (0, 1] and gae_lambda in [0, 1]")
        if self.total_steps < self.num_envs * self.num_steps:
            raise ConfigError(f"total_steps ({self.total_steps}) is less than one rollout "
                              f"(num_envs x num_steps = {self.num_envs * self.num_steps})")


class RunningMeanStd:
    """Running mean and variance over batches (parallel Welford, as gymnasium's normalisation wrappers)."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        """Fold a batch (first axis) into the statistics."""
        mean, var, n = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        """The statistics, for a checkpoint."""
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore statistics saved by :meth:`state_dict`."""
        self.mean, self.var, self.count = np.asarray(state["mean"]), np.asarray(state["var"]), float(state["count"])


class Agent:
    """A trained (or training) policy: the network and the observation statistics it was trained with.
    ``act(obs, masks)`` is the batched deterministic policy the test protocols play."""

    def __init__(self, net: torch.nn.Module, obs_rms: RunningMeanStd | None, clip_obs: float,
                 action_space: gym.Space) -> None:
        self.net, self.obs_rms, self.clip_obs = net, obs_rms, float(clip_obs)
        self.action_space = action_space

    def normalize(self, obs: np.ndarray) -> torch.Tensor:
        """The network's input for raw observations."""
        obs = np.asarray(obs, dtype=np.float64)
        if self.obs_rms is not None:
            obs = np.clip((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -self.clip_obs, self.clip_obs)
        return torch.as_tensor(obs, dtype=torch.float32)

    def act(self, obs: np.ndarray, masks: np.ndarray | None = None, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of raw observations (the most likely ones when ``deterministic``)."""
        with torch.no_grad():
            dist = self.net.dist(self.normalize(obs), None if masks is None else torch.as_tensor(masks))
            action = dist.mode if deterministic else dist.sample()
        action = action.numpy()
        if isinstance(self.action_space, gym.spaces.Box):
            action = np.clip(action.reshape(len(action), *self.action_space.shape),
                             self.action_space.low, self.action_space.high)
        return action

    def __call__(self, obs: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        return self.act(obs, masks)


@dataclass
class PPOTrainResult:
    """What a run ends with: the agent, its last test scores, and where the time went."""

    agent: Agent
    metrics: dict[str, float]
    references: dict[str, dict[str, float]]
    env_steps: int
    train_seconds: float  # wall-clock of rollouts and updates (what the throughput counts)
    eval_seconds: float
    steps_per_second: float  # env_steps / train_seconds, inference and updates included
    train_cpu_seconds: float = 0.0  # CPU time of this process over rollouts and updates
    history: list[dict[str, Any]] = field(default_factory=list)


def make_vector_env(cfg: PPOTrainConfig, num_envs: int | None = None) -> gym.vector.VectorEnv:
    """The native vector environment of ``cfg.env_id`` with same-step autoreset."""
    return gym.make_vec(cfg.env_id, num_envs=num_envs or cfg.num_envs, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.SAME_STEP, **cfg.env_kwargs)


def train_ppo(cfg: PPOTrainConfig, run: RunRecord | None = None, resume: bool = False,
              show_progress: bool = True) -> PPOTrainResult:
    """Train PPO as configured; with ``run``, log, checkpoint and plot there (``resume`` continues
    from its checkpoint)."""
    cfg.check()
    torch.set_num_threads(cfg.torch_threads)
    task: RLTask = get_task(cfg.env_id)
    kwargs = env_kwargs(cfg.env_id, cfg.env_kwargs)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)

    envs = make_vector_env(cfg)
    obs_shape = envs.single_observation_space.shape
    act_space = envs.single_action_space
    net = build_network(task.network, obs_shape, act_space, cfg.hidden, task.layout(kwargs))
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, eps=1e-5)
    obs_rms = RunningMeanStd(obs_shape) if cfg.normalize_obs else None
    ret_rms = RunningMeanStd(())
    agent = Agent(net, obs_rms, cfg.clip_obs, act_space)

    n, t_len = cfg.num_envs, cfg.num_steps
    batch_size = n * t_len
    minibatch = batch_size // cfg.num_minibatches
    num_updates = cfg.total_steps // batch_size
    eval_every = max(1, cfg.eval_every // batch_size) if cfg.eval_every else num_updates
    start_update, global_step, train_s, train_cpu_s, eval_s = 0, 0, 0.0, 0.0, 0.0
    history: list[dict[str, Any]] = []
    last_metrics: dict[str, float] = {}
    if resume and run is not None and (state := run.load_checkpoint()) is not None:
        if state["config"]["env_id"] != cfg.env_id:
            raise ConfigError(f"the checkpoint in {run.dir} trained {state['config']['env_id']}, not {cfg.env_id}")
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        if obs_rms is not None:
            obs_rms.load_state_dict(state["obs_rms"])
        ret_rms.load_state_dict(state["ret_rms"])
        start_update, global_step = state["update"], state["global_step"]
        train_s, eval_s = state["train_seconds"], state["eval_seconds"]
        train_cpu_s = state.get("train_cpu_seconds", 0.0)
        rng = np.random.default_rng([cfg.seed, start_update])
        torch.manual_seed(cfg.seed * 1_000_003 + start_update)
        run.truncate_after("step", global_step)
        history = run.metrics()
    references = task.references(kwargs)

    # rollout storage
    obs_buf = torch.zeros((t_len, n, *obs_shape))
    is_box = isinstance(act_space, gym.spaces.Box)  # Gaussian policies act on the flattened Box
    act_shape = (math.prod(act_space.shape),) if is_box else act_space.shape
    act_buf = torch.zeros((t_len, n, *act_shape), dtype=torch.float32 if is_box else torch.long)
    logp_buf = torch.zeros((t_len, n))
    rew_buf = torch.zeros((t_len, n))
    done_buf = torch.zeros((t_len, n))
    val_buf = torch.zeros((t_len, n))
    mask_buf = None
    discounted = np.zeros(n)

    def observe(raw: np.ndarray) -> torch.Tensor:
        if obs_rms is not None:
            obs_rms.update(raw)
        return agent.normalize(raw)

    def masks_of(info: dict[str, Any]) -> torch.Tensor | None:
        return torch.as_tensor(np.asarray(info["action_mask"], dtype=bool)) if task.masked else None

    raw_obs, info = envs.reset(seed=int(rng.integers(2**31)))
    next_obs, next_mask = observe(raw_obs), masks_of(info)
    bar = progress(total=num_updates * batch_size, desc=f"ppo {cfg.env_id}", unit="step") if show_progress else None
    if bar is not None:
        bar.update(global_step)
    for update in range(start_update, num_updates):
        tick, cpu_tick = time.perf_counter(), time.process_time()
        frac = 1.0 - update / num_updates
        if cfg.anneal_lr:
            optimizer.param_groups[0]["lr"] = frac * cfg.learning_rate
        ent_coef = cfg.ent_coef
        if cfg.ent_coef_final is not None:
            ent_coef = cfg.ent_coef_final + frac * (cfg.ent_coef - cfg.ent_coef_final)

        # ---- rollout: num_steps batched steps of every environment
        for step in range(t_len):
            obs_buf[step] = next_obs
            if next_mask is not None:
                if mask_buf is None:
                    mask_buf = torch.zeros((t_len, *next_mask.shape), dtype=torch.bool)
                mask_buf[step] = next_mask
            with torch.no_grad():
                dist, val_buf[step] = net.dist_value(next_obs, next_mask)
                action = dist.sample()
                logp_buf[step] = dist.log_prob(action)
            act_buf[step] = action
            env_action = action.numpy().reshape(n, *act_space.shape) if is_box else action.numpy()
            raw_obs, reward, terminated, truncated, info = envs.step(env_action)
            reward = np.asarray(reward, dtype=np.float64)
            cut = truncated & ~terminated
            if cut.any():  # a time limit is not the end of the task: bootstrap from the final observation
                finals = np.stack([info["final_obs"][i] for i in np.flatnonzero(cut)])
                with torch.no_grad():
                    reward[cut] += cfg.gamma * net.value(agent.normalize(finals)).numpy() * np.sqrt(ret_rms.var + 1e-8)
            done = terminated | truncated
            if cfg.normalize_reward:
                discounted = discounted * cfg.gamma + reward
                ret_rms.update(discounted)
                discounted[done] = 0.0
                reward = np.clip(reward / np.sqrt(ret_rms.var + 1e-8), -cfg.clip_reward, cfg.clip_reward)
            rew_buf[step] = torch.as_tensor(reward, dtype=torch.float32)
            done_buf[step] = torch.as_tensor(done, dtype=torch.float32)
            next_obs, next_mask = observe(raw_obs), masks_of(info)
        global_step += batch_size

        # ---- generalised advantage estimation (done[t]: the episode ended at step t)
        with torch.no_grad():
            next_value = net.value(next_obs)
        advantages = torch.zeros_like(rew_buf)
        last = torch.zeros(n)
        for t in reversed(range(t_len)):
            nonterminal = 1.0 - done_buf[t]
            following = next_value if t == t_len - 1 else val_buf[t + 1]
            delta = rew_buf[t] + cfg.gamma * following * nonterminal - val_buf[t]
            last = delta + cfg.gamma * cfg.gae_lambda * nonterminal * last
            advantages[t] = last
        returns = advantages + val_buf

        # ---- clipped-surrogate updates over shuffled minibatches
        b_obs = obs_buf.reshape(batch_size, *obs_shape)
        b_act = act_buf.reshape(batch_size, *act_buf.shape[2:])
        b_logp, b_adv = logp_buf.reshape(-1), advantages.reshape(-1)
        b_ret, b_val = returns.reshape(-1), val_buf.reshape(-1)
        b_mask = None if mask_buf is None else mask_buf.reshape(batch_size, -1)
        stats: dict[str, float] = {}
        for _ in range(cfg.update_epochs):
            order = torch.as_tensor(rng.permutation(batch_size))
            for start in range(0, batch_size, minibatch):
                idx = order[start:start + minibatch]
                dist, value = net.dist_value(b_obs[idx], None if b_mask is None else b_mask[idx])
                logp = dist.log_prob(b_act[idx])
                log_ratio = logp - b_logp[idx]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean().item()
                    clipfrac = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean().item()
                adv = b_adv[idx]
                if cfg.norm_adv:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
                if cfg.clip_vloss:
                    clipped = b_val[idx] + (value - b_val[idx]).clamp(-cfg.clip_coef, cfg.clip_coef)
                    v_loss = 0.5 * torch.max((value - b_ret[idx]) ** 2, (clipped - b_ret[idx]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((value - b_ret[idx]) ** 2).mean()
                entropy = dist.entropy().mean()
                loss = pg_loss - ent_coef * entropy + cfg.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
                optimizer.step()
            if cfg.target_kl is not None and approx_kl > cfg.target_kl:
                break
        stats = {"pg_loss": pg_loss.item(), "v_loss": v_loss.item(), "entropy": entropy.item(),
                 "approx_kl": approx_kl, "clipfrac": clipfrac, "ent_coef": ent_coef,
                 "lr": optimizer.param_groups[0]["lr"]}
        train_s += time.perf_counter() - tick
        train_cpu_s += time.process_time() - cpu_tick
        if bar is not None:
            bar.update(batch_size)
            bar.set_postfix(steps_per_s=f"{global_step / max(train_s, 1e-9):.0f}")

        # ---- evaluation, log line, checkpoint, curve
        last_update = update == num_updates - 1
        if (update + 1) % eval_every == 0 or last_update:
            tick = time.perf_counter()
            metrics = task.evaluate(agent, kwargs)
            last_metrics = metrics
            eval_s += time.perf_counter() - tick
            line = {"step": global_step, "update": update + 1, "train_seconds": round(train_s, 3),
                    "train_cpu_seconds": round(train_cpu_s, 3),
                    "eval_seconds": round(eval_s, 3), "steps_per_s": global_step / max(train_s, 1e-9),
                    **metrics, **stats}
            history.append(line)
            if run is not None:
                run.log(**line)
                run.save_checkpoint({"config": asdict(cfg), "net": net.state_dict(),
                                     "optimizer": optimizer.state_dict(),
                                     "obs_rms": None if obs_rms is None else obs_rms.state_dict(),
                                     "ret_rms": ret_rms.state_dict(), "update": update + 1,
                                     "global_step": global_step, "train_seconds": train_s,
                                     "train_cpu_seconds": train_cpu_s, "eval_seconds": eval_s,
                                     "task": task.family})
                plot_learning_curve(run.metrics(), task.metric, references.get(task.metric, {}),
                                    run.dir / "curve.png", title=f"PPO on {cfg.env_id}, seed {cfg.seed}",
                                    higher_is_better=task.higher_is_better)
    if bar is not None:
        bar.close()
    envs.close()
    metrics = last_metrics
    result = PPOTrainResult(agent, metrics, references, global_step, train_s, eval_s,
                            global_step / max(train_s, 1e-9), train_cpu_s, history)
    if run is not None:
        run.write_json("result.json", {"config": asdict(cfg), "metrics": metrics, "references": references,
                                       "env_steps": global_step, "train_seconds": train_s,
                                       "train_cpu_seconds": train_cpu_s, "eval_seconds": eval_s,
                                       "steps_per_second": result.steps_per_second})
    return result


def load_checkpoint(path: str | Path) -> tuple[PPOTrainConfig, dict[str, Any]]:
    """The config and the saved state of a run folder (or a checkpoint file) of :func:`train_ppo`."""
    file = Path(path)
    file = file / "checkpoint.pt" if file.is_dir() else file
    if not file.exists():
        raise ConfigError(f"no PPO checkpoint at {file}; train one with 'hwsim rl train --run-dir ...'")
    state = torch.load(file, map_location="cpu", weights_only=False)
    return PPOTrainConfig(**{**state["config"], "hidden": tuple(state["config"]["hidden"])}), state


def load_agent(path: str | Path, env_id: str | None = None) -> Agent:
    """The agent saved in a run folder (or a checkpoint file) by :func:`train_ppo`; ``env_id`` checks
    that it can act in that environment (same family)."""
    cfg, state = load_checkpoint(path)
    if env_id is not None and env_id != cfg.env_id and get_task(env_id).family != get_task(cfg.env_id).family:
        raise ConfigError(f"the checkpoint in {path} was trained on {cfg.env_id}; it cannot act in {env_id}")
    task = get_task(cfg.env_id)
    probe = gym.make(cfg.env_id, **cfg.env_kwargs)
    net = build_network(task.network, probe.observation_space.shape, probe.action_space, cfg.hidden,
                        task.layout(env_kwargs(cfg.env_id, cfg.env_kwargs)))
    net.load_state_dict(state["net"])
    obs_rms = None
    if state["obs_rms"] is not None:
        obs_rms = RunningMeanStd(probe.observation_space.shape)
        obs_rms.load_state_dict(state["obs_rms"])
    probe.close()
    return Agent(net, obs_rms, cfg.clip_obs, probe.action_space)
