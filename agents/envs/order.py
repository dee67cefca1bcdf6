"""Which item (a trace, a trajectory) an episode plays: drawn at random, walked in order, or named.

The networking environments share this rule: ``reset(options={key: i})`` plays item ``i``; otherwise
a shuffling environment draws an item from its ``np_random`` and a test protocol walks the items in
order, restarting at item 0 when a reset is seeded (and at the first reset).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hwsim.errors import ConfigError


class EpisodeOrder:
    """The episode-to-item picker of one environment over ``count`` items."""

    def __init__(self, count: int, shuffle: bool, key: str, what: str) -> None:
        self.count = int(count)
        self.shuffle = bool(shuffle)
        self.key = key
        self.what = what
        self.cursor = 0
        self.seeded = False

    def pick(self, np_random: np.random.Generator, seed: int | None, options: dict[str, Any] | None) -> int:
        """The index of the item the episode being reset plays (``seed`` is the reset's seed)."""
        if seed is not None or not self.seeded:
            self.seeded = True
            self.cursor = 0
        if options and self.key in options:
            index = int(options[self.key])
            if not 0 <= index < self.count:
                raise ConfigError(f"{self.key} {index} is outside 0..{self.count - 1} of {self.what}")
            return index
        if self.shuffle:
            return int(np_random.integers(self.count))
        index = self.cursor % self.count
        self.cursor += 1
        return index
