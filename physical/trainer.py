"""One training run of a physical neural network: config, run loop, checkpoint/resume, metrics and
measurement accounting.

The physical layer is whatever :class:`hwsim.Device` the config names (an in-process system, or a
board at ``device_url``), optionally wrapped in a non-ideality profile. The trainer only calls
``Device.measure``. Every device row is counted, split by purpose: ``train`` (training batches),
``twin`` (data collection for a digital twin), ``eval`` (accuracy evaluation).

A run writes ``runs/<name>/``: ``metrics.jsonl`` (one line per epoch), ``checkpoint.pt`` (after every
epoch; ``resume=True`` continues from it and ends exactly where an uninterrupted run would),
``handshake.json`` (what the device declared), ``config.json``, ``result.json`` and ``curves.png``.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from hwsim.device import Device, DeviceWrapper
from hwsim.errors import ConfigError


@dataclass
class TrainConfig:
    """Every setting of one run. ``width=None`` means the overlaid input size; ``batch_size=0`` the
    whole training set; ``overlay_slots=None`` one slot per class."""

    system: str = "optical"
    dataset: str = "mnist1d"
    method: str = "mfff"
    seed: int = 0
    profile: str | None = None
    device_url: str | None = None
    physical: bool = True
    epochs: int = 30
    batch_size: int = 100
    layers: int = 2
    width: int | None = None
    overlay: str = "sample"
    overlay_slots: int | None = None
    input_map: str = "auto"
    goodness: str = "cosine"
    alpha: float = 4.0
    lr: float = 5e-4
    inner_steps: int = 10
    bp_lr: float = 1e-3
    bp_batch_size: int = 32
    twin_samples: int = 3000
    twin_epochs: int = 150
    max_train: int | None = None
    max_test: int | None = None
    scaling: str = "zscore"
    eval_every: int = 1
    eval_train_samples: int = 500
    name: str | None = None
    runs_root: str = "runs"

    # settings that may differ between a run and its resumption
    RESUMABLE_CHANGES = ("epochs", "name", "runs_root", "eval_every")

    def run_name(self) -> str:
        """The run folder name: ``name`` or ``<dataset>-<system>-<method>[-off][-<profile>]-s<seed>``."""
        if self.name:
            return self.name
        system = "remote" if self.device_url else re.sub(r"[^A-Za-z0-9_.=-]+", "_", self.system)
        parts = [self.dataset, system, self.method]
        if not self.physical and self.method not in ("digital", "logreg"):
            parts.append("off")
        if self.profile:
            parts.append(self.profile)
        return "-".join(parts) + f"-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config from :meth:`to_dict` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ConfigError(f"unknown training settings {sorted(extra)}")
        return cls(**d)

    def ablation(self) -> "TrainConfig":
        """The same run with the physical layer switched off (``mfff`` becomes ``digital``)."""
        method = "digital" if self.method == "mfff" else self.method
        return replace(self, method=method, physical=False, name=None if self.name is None else self.name + "-off")

    @property
    def uses_device(self) -> bool:
        """Whether this run measures anything on the device."""
        return self.physical and self.method not in ("digital", "logreg")


# Built-in settings per data set. vowels7 carries the PhyLL acoustic reference hyperparameters
# (Acoustic/acoustics_pnn.py): full batch, 200 epochs, 10 inner Adam steps at lr 5e-4, alpha 4, two
# blocks of width 20, 8 overlay slots (7 used) with the batch-maximum overlay, |h|/||h|| drive, and
# features z-scored then shifted to be >= 0.
PRESETS: dict[str, dict[str, Any]] = {
    "vowels7": dict(system="acoustic", epochs=200, batch_size=0, overlay="batch", overlay_slots=8, layers=2,
                    lr=5e-4, inner_steps=10, alpha=4.0, input_map="unit", scaling="phyll", bp_batch_size=16,
                    eval_every=10),
    "vowels12": dict(system="acoustic", epochs=50, batch_size=64, layers=2, bp_batch_size=32, eval_every=5),
    "digits": dict(system="optical?n_out=256&pool=1", epochs=10, batch_size=100, layers=2, lr=2e-3, bp_batch_size=32,
                   eval_every=2, eval_train_samples=200),
    "mnist1d": dict(system="optical?n_out=256&pool=1", epochs=10, batch_size=100, layers=2, lr=2e-3,
                    bp_batch_size=32, eval_every=2, eval_train_samples=200),
}


def make_config(dataset: str = "mnist1d", **overrides: Any) -> TrainConfig:
    """A config with the data set's preset, then ``overrides`` (keys ``None`` are left at the preset)."""
    if dataset not in PRESETS:
        raise ConfigError(f"unknown data set '{dataset}'; choose one of {', '.join(PRESETS)}")
    settings = {"dataset": dataset, **PRESETS[dataset]}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(settings)


