"""An encoder with mean pooling and a linear head: the classifier that encoder strategies train."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class EncoderClassifier(nn.Module):
    """`encoder` (a transformers model, possibly PEFT-wrapped) -> masked mean pooling -> linear head.

    Mean pooling matches how sentence embedders such as e5 were trained, so the head starts from
    the same representation the `head` strategy sees; `normalize` L2-normalises the pooled vector as
    sentence embedders do. `loss_terms` (callables of the model, e.g. the EWC / L2-SP penalties of
    :mod:`~polyglot_transfer.adapt.forgetting`) are added to the training loss.

    When some weights are frozen (adapters), `state_dict()` holds the trainable ones only, so the
    Trainer's checkpoints are adapter-sized and resuming loads them back (it loads non-strictly).
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, num_labels: int, normalize: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize
        self.head = nn.Linear(hidden_size, num_labels)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.loss_terms: list[Any] = []

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
            if self.training:
                for term in self.loss_terms:
                    out["loss"] = out["loss"] + term(self)
        return out

    def _frozen_keys(self) -> set[str]:
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        if len(trainable) == sum(1 for _ in self.parameters()):
            return set()
        return set(super().state_dict()) - trainable

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        full = super().state_dict(*args, **kwargs)
        frozen = self._frozen_keys()
        prefix = kwargs.get("prefix", "")
        return type(full)((k, v) for k, v in full.items() if k[len(prefix):] not in frozen) if frozen else full

    @property
    def _keys_to_ignore_on_save(self) -> list[str]:
        """The frozen weights a checkpoint leaves out (the Trainer does not warn that they are missing)."""
        return sorted(self._frozen_keys())

    def tie_weights(self) -> None:
        """Nothing to tie (called by the Trainer after a checkpoint without the frozen weights loads)."""
