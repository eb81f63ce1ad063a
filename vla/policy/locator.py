"""A target locator: where the instruction's target and goal are, to about a centimetre, from one camera.

The action head reaches 97.5% tabletop success when it reads the true target and goal positions, and
loses 21 points at 1 cm of position error (README, "Policy quality"). The backbone's 12x12 grounding
heatmaps (a cell is ~4 cm of table) did not give that precision, and neither can any single image point:
the scene camera's pose is jittered per episode (+-1.5 cm, up to 2 degrees), which alone moves a table
point's image position by ~1 cm. So the locator is its own small network with two parts:

- **Heatmaps at half the image resolution** (a U-Net: three stride-2 FiLM stages down to 12x12, two
  upsampling stages with skip connections back to 48x48 at 96 px). Every cell gets an embedding; a map is
  the dot product of the cells with a query. The target's and the goal's queries are pooled from the
  instruction's word states (four attention queries per map: "the red cube", "the blue bowl", "to the
  left"), plus a projection of the sentence embedding; *landmark*
  queries are learned constants for points the scene always shows: the gripper's tool point and two points
  on the table's back edge. A linear head on the same cell embeddings predicts each pixel's colour and
  shape class (from the simulator's segmentation), so colours and shapes are learned for every prop in view
  and a held-out colour-shape combination is a new sum of known parts. Trained on scene-bank scenes with
  a cross-entropy to Gaussian labels plus an L1 on each map's soft-argmax (sub-cell precision).
- **A colour vote** (`colour_vote` > 0): a linear head on each point's pooled phrases names the colour of the
  prop the point is on (or none: pick's lift point, push's goal region), trained on the bank's point colours.
  Choosing a map's peak, every cell's log-probability of that colour (from the per-pixel classes) is added to
  the heatmap, weighted, so a brighter peak on a distractor of another colour loses. The heatmaps alone put
  the target on another prop in about a fifth of pick and stack layouts; shape is not voted on, because the
  per-pixel shape classes are unreliable at 96 px (a cylinder and a cube a few pixels wide) and made held-out
  layouts worse when tried with the true shapes.
- **Geometry**: one MLP shared by the points (told apart by a one-hot) from a point's committed image
  position (its map's soft-argmax around the peak), every map's image position, the normalized state
  (which holds the tool point's true 3-D position) and a projection of the sentence embedding (which
  task's goal convention applies: pick's goal is a point in the air) to that point's xyz. Landmarks with
  known 3-D positions calibrate the jittered camera, as fiducials would: a least-squares fit of cubic terms
  on *true* image points gets the target's table position to 0.3 / 0.2 cm per axis with the tool point
  (0.2 / 0.1 cm with also the table edge and the robot base), against 1.0 / 0.8 cm from the target's image
  point alone (median, 1,500 reset scenes). The MLP trains on the bank's true image points plus noise (the
  camera geometry), and on the heatmaps' own committed points of each step's scene batch (detached): pick's
  lift point and push's goal region are places no prop marks, where a heatmap cannot be exact, so the MLP
  learns to read them off the target's image point and the sentence instead.
- **Table fits** (`table_fit`, `goal_table_fit`; 'carried' conditioning): on a reset frame the target's table
  xy comes from a least-squares fit of its image point, the landmarks' and the tool centre's position, and a
  goal that is a prop (a bowl, a base cube) gets a fit of its own that also reads the goal's height; both are
  solved in closed form on the bank's true image points before training (`vla.policy.table_fit`).

Inputs at inference: one camera image, the instruction and the state. Nothing privileged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vla.backbones.embedded.vision_encoder import IMAGE_MEAN, IMAGE_STD, FiLMConv, soft_argmax
from vla.constants import OBS_IMAGE_SCENE
from vla.errors import VlaUserError

from .auxiliary import PrivilegedStateHead
from .estimate_conditioning import peak_features
from .grounding import grounding_labels, semantic_loss
from .table_fit import TableFit

ON_TABLE_Z = 0.035
"""A target whose centre is lower than this (m above the table top) rests on the table (the suite's props stand
2-2.5 cm tall at their centres); the table fit trains on those bank rows only."""
SENTENCE_DIM = 32  # the geometry's view of the instruction: which goal convention applies
QUERY_HEADS = 4  # attention-pooled phrases per point query


class LocatorMaps(NamedTuple):
    """What the locator reads off one batch of its camera (`VLAPolicy._locator_maps`)."""

    logits: torch.Tensor
    """(B, maps, h, w) heatmap logits."""
    semantics: torch.Tensor | None
    """(B, sum(classes), h, w) per-cell class logits, or None without a semantic head."""
    prior: torch.Tensor | None
    """(B, maps, h, w) the colour vote's log-weights, or None without a vote."""
    on_prop: torch.Tensor | None
    """(B, points) each point's probability of being on a prop, or None without a vote."""
    sentence: torch.Tensor
    """(B, E) the sentence embedding."""
    state: torch.Tensor
    """(B, S) the normalized state."""
    phrases: torch.Tensor | None
    """(B, points, heads * E) each point's phrases for the geometry, or None unless it reads them."""


