"""Task encoders: turn observations, returns, actions and timesteps into token embeddings of the
backbone's width, so the language model reads networking data through ``inputs_embeds``.

- :class:`ABRStateEncoder`: the Pensieve state (6 rows x history) becomes 6 tokens, one per row:
  scalar rows (last bitrate, buffer, chunks left) through a small MLP, the throughput and
  download-time histories through a 1-D convolution, the next chunk's sizes through a convolution
  spanning the bitrate levels (the design of NetLLM's ABR encoder, itself from Pensieve).
- :class:`ViewportEncoder`: each past head orientation becomes one token through a small 1-D
  convolution over its (roll, pitch, yaw), given both as absolute values and as the wrapped offset
  from the latest sample.
- :class:`ReturnEncoder`, :class:`DiscreteActionEncoder`, :class:`TimestepEncoder`: the extra
  tokens of the return-conditioned sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from hwsim.errors import ShapeError

ABR_ROWS = 6


def _mlp(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(1, width), nn.LeakyReLU(), nn.Linear(width, out))


def _conv(width: int, kernel: int, length: int, out: int, channels: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(channels, width, kernel), nn.LeakyReLU(), nn.Flatten(),
                         nn.Linear(width * (length - kernel + 1), out))


class ABRStateEncoder(nn.Module):
    """Pensieve state ``(..., 6, history_len)``, or the environment's flattened ``(..., 6 x history_len)``,
    -> 6 tokens ``(..., 6, embed_dim)``.

    Rows (see :class:`agents.abr.env.ABREnv`): 0 last bitrate, 1 buffer, 2 throughput history,
    3 download-time history, 4 next chunk sizes in the first ``levels`` columns, 5 chunks left.
    """

    tokens = ABR_ROWS

    def __init__(self, embed_dim: int, history_len: int = 8, levels: int = 6, feature_dim: int = 128,
                 conv_size: int = 4) -> None:
        super().__init__()
        if conv_size > history_len or levels > history_len:
            raise ShapeError(f"history_len {history_len} must be >= conv_size {conv_size} and levels {levels}")
        self.history_len, self.levels = int(history_len), int(levels)
        self.last_bitrate = _mlp(feature_dim, embed_dim)
        self.buffer = _mlp(feature_dim, embed_dim)
        self.throughput = _conv(feature_dim, conv_size, history_len, embed_dim)
        self.delay = _conv(feature_dim, conv_size, history_len, embed_dim)
        self.sizes = _conv(feature_dim, levels, levels, embed_dim)
        self.remaining = _mlp(feature_dim, embed_dim)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """Token embeddings of every state in the batch."""
        if state.shape[-1:] == (ABR_ROWS * self.history_len,):
            state = state.reshape(*state.shape[:-1], ABR_ROWS, self.history_len)
        if state.shape[-2:] != (ABR_ROWS, self.history_len):
            raise ShapeError(f"ABR states must end in shape ({ABR_ROWS}, {self.history_len}); got {tuple(state.shape)}")
        lead = state.shape[:-2]
        s = state.reshape(-1, ABR_ROWS, self.history_len)
        tokens = [self.last_bitrate(s[:, 0, -1:]), self.buffer(s[:, 1, -1:]),
                  self.throughput(s[:, 2:3, :]), self.delay(s[:, 3:4, :]),
                  self.sizes(s[:, 4:5, :self.levels]), self.remaining(s[:, 5, -1:])]
        return torch.stack(tokens, dim=1).reshape(*lead, ABR_ROWS, -1)


class ViewportEncoder(nn.Module):
    """Past orientations ``(B, history, 3)`` in [-1, 1] (roll/180, pitch/90, yaw/180) -> one token per
    sample ``(B, history, embed_dim)``. ``periodic`` marks the angles that wrap around (roll, yaw)."""

    def __init__(self, embed_dim: int, periodic: tuple[bool, bool, bool] = (True, False, True),
                 feature_dim: int = 128, offset_gain: float = 4.0) -> None:
        super().__init__()
        self.register_buffer("periodic", torch.tensor(periodic), persistent=False)
        self.offset_gain = float(offset_gain)
        self.conv = _conv(feature_dim, 3, 3, embed_dim, channels=2)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Token embeddings of every past sample."""
        if history.ndim != 3 or history.shape[-1] != 3:
            raise ShapeError(f"viewport histories must have shape (batch, history, 3); got {tuple(history.shape)}")
        offset = wrap_unit(history - history[:, -1:, :], self.periodic) * self.offset_gain
        x = torch.stack([history, offset], dim=2)  # (B, h, 2, 3)
        b, h = history.shape[:2]
        return self.conv(x.reshape(b * h, 2, 3)).reshape(b, h, -1)


def wrap_unit(x: torch.Tensor, periodic: torch.Tensor) -> torch.Tensor:
    """Bring the periodic components of normalised angles (1 = 180 degrees) into [-1, 1)."""
    return torch.where(periodic, torch.remainder(x + 1.0, 2.0) - 1.0, x)


class ReturnEncoder(nn.Module):
    """A scalar return-to-go -> one token."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(1, embed_dim)

    def forward(self, returns: torch.Tensor) -> torch.Tensor:
        """``(...)`` -> ``(..., embed_dim)``."""
        return self.linear(returns.unsqueeze(-1))


class DiscreteActionEncoder(nn.Module):
    """An action index in ``0..n-1``, or ``n`` for "no previous action", -> one token."""

    def __init__(self, num_actions: int, embed_dim: int) -> None:
        super().__init__()
        self.num_actions = int(num_actions)
        self.embedding = nn.Embedding(self.num_actions + 1, embed_dim)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        """``(...)`` integer actions -> ``(..., embed_dim)``."""
        return self.embedding(actions.long().clamp(0, self.num_actions))


class TimestepEncoder(nn.Module):
    """The step index within the episode (clamped at ``max_timestep``) -> an embedding added to
    every token of that step."""

    def __init__(self, max_timestep: int, embed_dim: int) -> None:
        super().__init__()
        self.max_timestep = int(max_timestep)
        self.embedding = nn.Embedding(self.max_timestep + 1, embed_dim)

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        """``(...)`` -> ``(..., embed_dim)``."""
        return self.embedding(timesteps.long().clamp(0, self.max_timestep))
