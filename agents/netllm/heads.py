"""Networking heads: replace the language-model head and map the backbone's hidden state to a valid
answer in one pass, so there is no token-by-token generation and no invalid answer.

- :class:`DiscreteHead`: logits over the environment's discrete actions (ABR: 6 bitrates).
- :class:`TrajectoryHead`: the future orientations for viewport prediction, as bounded offsets from
  the latest observed orientation, wrapped back into the valid range.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.netllm.encoders import wrap_unit


class DiscreteHead(nn.Module):
    """Hidden state ``(..., hidden)`` -> action logits ``(..., num_actions)``."""

    def __init__(self, embed_dim: int, num_actions: int) -> None:
        super().__init__()
        self.num_actions = int(num_actions)
        self.linear = nn.Linear(embed_dim, self.num_actions)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits of every action."""
        return self.linear(hidden)


class TrajectoryHead(nn.Module):
    """Hidden state ``(B, hidden)`` and the latest orientation ``(B, 3)`` (normalised to [-1, 1]) ->
    ``future`` orientations ``(B, future, 3)`` in [-1, 1]: offsets in (-1, 1) (up to 180 degrees for
    roll and yaw) added to the latest orientation, periodic angles wrapped, the others clamped."""

    def __init__(self, embed_dim: int, future: int, periodic: tuple[bool, bool, bool] = (True, False, True)) -> None:
        super().__init__()
        self.future = int(future)
        self.register_buffer("periodic", torch.tensor(periodic), persistent=False)
        self.linear = nn.Linear(embed_dim, self.future * 3)
        nn.init.zeros_(self.linear.weight)  # start from "the head stays where it is"
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Predicted orientations."""
        offset = torch.tanh(self.linear(hidden)).reshape(-1, self.future, 3)
        pred = last[:, None, :] + offset
        return torch.where(self.periodic, wrap_unit(pred, self.periodic), pred.clamp(-1.0, 1.0))
