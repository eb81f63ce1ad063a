"""`vla train` configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class TrainConfig:
    """Train a VLA policy on a LeRobotDataset v3 (a local folder from `vla collect`, or a Hub repo id)."""

    dataset: str
    """Dataset root directory (from `vla collect`) or a Hub repo id such as lerobot/pusht."""
    policy: str = "vla-diffusion"
    """Policy preset: vla-diffusion, vla-flow, vla-tokens, vla-l1, smolvlm-diffusion, tiny-* (tests)."""
    out: Path = Path("outputs/train")
    """Output directory: checkpoints/, logs/ (TensorBoard) and the resolved train_config.json."""
    steps: int = 3000
    """Optimizer steps."""
    pause_at: int | None = None
    """Stop after this step and save; rerunning the same command continues exactly (train in sessions)."""
    max_minutes: float | None = None
    """Wall-clock training budget (for equal-budget comparisons). After 20 timed steps the LR schedule is
    fitted to the steps that fit in the budget (at most --steps), so the cosine decay ends with it."""
    batch_size: int = 64
    lr: float = 3e-4
    """Peak AdamW learning rate (linear warm-up, cosine decay)."""
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    """EMA of the weights used for evaluation (0 disables)."""
    aux_weight: float = 0.5
    """Weight of the auxiliary loss that predicts the dataset's privileged `observation.environment_state`
    (target/goal positions recorded by `vla collect`) from the backbone; 0 disables. Ignored when the
    dataset has no such feature. The trained policy never takes it as an input."""
    aux_scenes: int = 0
    """Also render this many labelled scenes from the suite the dataset was collected in (a scene bank: new
    layouts, instructions and arm poses, no actions) for the auxiliary loss, so grounding generalizes
    beyond the demonstrations' layouts. Needs a `vla collect` dataset with environment_state; rendered
    once into out/scene_bank.safetensors. 0 disables."""
    aux_scene_batch: int = 32
    """Scenes per training step from the scene bank."""
    grounding_weight: float = 1.0
    """With --aux-scenes and the embedded backbone: weight of the dense grounding loss. The backbone gets two
    grounding heatmaps per camera image (the instruction's target and its goal), trained to peak where the
    scene bank's camera projections put them; their positions feed the action head. 0 disables (no maps)."""
    estimate_conditioning: bool = False
    """With grounding heatmaps (--aux-scenes, embedded backbone): a small estimator turns the heatmaps' peak
    positions and the state into an estimate of environment_state (where the named target and goal are),
    trained on the scene bank, and the action head reads it, with each estimated position relative to the
    gripper when the state has tcp.x/y/z: it reaches along an explicit offset instead of decoding it from
    image tokens."""
    oracle_conditioning: bool = False
    """Ablation, simulation only: the action head reads the simulator's *true* target/goal positions (the
    dataset's observation.environment_state; in `vla eval`, the env's), in the same way --estimate-conditioning
    feeds it the estimate. It measures how well the head would do with a perfect position estimate. The
    checkpoint needs that privileged state at inference, so it cannot drive a real robot."""
    locator: bool = False
    """With --aux-scenes and the embedded backbone: the action head reads the estimate of a separate target
    locator (vla.policy.locator): heatmaps at half the scene camera's resolution for the target, the goal
    and three landmarks (the tool point, two points on the table's far edge), and a geometry MLP that turns
    the image points into positions, calibrating the jittered camera from the landmarks. Both train on the
    scene bank (with segmentation labels, half the scenes with the arm at home; rendered for the scene camera
    only with --no-backbone-grounding, else for every camera, since the backbone keeps its grounding maps).
    Use with --conditioning-at episode_start (the locator reads the reset frame, and the head trains on the
    true first-frame positions) or tracked (the locator follows the target at every frame, the goal is read
    on the reset frame) or carried (the reset frame's estimate, the target then carried along by the
    gripper's state)."""
    backbone_grounding: bool = True
    """With --locator: the backbone also trains its grounding heatmaps (target and goal, every camera) and its
    scene-bank auxiliary loss, as it does without a locator; the bank is then rendered for every camera (at
    about the same rate: the simulation, not the rendering, dominates). The locator still supplies the
    positions; the backbone's features learn where the named props are in the wrist view too. Measured
    (README, "Policy quality"): 75% -> 90.5% with training wordings and 51% -> 65.5% held out (stack 40% ->
    86%), at 77 instead of 101 samples/s. --no-backbone-grounding: the bank trains the locator alone (one
    camera). Without --locator it changes nothing."""
    colour_vote: float = 5.0
    """With --locator: weight of its colour vote (0: off). A linear head on the instruction names the colour of
    the prop the target (and a bowl or base-cube goal) is, and every heatmap cell's log-probability of that colour
    (the per-pixel colour classes, learned on every prop in the scene bank) is added, times this weight, when
    the peak is chosen: a distractor of another colour can no longer win it. Inference-time only; the
    heatmaps train as before. On the oracle colours, 5 cut stack's wrong-cube estimates from 17% to 3% of
    layouts and place's wrong-bowl ones from 17% to 3% (README, "Policy quality")."""
    geometry_phrases: bool = True
    """With --locator: its geometry MLP (image points -> positions) also reads each point's own attention-pooled
    instruction phrases ("to the left"), not only the whole sentence's embedding, whose mean over every word a
    paraphrase's new words move. Fine-tuning the b14 locator for 600 steps either way, held-out "nudge the X
    over to the {direction}" put push's goal more than 3 cm off in 35% of layouts with the phrases against 65%
    without; end to end (b15) that wording's push went from 2 to 9 of 24 held-out episodes (README, "Policy
    quality"). --no-geometry-phrases: the sentence alone (checkpoints from before)."""
    window_vote: bool = True
    """With --locator and a colour vote: the vote also weights the cells around the chosen peak, so each committed
    image point moves toward the cells that show the named colour instead of following the heatmap alone. A
    held-out colour-shape combination (a cube colour never seen as a target) gets a broad heatmap whose window
    mean is off the prop's centre. Inference-time only. On b15's checkpoint, held-out stack "build a tower
    with..." reset-frame targets more than 1 cm off went from 64% to 23% of layouts; on five runs' checkpoints
    with and without it, held-out success moved -0.5 to +8 points, 66.0% -> 68.5% on average (README, "Policy
    quality"). --no-window-vote: the vote chooses the peak only (checkpoints from before)."""
    shape_vote: float = 0.0
    """With --locator and a colour vote: weight of its shape vote (0: off, the default), the colour vote's twin for
    the named shape. A second linear head on the instruction names the shape of the prop the target (and a bowl
    or base-cube goal) is, and every heatmap cell's log-probability of that shape is added beside the colour's;
    the per-pixel shape head also learns on colour-permuted copies of the scene bank's images (a blue cube
    looks red). When it joins: --shape-vote-from."""
    shape_vote_from: Literal["late", "start"] = "late"
    """With --shape-vote W: 'late' (the default) trains the run without the vote, then spends --late-locator-steps
    steps (under --max-minutes, the budget's last --late-locator-minutes) training the target locator alone, from
    the EMA weights, with the shape head and the colour-permuted views; the action head and backbone are left as
    they were. Added late to finished runs (b15, b16), it took held-out success from 64.5% to 73.5% and from 62.5%
    to 74.5%. 'start': from the first step, one more locator pass per step; it measured worse (b17: 81.5% with
    training wordings and 53% held out, against b16's 90.0% / 62.5%, at 64 instead of 71 samples/s; README,
    "Policy quality")."""
    late_locator_steps: int = 1000
    """Steps of the late locator phase (--shape-vote-from late); under --max-minutes, at most this many."""
    late_locator_minutes: float = 6.0
    """Under --max-minutes: minutes of the budget the main phase leaves to the late locator phase (1,000 steps
    took about 6 minutes on 2 CPU cores); the phase's cosine schedule is fitted to them after 20 steps."""
    conditioning_at: Literal["current", "episode_start", "tracked", "carried"] = "current"
    """With --estimate-conditioning, --locator or --oracle-conditioning: the positions the head reads are those of the
    current frame; or of the episode's first frame held for the whole episode (the estimate is then made
    once, on the reset frame, where no prop is hidden by the arm; training reads the dataset's true
    first-frame positions plus --conditioning-noise); or 'tracked': the target's from every frame and the
    goal's from the first (training reads the true current target and first-frame goal plus noise; with
    --locator, half the scene bank is then mid-demonstration scenes, so the locator follows a prop into
    the gripper); or 'carried': trained as tracked, but at inference everything is estimated once on the reset
    frame (with --locator, the target's table position from a least-squares fit solved on the scene bank before
    training) and the target is then carried along by the gripper's state: rigidly once grasped, shoved by a
    shut gripper (vla.policy.carry_tracker)."""
    conditioning_noise: float = 0.0
    """With episode_start or tracked conditioning, or --oracle-conditioning: std in metres of Gaussian noise
    added to the true positions the head trains on, so it learns to treat them as an estimate and finish the reach from
    the images. 0: none."""
    semantic_labels: bool = False
    """With grounding maps: also render each scene's colour and shape class per pixel (MuJoCo segmentation)
    and train per-cell colour and shape classifiers on the grounding features, with the same weight. Off by
    default: it did not lower the grounding error in a 1,600-step probe (README, "Grounding heatmaps")."""
    cameras: str | None = None
    """Comma-separated cameras to train on, e.g. 'depth,egomap' (short for observation.images.depth, ...);
    default: the preset's cameras, or every camera of the dataset when it has none of those."""
    image_size: int | None = None
    """Resize camera images to this square size; default: the dataset's own resolution."""
    chunk_size: int | None = None
    """Override the preset's action chunk length H."""
    action_history: int = 0
    """Discrete-action (navigation) datasets: feed the policy its last k executed actions as inputs, the
    only memory a reactive policy has (Habitat's baselines feed the previous action). 0 = none."""
    augment: bool = True
    """Random shifts (+-4 px) and brightness/contrast jitter on camera images."""
    word_dropout: float = 0.0
    """Instruction augmentation: half the training instructions that `word_dropout_scope` names are replaced by
    one of four fixed copies with each word dropped with this probability, except the suite's colour and shape
    names, so the model reads a paraphrase's key words (a direction, a colour) wherever they stand. 0: off."""
    word_dropout_scope: Literal["locator", "all"] = "locator"
    """What reads the word-dropped instructions: 'locator', the target locator alone (its scene-bank heatmaps,
    geometry and colour vote; the backbone and the head read every instruction whole), or 'all', every
    instruction of training. With 'all', the head took "raise the X off the table" for a push (README)."""
    head_instruction: Literal["words", "grounding"] = "words"
    """What of the instruction reaches the action head through the embedded backbone: 'words', its word tokens and
    sentence embedding in the fusion, with FiLM on the sentence in every conv stage; or 'grounding' (needs
    --locator, --estimate-conditioning or --oracle-conditioning), only where the backbone's grounding maps put the
    target and goal (no FiLM, no text tokens), so what to do comes from the conditioning positions, which the
    locator reads from the instruction. Measured against the default on the same machine and day (b22 and b23,
    README "Policy quality"): 91.5% / 65.0% against 93.5% / 78.0% (training wordings / held out); held-out
    pick 68% against 96% and place 74% against 96%, where the locator's goal or target is off and the words
    no longer correct it (92% and 100% with the true positions). 8-10% more samples/s, inference p50 12.0
    instead of 15.1 ms (bench_inference)."""
    save_every: int = 500
    """Write checkpoints/last every this many steps (and at the end)."""
    log_every: int = 25
    seed: int = 0
    resume: bool = True
    """Continue from out/checkpoints/last when it exists (exactly: same data order, RNG and optimizer state)."""
    device: str = "auto"
    """'auto' (accelerate's choice), 'cpu' or 'cuda'."""
    wandb: bool = False
    """Also log to Weights & Biases (needs `pip install wandb` and a login)."""
    episodes: int | None = None
    """Use only the first N episodes of the dataset."""
    threads: int | None = None
    """torch intra-op threads on CPU (default: all cores)."""
    dagger_rounds: int = 0
    """Navigation datasets: DAgger rounds during training (0 = plain behaviour cloning). Round k runs at
    k/(R+1) of the budget: the policy drives in training-split houses, the privileged expert labels every
    state it visits, and those frames join the training set (saved in out/dagger/). Rollout time counts
    against --max-minutes."""
    dagger_episodes: int = 150
    """Episodes per DAgger round."""
    dagger_beta: float = 0.3
    """Probability that a DAgger step executes the expert's action instead of the policy's in round 0;
    halved every round. The recorded label is always the expert's."""
    dagger_max_steps: int = 150
    """Step limit of a DAgger episode (the expert needs ~40 on average; a stuck policy's later frames repeat)."""