@dataclass
class LocatorConfig:
    camera: str = OBS_IMAGE_SCENE
    """The camera the locator reads (one fixed, whole-scene view)."""
    channels: tuple[int, ...] = (16, 32, 64)
    """Encoder stages, each a stride-2 FiLM conv: 48x48, 24x24 and 12x12 feature maps at 96 px."""
    bottleneck_blocks: int = 2
    """Residual FiLM convs at the coarsest stage (global context: which of two red props is the cube)."""
    embed_dim: int = 32
    """Width of the decoder and of each cell's embedding."""
    groups: int = 8
    """GroupNorm groups; must divide every entry of `channels` and `embed_dim`."""
    landmarks: int = 3
    """Landmark maps, learned from the scene bank's labels after the environment-state points."""
    label_sigma: float = 1.0
    """Std of the Gaussian heatmap labels, in cells of the 48x48 map (2 px at 96 px)."""
    coord_weight: float = 10.0
    """Weight of the L1 between each map's soft-argmax and its label (image fractions) in the locator loss."""
    pixel_noise: float = 0.004
    """Geometry training: std of the noise added to the true image points (fraction of the image side; ~0.4 px
    at 96 px), so the geometry tolerates the heatmaps' error."""
    semantic_classes: tuple[int, ...] = ()
    """Classes per semantic label group (e.g. colour, shape; background included) predicted per pixel from
    the bank's segmentation; empty: no semantic head."""
    lr: float = 1e-3
    """Peak learning rate of the locator's parameters (the rest of the policy trains at `vla train --lr`); the
    trainer's warm-up and decay apply to it too. Measured by bench/bench_locator.py: at 3e-4 the locator has
    not learned which prop is named within 1,700 steps, at 1e-3 it has."""
    peak_radius: int = 2
    """Cells on each side of a map's highest cell that its committed point (the soft-argmax around the peak)
    averages over: 2 is 5x5 cells of the 48x48 map (+-4 px at 96 px). A 3x3 window pulls the point toward the
    peak cell's centre (a truncated Gaussian's mean): on the same checkpoint, 5x5 halved the landmarks' image
    error (0.38 -> 0.19 px) and cut the target's table error from 0.81 to 0.54 cm (pick, median; README)."""
    colour_vote: float = 0.0
    """Weight of the colour vote (0: none; needs `semantic_classes`, colour first): a linear head reads each
    point's attention-pooled instruction phrases and names the colour of the prop that point is on ("not a
    prop" for pick's lift point and push's goal region); at inference every cell's log-probability of that
    colour (the per-pixel class head's), times this weight, is added to the heatmap to choose the peak. The
    heatmaps alone confuse a named prop with a distractor of another colour; the per-pixel colours are learned
    on every prop in view, so a held-out colour-shape combination still has a known colour."""
    table_fit: bool = False
    """Also keep a least-squares table fit (`vla.policy.table_fit`): the target's table xy from cubic terms of
    its image point, the landmarks' and the tool centre's position, solved on the scene bank before training.
    Used where the target is known to rest on the table: the reset frame of 'carried' conditioning."""
    goal_table_fit: bool = False
    """And a second one for a goal that is a prop standing on the table (a bowl, a base cube): its table xy from
    the goal's image point, the landmarks', the tool centre's position and the goal's height (the geometry's
    estimate: a bowl's point is at the table top, a cube's centre 2 cm up), solved on the bank rows whose goal
    is a prop. Used at the reset frame where the colour vote's head says the goal is on a prop (needs
    `colour_vote` and `table_fit`); the geometry MLP, shared by four tasks' goal conventions, put the base cube
    1.1 cm off (median) where stacking needs well under a centimetre."""
    geometry_phrases: bool = False
    """The geometry MLP also reads each point's own attention-pooled phrases (the words its heatmap query picks
    out, e.g. "to the left"), projected, beside the whole sentence's projection. The sentence embedding is a
    mean over every word, so a paraphrase's new words move it: on "nudge the X over to the {direction}" the
    geometry put push's goal more than 3 cm off in 62% of held-out layouts, and 19% with the same image points
    and a training wording's sentence (b14 checkpoint). The direction word's own state is near the training
    wordings' (cosine 0.92) wherever it stands. The geometry's loss then also trains the phrase queries."""
    window_vote: bool = False
    """The colour vote also weights the cells of the peak window, not only the choice of the peak: a map's
    committed point is the soft-argmax of heatmap + vote around the peak, so it moves toward the cells that show
    the named colour. A held-out colour-shape combination (a red cube never seen as a target) gets a broad or
    off-centre heatmap; the per-pixel colours are learned on every prop in view. Inference only (the geometry
    trains on the heatmaps' own points). On b15's checkpoint at reset frames (20-22 layouts per wording): held-out
    stack "build a tower with..." target median 1.20 -> 0.58 cm, more than 1 cm off 64% -> 23%; training
    wordings unchanged within noise."""
    shape_vote: float = 0.0
    """Weight of a shape vote beside the colour vote (0: none; needs `colour_vote` and a shape group in
    `semantic_classes`): a second linear head on each point's phrases names the shape of the prop it is on, and
    every cell's log-probability of that shape is added, times this weight, where the colour vote's is. The
    per-pixel shape head also learns from copies of the bank's images with their colour channels permuted
    (`AUX_SHAPE_VIEW`), where a blue cube looks red, so it names shapes less by colour: b15's shape head,
    trained on the images alone, called 0 of 28 held-out red cubes a cube (every red prop in training is a
    cylinder or a sphere), and the target's heatmap went to a red cylinder or sphere in 7 of 30 held-out stack
    layouts. Trained with it end to end (b17) the vote made held-out targets worse: the shape classes then
    confused cylinders with cubes instead (README, "Policy quality"). The weight is read at inference only;
    the heads train whenever it is above 0."""
    geometry_hidden: int = 256
    geometry_batch: int = 1024
    """Bank label rows per training step for the geometry MLP (no images: cheap)."""

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        self.semantic_classes = tuple(int(n) for n in self.semantic_classes)
        if len(self.channels) < 2 or any(c % self.groups for c in (*self.channels, self.embed_dim)):
            raise VlaUserError(
                f"locator: channels={list(self.channels)} (>= 2 stages) and embed_dim={self.embed_dim} must be "
                f"multiples of groups={self.groups}"
            )
        if (
            self.lr <= 0
            or self.landmarks < 0
            or self.label_sigma <= 0
            or self.pixel_noise < 0
            or self.geometry_batch < 1
            or self.colour_vote < 0
            or self.shape_vote < 0
            or self.peak_radius < 1
        ):
            raise VlaUserError(
                f"locator: lr={self.lr} > 0, landmarks={self.landmarks} >= 0, label_sigma={self.label_sigma} > 0, "
                f"pixel_noise={self.pixel_noise} >= 0, geometry_batch={self.geometry_batch} >= 1 and "
                f"colour_vote={self.colour_vote} >= 0, shape_vote={self.shape_vote} >= 0 and "
                f"peak_radius={self.peak_radius} >= 1 required"
            )
        if self.colour_vote and not self.semantic_classes:
            raise VlaUserError("locator: colour_vote needs semantic_classes (per-pixel colour classes to vote with)")
        if self.shape_vote and not (self.colour_vote and len(self.semantic_classes) >= 2):
            raise VlaUserError(
                "locator: shape_vote needs colour_vote > 0 (whose head says whether a point is on a prop) and a "
                "shape group in semantic_classes (colour, shape)"
            )
        if self.window_vote and not self.colour_vote:
            raise VlaUserError("locator: window_vote needs colour_vote > 0 (the vote it weights the window with)")
        if self.goal_table_fit and not (self.table_fit and self.colour_vote):
            raise VlaUserError(
                "locator: goal_table_fit needs table_fit and colour_vote > 0 (whose head says whether the goal is "
                "a prop)"
            )


