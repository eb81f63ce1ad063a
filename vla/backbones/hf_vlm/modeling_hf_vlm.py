"""Hugging Face vision-language models as VLA backbones (SmolVLM/Idefics3, PaliGemma, Qwen2-VL).

Camera images and the instruction go through the checkpoint's own processor (AutoProcessor; for
tiny test models the same processor classes built locally) into the VLM without its LM head:
    tokens    = the last kept decoder layer's hidden states (after the LM's final norm) over the
                whole prefix, image and text tokens, projected to D when hidden_size is set,
                followed by one state token when state_dim > 0
    cognition = pooling="last": the hidden state of the last valid prefix token, which attends to
                every image and text token (causal LMs; PaliGemma's prefix is fully bidirectional)
                pooling="mean": the mean over valid prefix tokens
    mask      = the processor's attention mask (padding is False), True for the state token
Idefics3/SmolVLM drop images whose normalized pixels are all exactly 0 as padding (a uniform 50% grey
frame under SigLIP's 0.5/0.5 normalization); real camera frames never are.
"""

from __future__ import annotations

import inspect
import re

import torch
import torch.nn.functional as F
from torch import nn

from vla.backbones.base import Backbone, BackboneOutput
from vla.errors import VlaUserError

from .configuration_hf_vlm import HFVLMBackboneConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# How each family wants one image referenced in the prompt; the processor expands it to the image's tokens.
IMAGE_PROMPTS = {
    "idefics3": "{image}",
    "smolvlm": "{image}",
    "paligemma": "{image}",  # the processor then adds BOS after the images and a newline after the text
    "qwen2_vl": "<|vision_start|>{image}<|vision_end|>",
    "qwen2_5_vl": "<|vision_start|>{image}<|vision_end|>",
}
# Processor options: one image tile per camera (SmolVLM would otherwise split images into many tiles).
IMAGE_KWARGS = {"idefics3": {"do_image_splitting": False}, "smolvlm": {"do_image_splitting": False}}


def load_pretrained(config: HFVLMBackboneConfig):
    """(AutoModelForImageTextToText model, AutoProcessor) from a Hub id or a local dir, or a tiny offline model."""
    dtype = DTYPES[config.dtype]
    if config.tiny_family is not None:
        from .tiny import build_tiny

        return build_tiny(config.tiny_family, dtype=dtype)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        # The torchvision image processors take our float tensors as they are, on their device. (transformers
        # would pick PIL for SmolVLM/Idefics3 under torchvision < 0.27 to reproduce LANCZOS resizing exactly.)
        processor = AutoProcessor.from_pretrained(config.model_id, backend="torchvision")
        model = AutoModelForImageTextToText.from_pretrained(config.model_id, dtype=dtype)
    except OSError as e:
        raise VlaUserError(
            f"hf_vlm: could not load '{config.model_id}' ({e}). Offline, point model_id at a local checkpoint dir "
            "(or run once online so the Hub cache has it)"
        ) from None
    except ImportError as e:  # e.g. SmolVLM2's processor needs num2words
        raise VlaUserError(f"hf_vlm: the processor of '{config.model_id}' needs a missing package: {e}") from None
    return model, processor


