"""Backbone registry. Entries import lazily: `transformers` loads only when an HF VLM is asked for."""

from vla.registry import Registry

from .base import Backbone, BackboneConfig, BackboneOutput

BACKBONES = Registry("backbone")
BACKBONES.register("embedded", "vla.backbones.embedded.modeling_embedded:EmbeddedBackbone")
BACKBONES.register("hf_vlm", "vla.backbones.hf_vlm.modeling_hf_vlm:HFVLMBackbone")

__all__ = ["BACKBONES", "Backbone", "BackboneConfig", "BackboneOutput"]
