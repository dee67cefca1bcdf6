"""One training run of a physical neural network: run loop, validation and early stopping,
checkpoint/resume, metrics, measurement and digital-FLOP accounting.

The physical layer is whatever :class:`hwsim.Device` the config names (an in-process system, or a
board at ``device_url``), optionally wrapped in a non-ideality profile. The trainer only calls
``Device.measure``. Every device row is counted, split by purpose: ``train`` (training batches),
``twin`` (data collection for a digital twin), ``eval`` (accuracy evaluation); so are the digital
FLOPs of training and of the twin fit (torch's ``FlopCounterMode``: matrix products and convolutions,
forward and backward; the device's own work is physics, not digital compute).

With ``val_fraction > 0`` a validation split is held out of the training data; after every epoch its
accuracy decides which weights are candidates (the best epoch's) and, with ``patience``, when to stop; at
the end the best epoch's and the last epoch's weights are validated again on the device as it is then and
the better is kept (a drifting medium makes old weights stale). The test split is only ever evaluated,
never used to choose anything.

A run writes ``runs/<name>/``: ``metrics.jsonl`` (one line per epoch), ``checkpoint.pt`` (after every
epoch; ``resume=True`` continues from it and ends exactly where an uninterrupted run would),
``handshake.json`` (what the device declared), ``config.json``, ``result.json`` and ``curves.png``.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from torch.utils.flop_counter import FlopCounterMode

from hwsim.device import Device, DeviceWrapper
from hwsim.errors import ConfigError
from hwsim.nonideal import apply_profile
from hwsim.progress import progress
from hwsim.registry import create_device
from hwsim.remote import RemoteDevice
from hwsim.report import mean_std
from hwsim.runs import RunRecord
from physical.blocks import PhysicalLayer
from physical.config import PRESETS, PhysicalTrainConfig, make_config
from physical.datasets import load_dataset
from physical.methods import method_class

__all__ = ["PRESETS", "PhysicalTrainConfig", "make_config", "open_device", "Trainer", "RunResult", "train",
           "compare_with_ablation", "comparison_lines"]


def open_device(cfg: PhysicalTrainConfig, allow_import: bool = False) -> Device:
    """The device a run measures on: a board at ``device_url`` or the named system, with the profile.
    ``allow_import`` lets ``system`` name a ``module:Class`` (the caller's explicit opt-in)."""
    if cfg.device_url:
        device: Device = RemoteDevice(cfg.device_url)
    else:
        device = create_device(cfg.system, allow_import=allow_import)
    if cfg.profile:
        device = apply_profile(device, cfg.profile, seed=cfg.seed)
    return device


def row_time(device: Device | None) -> tuple[float | None, str | None]:
    """The time one device row takes on the real hardware the innermost device stands for, and the
    source of that figure (``None`` when the device declares none, e.g. a remote board)."""
    if device is None:
        return None, None
    inner = device_chain(device)[-1]
    return getattr(inner, "row_time_s", None), getattr(inner, "row_time_source", None)


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
    """Final numbers of a run. ``test_acc`` is that of the kept weights: with a validation split, the best
    validation epoch's or the last epoch's, whichever validates better on the device at the end
    (``best_epoch`` names the kept epoch, ``val_acc`` is its validation accuracy then); without one, the
    last epoch's. ``measurements_*`` count device rows by purpose,
    ``flops_*`` digital FLOPs; ``history`` has one entry per epoch (device rows and FLOPs of training
    and twin so far, validation and test accuracy of the weights of that epoch)."""

    name: str
    method: str
    dataset: str
    system: str
    physical: bool
    seed: int
    epochs: int
    test_acc: float
    train_acc: float | None
    val_acc: float | None
    best_epoch: int
    measurements: int
    measurements_train: int
    measurements_twin: int
    measurements_val: int
    measurements_eval: int
    measurements_per_prediction: int
    flops_train: int
    flops_twin: int
    flops_per_prediction: float
    digital_params: int
    row_time_s: float | None
    row_time_source: str | None
    wall_s: float
    extra: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @property
    def learning_rows(self) -> int:
        """Device rows spent to obtain the model: training batches and twin data."""
        return self.measurements_train + self.measurements_twin


class Trainer:
    """Runs one :class:`PhysicalTrainConfig`; ``device`` overrides the one the config names (it is not
    closed). ``record=False`` writes nothing (and so cannot resume)."""

    def __init__(self, cfg: PhysicalTrainConfig, device: Device | None = None, resume: bool = False,
                 record: bool = True, allow_import: bool = False) -> None:
        if resume and not record:
            raise ConfigError("resuming reads the run's checkpoint from its record: use record=True with resume=True")
        self.cfg = cfg
        self.data = load_dataset(cfg.dataset, cfg.seed, cfg.max_train, cfg.max_test, cfg.scaling, cfg.val_fraction)
        self._own_device = device is None and cfg.uses_device
        self.device = device if device is not None else (open_device(cfg, allow_import) if cfg.uses_device else None)
        phys = PhysicalLayer(self.device, cfg.input_map, cfg.passes) if cfg.uses_device and self.device else None
        self.method = method_class(cfg.method)(cfg, self.data.n_features, self.data.n_classes, phys)
        self.epoch = 0
        self.step = 0
        self.counts = {"train": 0, "twin": 0, "val": 0, "eval": 0}
        self.flops = {"train": 0, "twin": 0, "val": 0, "eval": 0}
        self.wall = 0.0
        self.setup_info: dict[str, Any] = {}
        self.last_eval: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None  # {"epoch", "val_acc", "state"} of the best validation epoch
        self.stopped = False
        self.final: dict[str, Any] = {}
        self.record = RunRecord(cfg.run_name(), cfg.runs_root, resume=resume) if record else None
        self._started = False
        if resume:
            self._resume()

    @property
    def has_val(self) -> bool:
        """Whether a validation split was held out (and so picks the kept weights)."""
        return len(self.data.y_val) > 0

    # -- measurement and FLOP accounting --------------------------------------------------------
    def _device_count(self) -> int:
        return int(self.device.measurements) if self.device is not None else 0

    @contextmanager
    def counting(self, kind: str) -> Iterator[None]:
        """Add the device rows measured and the digital FLOPs done inside the block to ``kind``."""
        before = self._device_count()
        flop_counter = FlopCounterMode(display=False)
        try:
            with flop_counter:
                yield
        finally:
            self.counts[kind] = self.counts.get(kind, 0) + self._device_count() - before
            self.flops[kind] = self.flops.get(kind, 0) + int(flop_counter.get_total_flops())

    @property
    def measurements(self) -> int:
        """Every device row this run has measured so far (all purposes)."""
        return int(sum(self.counts.values()))

    # -- phases ------------------------------------------------------------------------------
    def setup(self) -> None:
        """One-off work of the method (twin fit, read-out fit); runs once per run."""
        if self._started:
            return
        self._started = True
        if self.record is not None:
            self._write_handshake()
            self.record.write_json("config.json", self.cfg.to_dict())
        if self.epoch == 0 and not self.setup_info.get("_done"):
            t0 = time.perf_counter()
            with self.counting(self.method.setup_kind):
                info = self.method.setup(self.data.x_train, self.data.y_train,
                                         np.random.default_rng([self.cfg.seed, 104729]),
                                         x_val=self.data.x_val if self.has_val else None,
                                         y_val=self.data.y_val if self.has_val else None)
            self.setup_info = {**info, "_done": True}
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

    def validate(self) -> float:
        """Validation accuracy of the current weights (counted as ``val``)."""
        t0 = time.perf_counter()
        with self.counting("val"):
            acc = self._accuracy(self.data.x_val, self.data.y_val)
        self.wall += time.perf_counter() - t0
        return acc

    def evaluate(self, train: bool = True) -> dict[str, float]:
        """Test accuracy of the current weights, the digital FLOPs of one prediction (measured on that
        evaluation), and training accuracy on the first ``eval_train_samples`` rows; counted as ``eval``.
        Nothing here ever chooses a model."""
        t0 = time.perf_counter()
        out: dict[str, float] = {}
        flops_before = self.flops["eval"]
        with self.counting("eval"):
            out["test_acc"] = self._accuracy(self.data.x_test, self.data.y_test)
        out["flops_per_prediction"] = (self.flops["eval"] - flops_before) / max(1, len(self.data.y_test))
        if train and self.cfg.eval_train_samples:
            k = self.cfg.eval_train_samples
            with self.counting("eval"):
                out["train_acc"] = self._accuracy(self.data.x_train[:k], self.data.y_train[:k])
        self.wall += time.perf_counter() - t0
        self.last_eval = out
        return out

    def _accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        # the whole set in one call: with the batch-maximum overlay the batch is the evaluated set
        return float(np.mean(self.method.predict(x) == y))

    def _observe(self, epoch_metrics: dict[str, Any]) -> dict[str, Any]:
        """Validate (keeping the best weights) and, when due, test the current weights; one history entry."""
        metrics: dict[str, Any] = {}
        if self.has_val:
            val = self.validate()
            metrics["val_acc"] = val
            if self.best is None or val > self.best["val_acc"]:
                self.best = {"epoch": self.epoch, "val_acc": val, "state": copy.deepcopy(self.method.state_dict())}
            elif self.cfg.patience and self.epoch - self.best["epoch"] >= self.cfg.patience:
                self.stopped = True
        last = self.epoch >= self.cfg.epochs or self.stopped or not self.method.iterative
        if last or self.epoch % max(1, self.cfg.eval_every) == 0:
            metrics.update(self.evaluate())
        self.history.append({"epoch": self.epoch, "rows": self.counts["train"] + self.counts["twin"],
                             "flops": self.flops["train"] + self.flops["twin"],
                             "val_acc": metrics.get("val_acc"), "test_acc": metrics.get("test_acc")})
        self._log_epoch({**epoch_metrics, **{k: v for k, v in metrics.items() if k != "flops_per_prediction"}})
        return metrics

    def _finish(self) -> None:
        """Keep the weights that validate best on the device as it is now, the best validation epoch's or
        the last epoch's, and test them once.

        Both candidates are validated again, one after the other, at the end of training (counted as
        ``val``): on a medium that drifts or decorrelates, weights kept from many epochs ago were fitted to a
        device that has moved on, while the last epoch's kept adapting to it. On a static noiseless device
        the best epoch's validation accuracy is unchanged, so its weights are kept as before. Ties keep the
        best epoch's."""
        if self.final:
            return
        kept = self.best
        if self.best is not None and self.best["epoch"] != self.epoch:
            last_state = copy.deepcopy(self.method.state_dict())
            self.method.load_state_dict(copy.deepcopy(self.best["state"]))
            best_now = self.validate()
            self.method.load_state_dict(last_state)
            last_now = self.validate()
            if best_now >= last_now:
                self.method.load_state_dict(copy.deepcopy(self.best["state"]))
                kept = {"epoch": self.best["epoch"], "val_acc": best_now}
            else:
                kept = {"epoch": self.epoch, "val_acc": last_now}
            self.final = dict(self.evaluate())
        else:
            self.final = dict(self.last_eval) if self.last_eval else dict(self.evaluate())
        self.final["best_epoch"] = kept["epoch"] if kept is not None else self.epoch
        self.final["val_acc"] = kept["val_acc"] if kept is not None else None

    # -- the run loop -----------------------------------------------------------------------
    def run(self, until: int | None = None) -> RunResult:
        """Train up to epoch ``until`` (default ``cfg.epochs``; early stopping may end sooner), logging and
        checkpointing each epoch; a finished run keeps its best validation epoch's weights."""
        self.setup()
        if not self.method.iterative:
            if not self.history:
                self._observe({})
            self._finish()
            return self._write_result()
        until = self.cfg.epochs if until is None else min(until, self.cfg.epochs)
        bar = progress(total=until, desc=self.cfg.run_name(), initial=min(self.epoch, until))
        try:
            while self.epoch < until and not self.stopped:
                metrics = self._observe(self.train_epoch())
                self.save_checkpoint()
                bar.update(1)
                if "val_acc" in metrics:
                    bar.set_postfix(val_acc=f"{metrics['val_acc']:.3f}")
        finally:
            bar.close()
        if self.epoch < self.cfg.epochs and not self.stopped:
            return self.result()
        self._finish()
        return self._write_result()

    def _write_result(self) -> RunResult:
        result = self.result()
        if self.record is not None:
            self.record.write_json("result.json", result.to_dict())
            self.record.plot("epoch", ["train_acc", "val_acc", "test_acc"], title=self.cfg.run_name())
        return result

    def _log_epoch(self, metrics: dict[str, Any]) -> None:
        if self.record is None:
            return
        self.record.log(epoch=self.epoch, step=self.step, **metrics, measurements=self.measurements,
                        measurements_train=self.counts["train"], measurements_twin=self.counts["twin"],
                        measurements_val=self.counts["val"], measurements_eval=self.counts["eval"],
                        flops_train=self.flops["train"], flops_twin=self.flops["twin"], wall_s=round(self.wall, 3))

    def result(self) -> RunResult:
        """The numbers of the run so far: the kept weights' once it finished, else the current ones'."""
        done = self.final or self.last_eval or self.evaluate()
        row_s, row_src = row_time(self.device)
        info = {k: v for k, v in self.setup_info.items() if not k.startswith("_")}
        return RunResult(
            name=self.cfg.run_name(), method=self.cfg.method, dataset=self.cfg.dataset,
            system="remote:" + self.cfg.device_url if self.cfg.device_url else self.cfg.system,
            physical=self.cfg.uses_device, seed=self.cfg.seed, epochs=self.epoch,
            test_acc=done["test_acc"], train_acc=done.get("train_acc"), val_acc=done.get("val_acc"),
            best_epoch=int(done.get("best_epoch", self.epoch)),
            measurements=self.measurements, measurements_train=self.counts["train"],
            measurements_twin=self.counts["twin"], measurements_val=self.counts["val"],
            measurements_eval=self.counts["eval"],
            measurements_per_prediction=self.method.measurements_per_prediction(),
            flops_train=self.flops["train"], flops_twin=self.flops["twin"],
            flops_per_prediction=float(done.get("flops_per_prediction", 0.0)),
            digital_params=self.method.digital_params(), row_time_s=row_s, row_time_source=row_src,
            wall_s=round(self.wall, 3), extra=info, history=list(self.history))

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything a resumption needs."""
        return {"format": "hwsim-physical-train/2", "config": self.cfg.to_dict(), "epoch": self.epoch,
                "step": self.step, "counts": dict(self.counts), "flops": dict(self.flops), "wall": self.wall,
                "setup_info": self.setup_info, "last_eval": self.last_eval, "history": self.history,
                "best": self.best, "stopped": self.stopped, "method": self.method.state_dict(),
                "device": device_state(self.device) if self.device is not None else None}

    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint of the current epoch (no-op without a run record)."""
        return self.record.save_checkpoint(self.state()) if self.record is not None else None

    def _resume(self) -> None:
        ckpt = self.record.load_checkpoint()
        if ckpt is None:  # nothing to resume: start fresh, without log lines of an unfinished earlier start
            self.record.truncate_after("epoch", -1)
            return
        if ckpt.get("format") != "hwsim-physical-train/2":
            raise ConfigError(f"{self.record.checkpoint_path} is not a checkpoint of this trainer version; "
                              "delete it or pick another run name")
        saved = ckpt["config"]
        now = self.cfg.to_dict()
        diff = [k for k in now if k not in PhysicalTrainConfig.RESUMABLE_CHANGES and saved.get(k) != now[k]]
        if diff:
            detail = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)
            raise ConfigError(f"cannot resume run '{self.cfg.run_name()}': settings differ from its checkpoint "
                              f"({detail}); rerun with the original settings or without --resume")
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.counts = dict(ckpt["counts"])
        self.flops = dict(ckpt["flops"])
        self.wall = float(ckpt["wall"])
        self.setup_info = dict(ckpt["setup_info"])
        self.last_eval = dict(ckpt["last_eval"])
        self.history = list(ckpt["history"])
        self.best = ckpt["best"]
        self.stopped = bool(ckpt["stopped"])
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


