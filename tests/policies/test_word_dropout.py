"""`vla train --word-dropout`: instruction word dropout, fixed copies per string, exact resume."""

import json

import pytest
import torch
from safetensors.torch import load_file

from vla.errors import VlaUserError
from vla.policies.train.augment import WordDropout, grounded_words
from vla.policies.train.command import run_train
from vla.policies.train.config import TrainConfig

SENTENCE = "push the red cube to the left of the table"


def test_copies_are_fixed_per_string_and_drop_words_at_the_rate():
    wd = WordDropout(0.2, variants=4, seed=0)
    copies = wd.copies(SENTENCE)
    assert len(copies) == 4 and copies == WordDropout(0.2, variants=4, seed=0).copies(SENTENCE)
    assert copies != WordDropout(0.2, variants=4, seed=1).copies(SENTENCE)  # the run's seed draws other copies
    words = SENTENCE.split()
    for c in copies:  # a copy keeps the surviving words in order
        it = iter(words)
        assert all(w in it for w in c.split())
    # Over many strings, each word goes with probability p, and no copy is ever empty.
    texts = [f"{SENTENCE} number {i}" for i in range(500)]
    wd = WordDropout(0.2, variants=4, seed=0)
    kept = sum(len(c.split()) for t in texts for c in wd.copies(t))
    total = 4 * sum(len(t.split()) for t in texts)
    assert kept / total == pytest.approx(0.8, abs=0.01)
    assert WordDropout(0.9, variants=8).copies("one") == ("one",) * 8  # a copy with no word left is the original
    assert all(c for c in WordDropout(0.95, variants=8).copies("two words"))


def test_colour_and_shape_names_are_never_dropped():
    keep = grounded_words()
    assert {"red", "pink", "cube", "cylinder", "bowl"} <= keep and "left" not in keep
    wd = WordDropout(0.6, variants=8, keep=keep)
    texts = [f"put the {c} {s} in the blue bowl" for c in ("red", "green") for s in ("cube", "sphere")]
    copies = [c for t in texts for c in wd.copies(t)]
    for t in texts:
        for c in wd.copies(t):
            assert [w for w in c.split() if w in keep] == [w for w in t.split() if w in keep]
    # Everything else goes at the rate: "put", "the", "in", "the" are 4 of 8 words per sentence.
    dropped = sum(8 - len(c.split()) for c in copies) / (4 * len(copies))
    assert dropped == pytest.approx(0.6, abs=0.12)


def test_half_the_instructions_are_swapped_for_a_copy_reproducibly():
    wd = WordDropout(0.3, variants=4, rate=0.5)
    texts = [f"lift the red cube {i}" for i in range(2000)]
    a = wd(texts, torch.Generator().manual_seed(7))
    assert a == wd(texts, torch.Generator().manual_seed(7))  # the trainer's per-step generator decides
    swapped = [x != t for x, t in zip(a, texts, strict=True)]
    assert all(x in (t, *wd.copies(t)) for x, t in zip(a, texts, strict=True))
    # Swapped half the time, and a copy can equal its original (nothing dropped: 0.7^5 = 17% of copies here).
    assert sum(swapped) / len(texts) == pytest.approx(0.5 * (1 - 0.7**5), abs=0.04)
    assert wd(texts, torch.Generator().manual_seed(8)) != a
    with pytest.raises(ValueError):
        WordDropout(1.0)


def _train(dataset, out, **kw):
    cfg = TrainConfig(
        **{"batch_size": 8, "log_every": 1, "warmup_steps": 2, "threads": 1, "policy": "tiny-diffusion", **kw},
        dataset=str(dataset),
        out=out,
    )
    assert run_train(cfg) == 0
    return load_file(str(out / "checkpoints" / "last" / "training_state" / "model.safetensors"))


def test_word_dropout_changes_training_and_resumes_exactly(pick_demos, tmp_path):
    kw = {"word_dropout": 0.5, "word_dropout_scope": "all"}
    _train(pick_demos, tmp_path / "a", steps=4, pause_at=2, **kw)
    a = _train(pick_demos, tmp_path / "a", steps=4, **kw)
    b = _train(pick_demos, tmp_path / "b", steps=4, **kw)
    plain = _train(pick_demos, tmp_path / "plain", steps=4)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # resumed = straight
    # The dropped words reach the model: the same seed without dropout trains other weights.
    assert any(not torch.equal(a[k], plain[k]) for k in a)
    assert json.loads((tmp_path / "a" / "train_config.json").read_text())["word_dropout"] == 0.5
    with pytest.raises(VlaUserError, match="--word-dropout"):
        _train(pick_demos, tmp_path / "bad", steps=1, word_dropout=1.0)
    with pytest.raises(VlaUserError, match="needs --locator"):  # the default scope is the locator's
        _train(pick_demos, tmp_path / "bad", steps=1, word_dropout=0.2)
    assert not (tmp_path / "bad").exists()


def test_locator_scope_changes_only_the_locator(pick_demos, tmp_path):
    """With --word-dropout-scope locator, the backbone and the head read every instruction whole: every weight
    outside the locator is bit-identical to a run without dropout, and the locator's differ."""
    kw = {
        "policy": "tiny-l1", "aux_scenes": 8, "aux_scene_batch": 4, "locator": True, "conditioning_at": "carried",
        "conditioning_noise": 0.005,
    }  # fmt: skip
    plain = _train(pick_demos, tmp_path / "plain", steps=3, **kw)
    drop = _train(pick_demos, tmp_path / "drop", steps=3, word_dropout=0.5, **kw)  # the same seeded scene bank
    assert plain.keys() == drop.keys()
    located = [k for k in plain if k.startswith("locator.")]
    rest = [k for k in plain if not k.startswith("locator.")]
    assert len(located) > 20 and len(rest) > 20
    assert all(torch.equal(plain[k], drop[k]) for k in rest)
    assert sum(not torch.equal(plain[k], drop[k]) for k in located) > len(located) // 2