def open_device(cfg: TrainConfig) -> Device:
    """The device a run measures on: a board at ``device_url`` or the named system, with the profile."""
    if cfg.device_url:
        from hwsim.remote import RemoteDevice

        device: Device = RemoteDevice(cfg.device_url)
    else:
        from hwsim.registry import create_device

        device = create_device(cfg.system)
    if cfg.profile:
        from hwsim.nonideal import apply_profile

        device = apply_profile(device, cfg.profile, seed=cfg.seed)
    return device


def device_chain(device: Device) -> list[Device]:
    """The device and every device it wraps, outermost first."""
    chain = [device]
    while isinstance(chain[-1], DeviceWrapper):
        chain.append(chain[-1].inner)
    return chain


def device_state(device: Device) -> Any:
    """The stochastic state (noise generators, drift, clock) of a device chain, or ``None`` if it keeps none."""
    save = getattr(device, "state_dict", None)
    return save() if callable(save) else None


def load_device_state(device: Device, state: Any) -> None:
    """Restore :func:`device_state` into a device built the same way."""
    if state is None:
        return
    load = getattr(device, "load_state_dict", None)
    if not callable(load):
        raise ConfigError("the checkpoint holds device state but this device cannot load it; resume with "
                          "the same system and profile")
    load(state)


@dataclass
class RunResult:
    """Final numbers of a run."""

    name: str
    method: str
    dataset: str
    system: str
    physical: bool
    seed: int
    epochs: int
    test_acc: float
    train_acc: float | None
    measurements: int
    measurements_train: int
    measurements_twin: int
    measurements_eval: int
    measurements_per_prediction: int
    wall_s: float
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