def train(cfg: PhysicalTrainConfig, device: Device | None = None, resume: bool = False, record: bool = True,
          allow_import: bool = False) -> RunResult:
    """Run ``cfg`` to the end and return its result (closing any device it opened)."""
    trainer = Trainer(cfg, device=device, resume=resume, record=record, allow_import=allow_import)
    try:
        return trainer.run()
    finally:
        trainer.close()


def compare_with_ablation(cfg: PhysicalTrainConfig, seeds: Sequence[int], record: bool = False
                          ) -> dict[str, list[RunResult]]:
    """``cfg``, its physical-off ablation and logistic regression on the same splits, each over ``seeds``."""
    variants = {cfg.method: cfg, "ablation": cfg.ablation(), "logreg": replace(cfg, method="logreg", physical=False)}
    return {label: [train(replace(v, seed=s), record=record) for s in seeds] for label, v in variants.items()}


def comparison_lines(results: dict[str, list[RunResult]]) -> list[str]:
    """One line per method of :func:`compare_with_ablation`'s results: test accuracy mean +- std over
    the seeds and the device rows one run used."""
    lines = []
    for label, runs in results.items():
        m, sd = mean_std(r.test_acc for r in runs)
        lines.append(f"  {label:10s} {100 * m:6.2f} +- {100 * sd:5.2f} %   "
                     f"device rows per run: {runs[0].measurements:,d}")
    return lines
