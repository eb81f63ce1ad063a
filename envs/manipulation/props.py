"""Prop vocabulary: colours, shapes, and the train / held-out split of colour-shape combinations."""

from __future__ import annotations

from dataclasses import dataclass

# Colours that stay distinguishable at 96x96 under the lighting randomization. RGB in [0, 1].
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.12, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "purple": (0.55, 0.20, 0.75),
    "orange": (1.00, 0.50, 0.05),
    "cyan": (0.10, 0.80, 0.85),
    "pink": (1.00, 0.50, 0.70),
}
GRASPABLE_SHAPES: tuple[str, ...] = ("cube", "cylinder", "sphere")
PUSHABLE_SHAPES: tuple[str, ...] = ("cube", "cylinder")  # spheres roll past the goal region
SPLITS: tuple[str, ...] = ("train", "heldout")


@dataclass(frozen=True)
class PropKind:
    colour: str
    shape: str

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"


def is_heldout(colour: str, shape: str) -> bool:
    """A fixed quarter of colour-shape combinations never appears in training data.

    A Latin-square pattern: every colour and every shape keeps some combinations in each split,
    so held-out evaluation measures composition, not unseen colours or shapes.
    """
    c = list(COLOURS).index(colour)
    s = list(GRASPABLE_SHAPES).index(shape) if shape in GRASPABLE_SHAPES else 3
    return (c + 3 * s) % 4 == 0


def combos(split: str | None, shapes: tuple[str, ...] = GRASPABLE_SHAPES) -> list[PropKind]:
    """Colour-shape combinations of a split (None: all of them)."""
    out = []
    for shape in shapes:
        for colour in COLOURS:
            if split is None or (split == "heldout") == is_heldout(colour, shape):
                out.append(PropKind(colour, shape))
    return out
