"""Head-orientation traces of 360-degree video viewers (the ``vp`` data set) as supervised windows.

Each trace is ``(roll, pitch, yaw)`` in degrees at 5 Hz. A sample is ``history`` past orientations
and the ``future`` orientations that follow; samples start every ``step`` rows between
``trim_head`` and ``len - trim_tail`` (NetLLM's defaults: 10, 20, 30, 60, 15). The split follows
NetLLM's ``viewport_prediction/config.py``: train and test differ in video *and* user.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Sequence

import numpy as np

from hwsim.data import fetch
from hwsim.errors import ConfigError, DataError

ANGLE_SCALE = np.array([180.0, 90.0, 180.0])  # roll, pitch, yaw -> [-1, 1]
PERIODIC = np.array([True, False, True])  # roll and yaw wrap around at +-180 degrees

# NetLLM's split, restricted to the videos and users shipped in the data subset.
_JIN_TRAIN_USERS = (50, 54, 6, 34, 66, 63, 52, 39, 62, 46, 75, 28, 65, 18, 37, 13, 80, 33, 69, 78, 19,
                    40, 10, 43, 61, 72, 56, 41, 79, 82, 27, 71, 57, 67, 8, 2, 12, 81, 1, 64, 32, 42)
_JIN_TEST_USERS = (83, 15, 3, 35, 48, 22, 55, 4, 45, 60, 26, 21, 44, 23, 53, 84, 59, 49, 7, 47, 30)
SPLITS: dict[str, dict[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    # split -> dataset -> (videos, users)
    "train": {"Jin2022": ((1,), _JIN_TRAIN_USERS),
              "Wu2017": ((1,), (23, 3, 19, 24, 18, 28, 9, 26, 6, 15, 21))},
    "test": {"Jin2022": ((4,), _JIN_TEST_USERS),
             "Wu2017": ((3,), (16, 7, 46, 5, 35, 2, 41, 47, 13))},
}
DATASETS = ("Jin2022", "Wu2017")


@dataclass(frozen=True)
class Trajectory:
    """One viewer's head orientation over one video: ``angles[t] = (roll, pitch, yaw)`` degrees."""

    dataset: str
    video: int
    user: int
    angles: np.ndarray


@dataclass(frozen=True)
class WindowConfig:
    """How samples are cut from a trajectory (NetLLM's defaults)."""

    history: int = 10
    future: int = 20
    trim_head: int = 30
    trim_tail: int = 60
    step: int = 15

    def starts(self, length: int) -> range:
        """Row indices where a sample's future begins in a trajectory of ``length`` rows."""
        first = max(self.trim_head, self.history)
        last = min(length - self.trim_tail, length - self.future + 1)
        return range(first, max(first, last), self.step)


@dataclass(frozen=True)
class ViewportWindows:
    """Supervised samples: ``history (n, h, 3)`` and ``future (n, f, 3)`` in degrees, with the
    dataset, video, user and start row of each."""

    history: np.ndarray
    future: np.ndarray
    dataset: np.ndarray
    video: np.ndarray
    user: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.history)

    def subset(self, dataset: str) -> ViewportWindows:
        """The samples of one dataset."""
        keep = self.dataset == dataset
        return ViewportWindows(*(getattr(self, f)[keep] for f in
                                 ("history", "future", "dataset", "video", "user", "start")))


def read_trajectory(path, dataset: str, video: int, user: int) -> Trajectory:
    """Read one ``time, roll, pitch, yaw`` CSV and check it."""
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataError(f"viewport trace {path} could not be read as 4 numeric CSV columns: {exc}") from exc
    if rows.shape[1] != 4:
        raise DataError(f"viewport trace {path} has {rows.shape[1]} columns; expected time, roll, pitch, yaw")
    angles = rows[:, 1:]
    if np.any(np.abs(angles) > ANGLE_SCALE + 1e-6):
        raise DataError(f"viewport trace {path} has angles outside roll/yaw +-180, pitch +-90 degrees")
    return Trajectory(dataset, video, user, angles)


@cache
def load_trajectories(split: str, datasets: tuple[str, ...] = DATASETS) -> tuple[Trajectory, ...]:
    """Every trajectory of ``split`` (``train`` or ``test``) in ``datasets``, in a fixed order."""
    if split not in SPLITS:
        raise ConfigError(f"unknown viewport split '{split}'; choose one of {sorted(SPLITS)}")
    unknown = set(datasets) - set(DATASETS)
    if unknown or not datasets:
        raise ConfigError(f"unknown viewport datasets {sorted(unknown) or '(none given)'}; choose from {DATASETS}")
    root = fetch("vp")
    out = []
    for dataset in datasets:
        videos, users = SPLITS[split][dataset]
        for video in videos:
            for user in users:
                path = root / dataset / f"video{video}" / "5Hz" / f"simple_5Hz_user{user}.csv"
                if not path.exists():
                    raise DataError(f"missing viewport trace {path}; check the 'vp' data set (hwsim data fetch vp)")
                out.append(read_trajectory(path, dataset, video, user))
    return tuple(out)


def make_windows(trajectories: Sequence[Trajectory], config: WindowConfig = WindowConfig()) -> ViewportWindows:
    """Cut every trajectory into (history, future) samples."""
    hist, fut, meta = [], [], []
    for traj in trajectories:
        for t in config.starts(len(traj.angles)):
            hist.append(traj.angles[t - config.history:t])
            fut.append(traj.angles[t:t + config.future])
            meta.append((traj.dataset, traj.video, traj.user, t))
    if not hist:
        raise DataError("no viewport samples: the trajectories are shorter than trim_head + trim_tail")
    ds, video, user, start = zip(*meta)
    return ViewportWindows(np.stack(hist), np.stack(fut), np.array(ds), np.array(video), np.array(user),
                           np.array(start))


def load_windows(split: str, datasets: Sequence[str] = DATASETS,
                 config: WindowConfig = WindowConfig()) -> ViewportWindows:
    """The supervised samples of ``split``: the dataset to train on (``train``) or score (``test``)."""
    return make_windows(load_trajectories(split, tuple(datasets)), config)


def angle_error(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Absolute error in degrees per angle; roll and yaw errors wrap around (359 vs 1 is 2 degrees)."""
    diff = np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64))
    wrapped = np.minimum(diff, np.abs(360.0 - diff))
    return np.where(PERIODIC, wrapped, diff)


def mean_absolute_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error in degrees over samples, time steps and the three angles (wrap-aware)."""
    if np.shape(pred) != np.shape(true):
        raise ConfigError(f"prediction shape {np.shape(pred)} does not match target shape {np.shape(true)}")
    return float(angle_error(pred, true).mean())


def wrap_degrees(angles: np.ndarray) -> np.ndarray:
    """Bring roll and yaw into [-180, 180) and clip pitch into [-90, 90]."""
    out = np.array(angles, dtype=np.float64, copy=True)
    out[..., PERIODIC] = (out[..., PERIODIC] + 180.0) % 360.0 - 180.0
    out[..., 1] = np.clip(out[..., 1], -90.0, 90.0)
    return out


def normalise(angles: np.ndarray) -> np.ndarray:
    """Degrees -> [-1, 1] (roll/180, pitch/90, yaw/180), as NetLLM scales them."""
    return np.asarray(angles) / ANGLE_SCALE


def denormalise(values: np.ndarray) -> np.ndarray:
    """[-1, 1] -> degrees."""
    return np.asarray(values, dtype=np.float64) * ANGLE_SCALE
