"""An encoder with mean pooling and a linear head: the classifier that encoder strategies train."""

from __future__ import annotations

import torch
from torch import nn


class EncoderClassifier(nn.Module):
    """`encoder` (a transformers model, possibly PEFT-wrapped) -> masked mean pooling -> linear head.

    Mean pooling matches how sentence embedders such as e5 were trained, so the head starts from
    the same representation the `head` strategy sees; `normalize` L2-normalises the pooled vector as
    sentence embedders do.
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, num_labels: int, normalize: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize
        self.head = nn.Linear(hidden_size, num_labels)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.head(self.pool(input_ids, attention_mask))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out
