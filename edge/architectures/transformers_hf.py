"""Hugging Face ``transformers`` encoders built from a small configuration with random weights (nothing
downloaded): a BERT text encoder and a ViT image encoder. Each is wrapped to take one tensor and return
the last hidden state, the form an edge deployment calls."""

from __future__ import annotations

import torch
from torch import nn


class LastHiddenState(nn.Module):
    """``model(input).last_hidden_state`` as a plain module."""

    def __init__(self, model: nn.Module, key: str) -> None:
        super().__init__()
        self.model = model
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden state for ``x``."""
        return self.model(**{self.key: x}).last_hidden_state


def bert_encoder(layers: int = 4, hidden: int = 256, heads: int = 4, seq: int = 128,
                 vocab: int = 30522) -> tuple[nn.Module, torch.Tensor]:
    """A BERT encoder (``BertModel``, eager attention) of ``layers`` layers, and token ids of one sequence
    of ``seq`` tokens."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=4 * hidden, max_position_embeddings=max(512, seq),
                     attn_implementation="eager")
    model = LastHiddenState(BertModel(cfg, add_pooling_layer=False), "input_ids").eval()
    ids = torch.randint(0, vocab, (1, seq), generator=torch.Generator().manual_seed(0))
    return model, ids


def vit_encoder(layers: int = 4, hidden: int = 192, heads: int = 3, image: int = 224,
                patch: int = 16) -> tuple[nn.Module, torch.Tensor]:
    """A ViT image encoder (``ViTModel``, ViT-Tiny width, eager attention) of ``layers`` layers, and one
    ``image`` x ``image`` RGB image."""
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                    intermediate_size=4 * hidden, image_size=image, patch_size=patch, attn_implementation="eager")
    model = LastHiddenState(ViTModel(cfg, add_pooling_layer=False), "pixel_values").eval()
    return model, torch.randn(1, 3, image, image, generator=torch.Generator().manual_seed(0))