class Trainer:
    """Runs one :class:`TrainConfig`; ``device`` overrides the one the config names (it is not closed)."""

    def __init__(self, cfg: TrainConfig, device: Device | None = None, resume: bool = False,
                 record: bool = True) -> None:
        from physical.blocks import PhysicalLayer
        from physical.datasets import load_dataset
        from physical.methods import method_class

        self.cfg = cfg
        self.data = load_dataset(cfg.dataset, cfg.seed, cfg.max_train, cfg.max_test, cfg.scaling)
        self._own_device = device is None and cfg.uses_device
        self.device = device if device is not None else (open_device(cfg) if cfg.uses_device else None)
        phys = PhysicalLayer(self.device, cfg.input_map) if cfg.uses_device and self.device is not None else None
        self.method = method_class(cfg.method)(cfg, self.data.n_features, self.data.n_classes, phys)
        self.epoch = 0
        self.step = 0
        self.counts = {"train": 0, "twin": 0, "eval": 0}
        self.wall = 0.0
        self.setup_info: dict[str, Any] = {}
        self.last_eval: dict[str, Any] = {}
        self.record = None
        if record:
            from hwsim.runs import RunRecord

            self.record = RunRecord(cfg.run_name(), cfg.runs_root, resume=resume)
        self._started = False
        if resume:
            self._resume()

    # -- measurement accounting ------------------------------------------------------------
    def _device_count(self) -> int:
        return int(self.device.measurements) if self.device is not None else 0

    @contextmanager
    def counting(self, kind: str) -> Iterator[None]:
        """Add the device rows measured inside the block to ``counts[kind]``."""
        before = self._device_count()
        try:
            yield
        finally:
            self.counts[kind] = self.counts.get(kind, 0) + self._device_count() - before

    @property
    def measurements(self) -> int:
        """Every device row this run has measured so far (all purposes)."""
        return int(sum(self.counts.values()))

    # -- phases ------------------------------------------------------------------------------
    def setup(self) -> None:
        """One-off work of the method (twin fit, logistic regression); runs once per run."""
        if self._started:
            return
        self._started = True
        if self.record is not None:
            self._write_handshake()
            self.record.write_json("config.json", self.cfg.to_dict())
        if self.epoch == 0:  # a resumed run restored what setup made (the twin) from its checkpoint
            t0 = time.perf_counter()
            with self.counting("twin"):
                self.setup_info = self.method.setup(self.data.x_train, self.data.y_train,
                                                    np.random.default_rng([self.cfg.seed, 104729]))
            self.wall += time.perf_counter() - t0

    def train_epoch(self) -> dict[str, float]:
        """One pass over the training set in an order fixed by (seed, epoch); returns mean losses."""
        self.setup()
        t0 = time.perf_counter()
        rng = np.random.default_rng([self.cfg.seed, self.epoch])
        n = len(self.data.y_train)
        bs = self.method.batch_size or n
        order = rng.permutation(n)
        sums: dict[str, float] = {}
        batches = 0
        with self.counting("train"):
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                out = self.method.train_batch(self.data.x_train[idx], self.data.y_train[idx], rng)
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v
                batches += 1
                self.step += 1
        self.epoch += 1
        self.wall += time.perf_counter() - t0
        return {k: v / max(1, batches) for k, v in sums.items()}

    def evaluate(self, train: bool = True) -> dict[str, float]:
        """Test accuracy (and training accuracy on the first ``eval_train_samples`` rows); counted as eval."""
        t0 = time.perf_counter()
        out: dict[str, float] = {}
        with self.counting("eval"):
            out["test_acc"] = self._accuracy(self.data.x_test, self.data.y_test)
            if train and self.cfg.eval_train_samples:
                k = self.cfg.eval_train_samples
                out["train_acc"] = self._accuracy(self.data.x_train[:k], self.data.y_train[:k])
        self.wall += time.perf_counter() - t0
        self.last_eval = out
        return out

    def _accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        # the whole set in one call: with the batch-maximum overlay the batch is the evaluated set
        return float(np.mean(self.method.predict(x) == y))

    # -- the run loop -----------------------------------------------------------------------
    def run(self, until: int | None = None) -> RunResult:
        """Train up to epoch ``until`` (default ``cfg.epochs``), logging and checkpointing each epoch."""
        from hwsim.progress import progress

        self.setup()
        until = self.cfg.epochs if until is None else min(until, self.cfg.epochs)
        if not self.method.iterative:
            if not self.last_eval:
                self.evaluate()
                self._log_epoch({})
            return self.result()
        bar = progress(total=until, desc=self.cfg.run_name(), initial=min(self.epoch, until))
        try:
            while self.epoch < until:
                losses = self.train_epoch()
                last = self.epoch == self.cfg.epochs
                metrics = self.evaluate() if (last or self.epoch % max(1, self.cfg.eval_every) == 0) else {}
                self._log_epoch({**losses, **metrics})
                self.save_checkpoint()
                bar.update(1)
                if metrics:
                    bar.set_postfix(test_acc=f"{metrics['test_acc']:.3f}")
        finally:
            bar.close()
        if self.epoch >= self.cfg.epochs and not self.last_eval:
            self.evaluate()
        result = self.result()
        if self.record is not None and self.epoch >= self.cfg.epochs:
            self.record.write_json("result.json", result.to_dict())
            self.record.plot("epoch", ["train_acc", "test_acc", "loss"], title=self.cfg.run_name())
        return result

    def _log_epoch(self, metrics: dict[str, float]) -> None:
        if self.record is None:
            return
        self.record.log(epoch=self.epoch, step=self.step, **metrics, measurements=self.measurements,
                        measurements_train=self.counts["train"], measurements_twin=self.counts["twin"],
                        measurements_eval=self.counts["eval"], wall_s=round(self.wall, 3))

    def result(self) -> RunResult:
        """The numbers of the run so far (evaluating first if nothing was evaluated yet)."""
        if not self.last_eval:
            self.evaluate()
        extra = dict(self.setup_info)
        return RunResult(
            name=self.cfg.run_name(), method=self.cfg.method, dataset=self.cfg.dataset,
            system="remote:" + self.cfg.device_url if self.cfg.device_url else self.cfg.system,
            physical=self.cfg.uses_device, seed=self.cfg.seed, epochs=self.epoch,
            test_acc=self.last_eval["test_acc"], train_acc=self.last_eval.get("train_acc"),
            measurements=self.measurements, measurements_train=self.counts["train"],
            measurements_twin=self.counts["twin"], measurements_eval=self.counts["eval"],
            measurements_per_prediction=self.method.measurements_per_prediction(), wall_s=round(self.wall, 3),
            extra=extra)

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything a resumption needs."""
        return {"format": "hwsim-physical-train/1", "config": self.cfg.to_dict(), "epoch": self.epoch,
                "step": self.step, "counts": dict(self.counts), "wall": self.wall,
                "setup_info": self.setup_info, "last_eval": self.last_eval,
                "method": self.method.state_dict(),
                "device": device_state(self.device) if self.device is not None else None}

    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint of the current epoch (no-op without a run record)."""
        return self.record.save_checkpoint(self.state()) if self.record is not None else None

    def _resume(self) -> None:
        ckpt = self.record.load_checkpoint() if self.record is not None else None
        if ckpt is None:  # nothing to resume: start fresh, without log lines of an unfinished earlier start
            self.record.truncate_after("epoch", -1)
            return
        if ckpt.get("format") != "hwsim-physical-train/1":
            raise ConfigError(f"{self.record.checkpoint_path} is not a physical-training checkpoint; "
                              "delete it or pick another run name")
        saved = ckpt["config"]
        now = self.cfg.to_dict()
        diff = [k for k in now if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != now[k]]
        if diff:
            detail = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)
            raise ConfigError(f"cannot resume run '{self.cfg.run_name()}': settings differ from its checkpoint "
                              f"({detail}); rerun with the original settings or without --resume")
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.counts = dict(ckpt["counts"])
        self.wall = float(ckpt["wall"])
        self.setup_info = dict(ckpt["setup_info"])
        self.last_eval = dict(ckpt["last_eval"])
        self.method.load_state_dict(ckpt["method"])
        if self.device is not None and ckpt.get("device") is not None:
            load_device_state(self.device, ckpt["device"])
        self.record.truncate_after("epoch", self.epoch)

    def _write_handshake(self) -> None:
        if self.device is None:
            payload: dict[str, Any] = {"device": None, "note": "physical layer off: nothing measured"}
        else:
            info = self.device.info
            payload = {"device": info.to_dict(), "schema_hash": info.schema_hash(),
                       "chain": [type(d).__name__ for d in device_chain(self.device)],
                       "url": self.cfg.device_url, "system": self.cfg.system, "profile": self.cfg.profile}
            for dev in device_chain(self.device):  # a board's HELLO capabilities, when there is a board
                hello = getattr(dev, "handshake", None)
                if isinstance(hello, dict):
                    payload["hello"] = hello
                    break
        self.record.write_json("handshake.json", payload)

    def close(self) -> None:
        """Close the device if this trainer opened it."""
        if self._own_device and self.device is not None:
            self.device.close()


