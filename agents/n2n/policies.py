"""The two N2N policies (Ashok et al. 2018), both reading the per-layer features of
:func:`agents.n2n.layers.layer_features`:

* :class:`RemovalPolicy`: a bidirectional LSTM over the layers emits, per layer, the probability of
  keeping it (independent Bernoulli actions given the whole network);
* :class:`ShrinkPolicy`: an autoregressive LSTM walks the layers in order and emits a categorical
  shrink factor per layer, fed back its previous choice; layers with nothing to shrink (pooling)
  always get the largest factor and add nothing to the log-probability.

Both sample ``n`` rollouts at once and return the actions, their summed log-probabilities and the
mean entropy, so REINFORCE can use them directly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn


class Sample(NamedTuple):
    """``actions`` (n, layers) int64, ``log_prob`` (n,) summed over layers, ``entropy`` mean per rollout."""

    actions: torch.Tensor
    log_prob: torch.Tensor
    entropy: torch.Tensor


def _as_tensor(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(features, dtype=np.float32))


class RemovalPolicy(nn.Module):
    """Bidirectional LSTM: layer features -> keep probability per layer."""

    def __init__(self, n_features: int, hidden: int = 32, init_keep: float = 0.5) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 1)
        with torch.no_grad():  # start near a fixed keep probability, whatever the features
            self.head.weight.mul_(0.1)
            self.head.bias.fill_(math.log(init_keep / (1 - init_keep)))

    def logits(self, features: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Keep logits, shape ``(layers,)``."""
        x = torch.relu(self.embed(_as_tensor(features))).unsqueeze(0)
        out, _ = self.lstm(x)
        return self.head(out[0]).squeeze(-1)

    def sample(self, features: np.ndarray | torch.Tensor, n: int, generator: torch.Generator | None = None) -> Sample:
        """``n`` keep/remove actions (1 = keep) with their log-probabilities."""
        logits = self.logits(features)
        probs = torch.sigmoid(logits).expand(n, -1)
        actions = torch.bernoulli(probs.detach(), generator=generator)
        return self._score(logits, actions)

    def log_prob(self, features: np.ndarray | torch.Tensor, actions: torch.Tensor) -> Sample:
        """Log-probabilities of given ``actions`` (n, layers)."""
        return self._score(self.logits(features), torch.as_tensor(actions, dtype=torch.float32))

    def _score(self, logits: torch.Tensor, actions: torch.Tensor) -> Sample:
        dist = torch.distributions.Bernoulli(logits=logits.expand_as(actions))
        return Sample(actions.long(), dist.log_prob(actions).sum(-1), dist.entropy().sum(-1).mean())

    @torch.no_grad()
    def greedy(self, features: np.ndarray | torch.Tensor) -> np.ndarray:
        """The most likely action (keep where p >= 0.5)."""
        return (self.logits(features) >= 0).long().numpy()


class ShrinkPolicy(nn.Module):
    """Autoregressive LSTM: one categorical shrink-factor choice per layer, conditioned on the layer's
    features and the previous choice."""

    def __init__(self, n_features: int, n_factors: int, hidden: int = 32) -> None:
        super().__init__()
        self.n_factors = n_factors
        self.hidden = hidden
        self.cell = nn.LSTMCell(n_features + n_factors, hidden)
        self.head = nn.Linear(hidden, n_factors)
        with torch.no_grad():  # start uniform over the factors
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    def _run(self, features: np.ndarray | torch.Tensor, shrinkable: np.ndarray, n: int,
             actions: torch.Tensor | None = None, generator: torch.Generator | None = None,
             greedy: bool = False) -> Sample:
        feats = _as_tensor(features)
        layers = feats.shape[0]
        h = torch.zeros(n, self.hidden)
        c = torch.zeros(n, self.hidden)
        prev = torch.zeros(n, self.n_factors)
        keep_all = self.n_factors - 1
        chosen, log_prob, entropy = [], torch.zeros(n), torch.zeros(n)
        for t in range(layers):
            h, c = self.cell(torch.cat([feats[t].expand(n, -1), prev], dim=1), (h, c))
            if not bool(shrinkable[t]):
                a = torch.full((n,), keep_all, dtype=torch.long)
            else:
                dist = torch.distributions.Categorical(logits=self.head(h))
                if actions is not None:
                    a = torch.as_tensor(actions[:, t], dtype=torch.long)
                elif greedy:
                    a = dist.probs.argmax(-1)
                else:
                    a = torch.multinomial(dist.probs.detach(), 1, generator=generator).squeeze(1)
                log_prob = log_prob + dist.log_prob(a)
                entropy = entropy + dist.entropy()
            chosen.append(a)
            prev = nn.functional.one_hot(a, self.n_factors).float()
        return Sample(torch.stack(chosen, dim=1), log_prob, entropy.mean())

    def sample(self, features: np.ndarray | torch.Tensor, shrinkable: np.ndarray, n: int,
               generator: torch.Generator | None = None) -> Sample:
        """``n`` factor-index actions (index into the task's factors; the last index is the largest factor)."""
        return self._run(features, shrinkable, n, generator=generator)

    def log_prob(self, features: np.ndarray | torch.Tensor, shrinkable: np.ndarray, actions: torch.Tensor) -> Sample:
        """Log-probabilities of given ``actions`` (n, layers)."""
        actions = torch.as_tensor(actions)
        return self._run(features, shrinkable, actions.shape[0], actions=actions)

    @torch.no_grad()
    def greedy(self, features: np.ndarray | torch.Tensor, shrinkable: np.ndarray) -> np.ndarray:
        """The most likely factor index per layer, choosing in order."""
        return self._run(features, shrinkable, 1, greedy=True).actions[0].numpy()