class _Up(nn.Module):
    """Upsample x2, concatenate the encoder's skip features, 3x3 conv -> GroupNorm -> SiLU."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, groups: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in + c_skip, c_out, kernel_size=3, padding=1, bias=False)
        self.norm = nn.GroupNorm(groups, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return F.silu(self.norm(self.conv(torch.cat([x, skip], 1))))


class _PerPoint(nn.Module):
    """(B, points, inputs) -> (B, 3 * points): one shared MLP applied to every point's inputs."""

    def __init__(self, mlp: nn.Module):
        super().__init__()
        self.mlp = mlp

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features).flatten(1)


class TargetLocator(nn.Module):
    """(B, 3, H, W) image + instruction words -> (B, points + landmarks, H/2, W/2) heatmap logits; and image
    points + state + sentence -> environment state (dataset units)."""

    def __init__(
        self,
        config: LocatorConfig,
        text_dim: int,
        num_points: int,
        state_dim: int,
        env_state_dim: int,
        tcp_index: tuple[int, ...] = (),
    ):
        super().__init__()
        c, d, g = config.channels, config.embed_dim, config.groups
        self.config, self.num_points = config, num_points
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.context = nn.Sequential(nn.Linear(text_dim, d), nn.SiLU())
        self.down = nn.ModuleList(FiLMConv(i, o, 2, g, d) for i, o in zip((3, *c[:-1]), c, strict=True))
        self.mid = nn.ModuleList(FiLMConv(c[-1], c[-1], 1, g, d) for _ in range(config.bottleneck_blocks))
        ups, width = [], c[-1]
        for skip in reversed(c[:-1]):  # back up to the first stage's resolution
            ups.append(_Up(width, skip, d, g))
            width = d
        self.up = nn.ModuleList(ups)
        self.embed = nn.Conv2d(width, d, kernel_size=1)
        # Each point's query: QUERY_HEADS attention-pooled phrases of the instruction ("the red cube", "the
        # blue bowl", "to the left") plus the whole sentence, which tells pushes to the left from the right.
        self.point_queries = nn.Parameter(torch.randn(num_points, QUERY_HEADS, text_dim) * text_dim**-0.5)
        self.point_text = nn.Linear(QUERY_HEADS * text_dim, d)
        self.point_sentence = nn.Linear(text_dim, num_points * d)
        self.landmark_queries = nn.Parameter(torch.randn(config.landmarks, d) * d**-0.5)
        self.scale = nn.Parameter(torch.tensor(d**-0.5))
        self.semantic_classes = config.semantic_classes
        self.semantics = nn.Conv2d(d, sum(self.semantic_classes), kernel_size=1) if self.semantic_classes else None
        # The colour each point's prop has, from its phrases (class 0: the point is on no prop).
        self.point_colour = (
            nn.Linear(QUERY_HEADS * text_dim, self.semantic_classes[0]) if config.colour_vote > 0 else None
        )
        self.point_shape = None  # and the shape of that prop, for the shape vote
        if config.shape_vote > 0:
            self.add_shape_head()
        self.sentence = nn.Linear(text_dim, SENTENCE_DIM)
        if env_state_dim != 3 * num_points:
            raise VlaUserError(
                f"the locator estimates one xyz per point: env_state_dim {env_state_dim} != 3 x {num_points}"
            )
        # One MLP shared by the points (told apart by a one-hot), reading its own image point and every map's:
        # pick's and push's goals are where the *target* stands plus an offset the sentence names.
        n_in = 2 + 2 * (num_points + config.landmarks) + state_dim + SENTENCE_DIM + num_points
        self.geometry_text = None
        if config.geometry_phrases:
            self.geometry_text = nn.Linear(QUERY_HEADS * text_dim, SENTENCE_DIM)
            n_in += SENTENCE_DIM
        h = config.geometry_hidden
        mlp = nn.Sequential(nn.Linear(n_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 3))
        self.geometry = PrivilegedStateHead(h, env_state_dim, _PerPoint(mlp))
        self.table = None
        if config.table_fit:
            if len(tcp_index) != 3:
                raise VlaUserError(
                    "the locator's table fit reads the tool centre's position: the state needs tcp.x, tcp.y, tcp.z "
                    "entries matched to the environment state's target.x/y/z (env_state_relative_to)"
                )
            self.register_buffer("tcp_index", torch.tensor(tcp_index, dtype=torch.long), persistent=False)
            self.table = TableFit(2 + 2 * config.landmarks + 3)
        # The goal's fit also reads the goal's height: a bowl's point and a cube's centre stand 2 cm apart.
        self.goal_table = TableFit(2 + 2 * config.landmarks + 3 + 1) if config.goal_table_fit else None

    @property
    def num_maps(self) -> int:
        return self.num_points + self.config.landmarks

    # ------------------------------------------------------------------ heatmaps
    def heatmaps(
        self, images: torch.Tensor, words: torch.Tensor, text_mask: torch.Tensor, sentence: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images (B, 3, H, W) in [0, 1], words (B, T, E), text_mask (B, T), sentence (B, E) -> heatmap logits
        (B, maps, h, w) and per-cell class logits (B, sum(classes), h, w) or None."""
        ctx = self.context(sentence)
        x = (images - self.mean) / self.std
        skips = []
        for conv in self.down:
            x = conv(x, ctx)
            skips.append(x)
        for conv in self.mid:
            x = conv(x, ctx)
        for up, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = up(x, skip)
        cells = self.embed(x)  # (B, D, h, w)
        phrases = self.phrases(words, text_mask)
        queries = self.point_text(phrases) + self.point_sentence(sentence).unflatten(1, (self.num_points, -1))
        queries = torch.cat([queries, self.landmark_queries.expand(queries.shape[0], -1, -1)], 1)
        logits = torch.einsum("bdhw,bpd->bphw", cells, queries) * self.scale
        return logits, (self.semantics(cells) if self.semantics is not None else None)

    def phrases(self, words: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, E) word states, (B, T) mask -> (B, points, heads * E) each point's attention-pooled phrases."""
        scores = torch.einsum("bte,phe->bpht", words, self.point_queries)
        scores = scores.masked_fill(~text_mask[:, None, None], float("-inf"))
        return torch.einsum("bpht,bte->bphe", scores.softmax(-1), words).flatten(2)

    def geometry_phrases(self, words: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor | None:
        """`phrases()` where the geometry reads them (`geometry_phrases`), else None."""
        return self.phrases(words, text_mask) if self.geometry_text is not None else None

    def image_points(self, logits: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        """(B, maps, h, w) -> (B, maps, 2) each map's committed point (soft-argmax over the peak_radius window
        around its peak) in [0, 1]; `prior` (B, maps, h, w) log-weights added to choose the peak (the colour
        vote) and, with `window_vote`, to the window's soft-argmax too."""
        m = logits.shape[1]
        features = peak_features(
            logits, radius=self.config.peak_radius, prior=prior, prior_in_window=self.config.window_vote
        )
        return (features[:, : 2 * m].unflatten(1, (m, 2)) + 1) / 2

    # ------------------------------------------------------------------ colour vote
    def colour_logits(self, words: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """(B, points, colours) logits of the colour of the prop each point is on (0: on no prop)."""
        return self.point_colour(self.phrases(words, text_mask))

    def colour_loss(self, words: torch.Tensor, text_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the point colours against labels (B, points) (0: on no prop)."""
        logits = self.colour_logits(words, text_mask)
        return F.cross_entropy(logits.flatten(0, 1), labels.long().flatten().to(logits.device))

    def colour_prior(self, words: torch.Tensor, text_mask: torch.Tensor, semantics: torch.Tensor) -> torch.Tensor:
        """The vote: (B, maps, h, w) log-weights, colour_vote x log P(the cell shows the named colour), scaled by
        the probability that the point is on a prop at all; zero for the landmarks."""
        return self.vote_terms(words, text_mask, semantics)[0]

    def vote_terms(
        self, words: torch.Tensor, text_mask: torch.Tensor, semantics: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> the vote's log-weights (B, maps, h, w) (`colour_prior`, plus the shape vote's where it has one) and
        (B, points) the probability that each point is on a prop at all (not pick's lift point, not push's goal
        region)."""
        n = self.semantic_classes[0]
        named = self.colour_logits(words, text_mask).float().softmax(-1)  # (B, points, n)
        on_prop = 1 - named[..., 0]
        weight = on_prop[..., None, None]
        prior = self.config.colour_vote * weight * _match(named, semantics[:, :n], on_prop)
        if self.point_shape is not None:
            shapes = self.shape_logits(words, text_mask).float().softmax(-1)
            cells = semantics[:, n : n + self.semantic_classes[1]]
            prior = prior + self.config.shape_vote * weight * _match(shapes, cells, 1 - shapes[..., 0])
        landmarks = prior.new_zeros(prior.shape[0], self.config.landmarks, *prior.shape[2:])
        return torch.cat([prior, landmarks], 1), on_prop

    def add_shape_head(self) -> None:
        """Build the shape vote's head (untrained) on each point's phrases: at construction when the config has
        a shape vote, or later to give a locator trained without one the vote (bench_locator.py shape-finetune)."""
        if self.point_colour is None or len(self.semantic_classes) < 2:
            raise VlaUserError("locator: the shape vote needs the colour vote and a shape group in semantic_classes")
        self.point_shape = nn.Linear(self.point_colour.in_features, self.semantic_classes[1])

    def shape_logits(self, words: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """(B, points, shapes) logits of the shape of the prop each point is on (0: on no prop)."""
        return self.point_shape(self.phrases(words, text_mask))

    def shape_loss(self, words: torch.Tensor, text_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the point shapes against labels (B, points) (0: on no prop)."""
        logits = self.shape_logits(words, text_mask)
        return F.cross_entropy(logits.flatten(0, 1), labels.long().flatten().to(logits.device))

    def shape_view_loss(self, semantics: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The per-pixel shape head's loss on a colour-permuted view: semantics (B, sum(classes), h, w) of that
        view, labels (B, groups, H, W) the bank's classes (its shape group is the view's too)."""
        n, k = self.semantic_classes[0], self.semantic_classes[1]
        return semantic_loss(semantics[:, None, n : n + k], labels[:, None, 1:2], (k,))

    def heatmap_loss(self, logits: torch.Tensor, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy to Gaussian labels + coord_weight * L1 of the soft-argmax, over visible points.

        logits (B, maps, h, w); pixels (B, P >= maps, 2) label points in [0, 1], NaN where unseen.
        -> (loss, (maps,) mean distance in image fractions between each map's committed point and its label)."""
        _, m, h, w = logits.shape
        if pixels.shape[1] < m:
            raise VlaUserError(
                f"the locator has {m} maps but the scene bank labels {pixels.shape[1]} points per image; "
                "re-render the bank (delete scene_bank.safetensors in the run directory)"
            )
        target = pixels[:, :m].to(logits.dtype)
        labels, valid = grounding_labels(target, h, w, self.config.label_sigma)  # (B, maps, h*w), (B, maps)
        safe = torch.nan_to_num(target, nan=0.5)
        ce = -(labels * logits.flatten(2).log_softmax(-1)).sum(-1)  # (B, maps)
        _, xy = soft_argmax(logits)  # (B, maps, 2) global soft-argmax
        l1 = (xy - safe).abs().sum(-1)
        n = valid.sum().clamp_min(1)
        loss = ((ce + self.config.coord_weight * l1) * valid).sum() / n
        with torch.no_grad():
            dist = (self.image_points(logits.detach()) - safe).norm(dim=-1)
            err = (dist * valid).sum(0) / valid.sum(0).clamp_min(1)
        return loss, err

    # ------------------------------------------------------------------ geometry
    def geometry_features(
        self,
        points: torch.Tensor,
        state: torch.Tensor,
        sentence: torch.Tensor,
        phrases: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """points (B, maps, 2) in [0, 1] (NaN: unseen, read as the image centre), normalized state (B, S),
        sentence (B, E) and, with `geometry_phrases`, `phrases` (B, points, heads * E) (`phrases()`) ->
        (B, points, per-point geometry inputs): the point's own image position, every map's, the state, the
        sentence projection, the point's one-hot and its own phrases' projection."""
        b, g = points.shape[0], self.num_points
        centred = 2 * torch.nan_to_num(points[:, : self.num_maps], nan=0.5) - 1
        shared = torch.cat([centred.flatten(1), state, self.sentence(sentence)], 1)  # (B, shared)
        ids = torch.eye(g, device=points.device, dtype=points.dtype).expand(b, g, g)
        features = [centred[:, :g], shared[:, None].expand(b, g, -1), ids]
        if self.geometry_text is not None:
            if phrases is None:
                raise VlaUserError("this locator's geometry reads each point's phrases (geometry_phrases): pass them")
            features.append(self.geometry_text(phrases.to(points.dtype)))
        return torch.cat(features, -1)

    def estimate(
        self,
        points: torch.Tensor,
        state: torch.Tensor,
        sentence: torch.Tensor,
        on_table: bool = False,
        goal_on_prop: torch.Tensor | None = None,
        phrases: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, E) environment-state estimate in dataset units. `on_table`: the target is known to rest on the
        table (a reset frame), so its x, y come from the least-squares table fit where the locator has one; and
        where `goal_on_prop` (B,) bool says the goal is a prop, the goal's x, y from the goal's fit."""
        est = self.geometry.predict(self.geometry_features(points, state, sentence, phrases))
        if on_table and self.table is not None and bool(self.table.fitted):
            est = torch.cat([self.table(self.table_inputs(points, state)).to(est.dtype), est[:, 2:]], 1)
        goal = self.goal_table
        if on_table and goal is not None and bool(goal.fitted) and goal_on_prop is not None:
            xy = goal(self.table_inputs(points, state, point=1, height=est[:, 5])).to(est.dtype)
            est = torch.cat([est[:, :3], torch.where(goal_on_prop[:, None], xy, est[:, 3:5]), est[:, 5:]], 1)
        return est

    # ------------------------------------------------------------------ table fit
    def table_inputs(
        self, points: torch.Tensor, state: torch.Tensor, point: int = 0, height: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, maps, 2) image points in [0, 1] + (B, S) normalized state -> a table fit's inputs: the centred
        image point of env-state point `point` (0: the target, 1: the goal) and the landmarks', the tool
        centre's normalized position, and `height` (B,) (m, the goal's fit) when given."""
        centred = 2 * torch.nan_to_num(points[:, : self.num_maps].float(), nan=0.5) - 1
        landmarks = centred[:, self.num_points :].flatten(1)
        x = [centred[:, point], landmarks, state[:, self.tcp_index].float()]
        return torch.cat(x if height is None else [*x, height.float()[:, None]], 1)

    @torch.no_grad()
    def fit_table(
        self,
        points: torch.Tensor,
        state: torch.Tensor,
        env_state: torch.Tensor,
        point_colours: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Solve the table fit on label rows whose target rests on the table and whose points are all in view:
        true image points (B, >= maps, 2), normalized state (B, S), true env state (B, E); and the goal's fit,
        where the locator has one, on the rows whose goal is a prop (`point_colours` (B, points) > 0). -> fit
        metrics (the goal's prefixed 'goal_')."""
        landmarks = list(range(self.num_points, self.num_maps))
        seen = torch.isfinite(points[:, [0, *landmarks]]).all(-1).all(-1)
        keep = (env_state[:, 2] < ON_TABLE_Z) & seen
        metrics = self.table.fit(self.table_inputs(points[keep], state[keep]), env_state[keep, :2].float())
        if self.goal_table is not None:
            if point_colours is None:
                raise VlaUserError(
                    "the locator's goal table fit needs the scene bank's point colours (which goal is a prop); "
                    "re-render the bank (delete scene_bank.safetensors in the run directory)"
                )
            seen = torch.isfinite(points[:, [1, *landmarks]]).all(-1).all(-1)
            keep = (point_colours[:, 1] > 0).to(points.device) & seen
            if not bool(keep.any()):  # no task with a prop for a goal (pick and push only): the MLP's goals stay
                return {**metrics, "goal_table_fit_rows": 0.0}
            goal = self.goal_table.fit(
                self.table_inputs(points[keep], state[keep], point=1, height=env_state[keep, 5]),
                env_state[keep, 3:5].float(),
            )
            metrics.update({f"goal_{k}": v for k, v in goal.items()})
        return metrics

    def geometry_loss(
        self,
        points: torch.Tensor,
        state: torch.Tensor,
        sentence: torch.Tensor,
        env_state: torch.Tensor,
        valid: torch.Tensor | None = None,
        phrases: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalized MSE of the estimate from *true* image points plus noise (pixel_noise), or from the heatmaps'
        own committed points (detached; `valid` (B, points) masks the points whose image point has no label)."""
        if valid is None:
            points = points + self.config.pixel_noise * torch.randn_like(points)
        pred = self.geometry.predict_normalized(self.geometry_features(points, state, sentence, phrases))
        err = (pred - self.geometry.normalize(env_state.to(pred.dtype))).square()  # (B, 3 * points)
        if valid is None:
            return err.mean()
        mask = valid.to(err.dtype).repeat_interleave(3, dim=1)
        return (err * mask).sum() / mask.sum().clamp_min(1)


def _match(named: torch.Tensor, cells: torch.Tensor, on_prop: torch.Tensor) -> torch.Tensor:
    """log P(a cell shows the class a point's words name): named (B, points, classes) probabilities with class 0
    "no prop", `on_prop` (B, points) their mass on the other classes, cells (B, classes, h, w) per-cell class
    logits -> (B, points, h, w)."""
    named = named[..., 1:] / on_prop.clamp_min(1e-6)[..., None]
    cell = cells.float().softmax(1)[:, 1:]
    return torch.einsum("bpc,bchw->bphw", named, cell).clamp_min(1e-6).log()