def train(cfg: TrainConfig, device: Device | None = None, resume: bool = False, record: bool = True) -> RunResult:
    """Run ``cfg`` to the end and return its result (closing any device it opened)."""
    trainer = Trainer(cfg, device=device, resume=resume, record=record)
    try:
        return trainer.run()
    finally:
        trainer.close()


def compare_with_ablation(cfg: TrainConfig, seeds: Sequence[int], record: bool = False) -> dict[str, list[RunResult]]:
    """``cfg``, its physical-off ablation and logistic regression on the same splits, each over ``seeds``."""
    variants = {cfg.method: cfg, "ablation": cfg.ablation(), "logreg": replace(cfg, method="logreg", physical=False)}
    return {label: [train(replace(v, seed=s), record=record) for s in seeds] for label, v in variants.items()}


def comparison_lines(results: dict[str, list[RunResult]]) -> list[str]:
    """One line per method of :func:`compare_with_ablation`'s results: test accuracy mean +- std over
    the seeds and the device rows one run used."""
    from hwsim.report import mean_std

    lines = []
    for label, runs in results.items():
        m, s = mean_std(r.test_acc for r in runs)
        lines.append(f"  {label:10s} {100 * m:6.2f} +- {100 * s:5.2f} %   device rows per run: {runs[0].measurements:,d}")
    return lines