class HFVLMBackbone(Backbone):
    config_class = HFVLMBackboneConfig

    def __init__(self, config: HFVLMBackboneConfig, camera_names: list[str], state_dim: int):
        super().__init__(config, camera_names, state_dim)
        if not self.camera_names:
            raise VlaUserError("the hf_vlm backbone needs at least one camera")
        model, self.processor = load_pretrained(config)
        self.vlm = model.model  # the VLM without its LM head: we need hidden states, never logits
        del model
        self.model_type: str = self.vlm.config.model_type
        if self.model_type not in IMAGE_PROMPTS and not hasattr(self.processor, "image_token"):
            raise VlaUserError(
                f"hf_vlm: model type '{self.model_type}' is not supported; use a SmolVLM/Idefics3, PaliGemma or "
                "Qwen2-VL checkpoint"
            )
        image = IMAGE_PROMPTS.get(self.model_type, "{image}").format(image=self.processor.image_token)
        self._image_prompt = image * len(self.camera_names)
        self._image_kwargs = IMAGE_KWARGS.get(self.model_type, {})
        self._forward_args = {
            name
            for name, p in inspect.signature(self.vlm.forward).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

        decoder = self.vlm.get_decoder()
        self.num_layers = self._truncate(decoder, config.num_layers)
        self._frozen = config.freeze and config.lora_rank == 0
        if config.freeze or config.lora_rank:
            self.vlm.requires_grad_(False)
        if config.lora_rank:
            self._add_lora(decoder)
        if self._frozen:
            self.vlm.eval()

        lm_hidden = self.vlm.config.get_text_config().hidden_size
        self.hidden_size = config.hidden_size or lm_hidden
        self.proj = nn.Linear(lm_hidden, self.hidden_size) if config.hidden_size else nn.Identity()
        self.state_proj = nn.Linear(state_dim, self.hidden_size) if state_dim > 0 else None

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _truncate(decoder: nn.Module, num_layers: int | None) -> int:
        """Keep the first K decoder layers (as SmolVLA does); returns the number kept."""
        total = len(decoder.layers)
        if num_layers is None or num_layers == total:
            return total
        if num_layers > total:
            raise VlaUserError(f"hf_vlm: num_layers={num_layers} but the language model has only {total} layers")
        decoder.layers = decoder.layers[:num_layers]
        decoder.config.num_hidden_layers = num_layers
        if getattr(decoder.config, "layer_types", None) is not None:
            decoder.config.layer_types = decoder.config.layer_types[:num_layers]
        return num_layers

    def _add_lora(self, decoder: nn.Module) -> None:
        """peft LoRA on the language model's attention projections; only the adapters train inside the VLM."""
        from peft import LoraConfig, inject_adapter_in_model

        cfg = self.config
        prefix = next(name for name, m in self.vlm.named_modules() if m is decoder)
        names = "|".join(re.escape(n) for n in cfg.lora_target_modules)
        target = rf"{re.escape(prefix)}\..*\.({names})" if prefix else rf".*\.({names})"
        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha if cfg.lora_alpha is not None else cfg.lora_rank,
            lora_dropout=cfg.lora_dropout,
            target_modules=target,
            bias="none",
        )
        try:
            inject_adapter_in_model(lora, self.vlm)
        except ValueError as e:
            raise VlaUserError(
                f"hf_vlm: no LoRA targets {cfg.lora_target_modules} in the language model ({e}); "
                "set lora_target_modules to its attention projections' names"
            ) from None
        for name, p in self.vlm.named_parameters():
            p.requires_grad_("lora_" in name)

    def train(self, mode: bool = True) -> HFVLMBackbone:
        super().train(mode)
        if self._frozen:
            self.vlm.eval()
        return self

    # ------------------------------------------------------------------ forward
    def _model_inputs(self, images: dict[str, torch.Tensor], instructions: list[str]) -> dict[str, torch.Tensor]:
        missing = [c for c in self.camera_names if c not in images]
        if missing:
            raise VlaUserError(f"images lack camera(s) {missing}; the backbone expects {self.camera_names}")
        views = [images[c].detach().float() for c in self.camera_names]  # (B, 3, H, W) each, in [0, 1]
        size = self.config.image_size
        if size is not None:
            views = [F.interpolate(v, size=(size, size), mode="bilinear", antialias=True) for v in views]
        per_sample = [[v[i] for v in views] for i in range(views[0].shape[0])]
        prompts = [self._image_prompt + text for text in instructions]
        batch = self.processor(
            text=prompts,
            images=per_sample,
            return_tensors="pt",
            padding="longest",
            do_rescale=False,
            **self._image_kwargs,
        )
        device, dtype = self._device, self.vlm.dtype
        inputs = {}
        for key, value in batch.items():
            if key in self._forward_args:
                value = value.to(device)
                inputs[key] = value.to(dtype) if value.is_floating_point() else value
        return inputs

    @property
    def _device(self) -> torch.device:
        return next(self.vlm.parameters()).device

    def forward(
        self,
        images: dict[str, torch.Tensor],
        instructions: list[str],
        state: torch.Tensor | None,
    ) -> BackboneOutput:
        b = self.batch_size(images, instructions)
        inputs = self._model_inputs(images, list(instructions))
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self._frozen):
            hidden = self.vlm(**inputs, use_cache=False).last_hidden_state  # (B, L, H_lm)
        tokens = self.proj(hidden.float())  # (B, L, D)
        mask = inputs["attention_mask"].bool()  # (B, L)
        if self.config.pooling == "last":
            last = (mask.long() * torch.arange(mask.shape[1], device=mask.device)).argmax(1)  # any padding side
            cognition = tokens[torch.arange(b, device=tokens.device), last]
        else:
            m = mask.unsqueeze(-1).to(tokens.dtype)
            cognition = (tokens * m).sum(1) / m.sum(1).clamp_min(1.0)
        if self.state_proj is not None:
            if state is None:
                raise VlaUserError(f"the backbone was built for state_dim={self.state_dim} but got no state")
            tokens = torch.cat([tokens, self.state_proj(state.float())[:, None]], 1)
            mask = torch.cat([mask, mask.new_ones(b, 1)], 1)
        return BackboneOutput(tokens=tokens, cognition=cognition, mask=mask)
