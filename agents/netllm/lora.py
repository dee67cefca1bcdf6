"""Low-rank adaptation (LoRA, through ``peft``) of the backbone's attention projections, and the
bookkeeping of which weights are trained: the adapters, the encoders and the heads, nothing else."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from hwsim.errors import ConfigError, DataError


@dataclass(frozen=True)
class LoRAConfig:
    """Adapter rank (0 = no adapters: the backbone stays entirely frozen), scaling ``alpha``,
    dropout, and the names of the linear layers to adapt (NetLLM: the query and value projections)."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    targets: tuple[str, ...] = field(default=("q_proj", "v_proj"))

    def __post_init__(self) -> None:
        if self.rank < 0 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA needs rank >= 0, alpha > 0 and 0 <= dropout < 1; got {self}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        out = asdict(self)
        out["targets"] = list(self.targets)
        return out


def apply_lora(backbone: nn.Module, config: LoRAConfig) -> nn.Module:
    """Wrap ``backbone.model`` with LoRA adapters on the ``config.targets`` projections (in place);
    every original weight stays frozen. Returns the backbone."""
    if config.rank == 0:
        return backbone
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, mod in backbone.model.named_modules() if isinstance(mod, nn.Linear)}
    missing = [t for t in config.targets if t not in names]
    if missing:
        raise ConfigError(f"LoRA targets {missing} are not linear layers of this backbone; choose from {sorted(names)}")
    peft_config = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                             target_modules=list(config.targets), bias="none")
    with warnings.catch_warnings():  # peft calls a transformers property deprecated in transformers 5
        warnings.simplefilter("ignore", FutureWarning)
        backbone.model = get_peft_model(backbone.model, peft_config)
    return backbone


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The trained weights of ``module`` (every parameter with ``requires_grad``), copied to the CPU."""
    return {name: p.detach().cpu().clone() for name, p in module.named_parameters() if p.requires_grad}


def load_trainable_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load weights saved by :func:`trainable_state` into a module built the same way."""
    params = dict(module.named_parameters())
    expected = {name for name, p in params.items() if p.requires_grad}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise DataError(f"checkpoint does not match the model (missing {missing}, unexpected {extra}); "
                        "rebuild the model with the run's saved configuration")
    with torch.no_grad():
        for name, value in state.items():
            if params[name].shape != value.shape:
                raise DataError(f"checkpoint weight {name} has shape {tuple(value.shape)}, "
                                f"the model {tuple(params[name].shape)}")
            params[name].copy_(value.to(params[name].device))


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Trainable and total parameter counts, and those of the LoRA adapters alone."""
    trainable = total = lora = 0
    for name, p in module.named_parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
            if "lora_" in name:
                lora += p.numel()
    return {"trainable": trainable, "total": total, "lora": lora}
