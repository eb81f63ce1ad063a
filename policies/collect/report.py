"""A visual report of a collected dataset: a contact sheet, one video per task, and report.json.

Frames are read back through `LeRobotDataset`, so writing the report also checks that the dataset
loads and decodes the way training will read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vla.constants import OBS_IMAGE_SCENE, OBS_IMAGE_WRIST
from vla.errors import VlaUserError

from .outdir import COLLECT_RECORD

CAMERAS = (OBS_IMAGE_SCENE, OBS_IMAGE_WRIST)
TILE = 128  # contact-sheet tile size in pixels
VIDEO_HEIGHT = 256  # per-task videos are upscaled (nearest) to about this height
LABEL_HEIGHT = 18


@dataclass(frozen=True)
class ReportConfig:
    """How much of the dataset the report shows."""

    sheet_episodes_per_task: int = 3
    video_episodes_per_task: int = 3


def load_record(dataset_dir: Path) -> dict:
    path = dataset_dir / "meta" / COLLECT_RECORD
    if not path.exists():
        raise VlaUserError(f"{dataset_dir} is not a finished `vla collect` dataset (no meta/{COLLECT_RECORD})")
    return json.loads(path.read_text(encoding="utf-8"))


def write_report(dataset_dir: Path, report_dir: Path, cfg: ReportConfig | None = None) -> list[Path]:
    """Write contact_sheet.png, <task>.mp4 per task and report.json; returns the paths written."""
    cfg = cfg or ReportConfig()
    dataset_dir = dataset_dir.expanduser().resolve()
    record = load_record(dataset_dir)
    report_dir = report_dir.expanduser().resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    dataset = _open_dataset(dataset_dir, record["repo_id"])
    fps = int(dataset.meta.fps)
    tasks = record["settings"]["tasks"]
    episodes_by_task = {t: [e for e in record["episodes"] if e["task"] == t] for t in tasks}

    written: list[Path] = []
    sheet_rows = []
    for task in tasks:
        for ep in episodes_by_task[task][: cfg.sheet_episodes_per_task]:
            first, last = _episode_bounds(dataset, ep["episode_index"])
            frames = [_frame(dataset, i, cam) for cam in CAMERAS for i in (first, last)]
            status = "success" if ep["success"] else "failure"
            label = f"{task} #{ep['episode_index']} ({status}, {ep['length']} steps): {ep['instruction']}"
            sheet_rows.append((label, frames))
    sheet = report_dir / "contact_sheet.png"
    _contact_sheet(sheet_rows).save(sheet)
    written.append(sheet)

    videos: dict[str, str] = {}
    for task in tasks:
        chosen = episodes_by_task[task][: cfg.video_episodes_per_task]
        if not chosen:
            continue
        path = report_dir / f"{task}.mp4"
        _task_video(dataset, chosen, path, fps)
        videos[task] = path.name
        written.append(path)

    summary = {
        "dataset": str(dataset_dir),
        "repo_id": record["repo_id"],
        "fps": fps,
        "image_size": record["settings"]["image_size"],
        "split": record["settings"]["split"],
        "total_episodes": len(record["episodes"]),
        "total_frames": int(dataset.meta.total_frames),
        "tasks": {
            task: {
                "episodes": s["episodes"],
                "attempts": s["attempts"],
                "success_rate": s["success_rate"],
                "mean_length": s["mean_length"],
                "collection_frames_per_second": s["frames_per_second"],
                "video": videos.get(task),
            }
            for task, s in record["tasks"].items()
        },
        "contact_sheet": sheet.name,
    }
    path = report_dir / "report.json"
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


# ------------------------------------------------------------------ reading
def _open_dataset(root: Path, repo_id: str):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from .merge import datasets_progress_off

    with datasets_progress_off():
        return LeRobotDataset(repo_id, root=root, video_backend="pyav", return_uint8=True)


def _episode_bounds(dataset, episode_index: int) -> tuple[int, int]:
    ep = dataset.meta.episodes[episode_index]
    return int(ep["dataset_from_index"]), int(ep["dataset_to_index"]) - 1


def _frame(dataset, index: int, camera: str) -> np.ndarray:
    chw = dataset[index][camera]  # uint8 (3, H, W)
    return np.ascontiguousarray(chw.numpy().transpose(1, 2, 0))


# ------------------------------------------------------------------ drawing
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _contact_sheet(rows: list[tuple[str, list[np.ndarray]]]) -> Image.Image:
    """Rows of [scene first, scene last, wrist first, wrist last] tiles under a one-line label."""
    columns = ("scene: first", "scene: last", "wrist: first", "wrist: last")
    width = TILE * len(columns)
    height = LABEL_HEIGHT + max(1, len(rows)) * (LABEL_HEIGHT + TILE)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    for c, name in enumerate(columns):
        draw.text((c * TILE + 4, 3), name, fill="black", font=font)
    y = LABEL_HEIGHT
    for label, frames in rows:
        draw.text((4, y + 3), _fit(draw, label, width - 8, font), fill="black", font=font)
        y += LABEL_HEIGHT
        for c, frame in enumerate(frames):
            sheet.paste(Image.fromarray(frame).resize((TILE, TILE), Image.NEAREST), (c * TILE, y))
        y += TILE
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, font) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…"
    return text


def _task_video(dataset, episodes: list[dict], path: Path, fps: int) -> None:
    """Scene | wrist side by side, with the instruction in a caption band, episodes one after another."""
    import av

    first_frame = _frame(dataset, _episode_bounds(dataset, episodes[0]["episode_index"])[0], OBS_IMAGE_SCENE)
    h, w = first_frame.shape[:2]
    scale = max(1, VIDEO_HEIGHT // h)
    width, height = 2 * w * scale, h * scale + 2 * LABEL_HEIGHT
    width, height = width + width % 2, height + height % 2
    font = _font(13)
    tmp = path.with_name(f".{path.name}.tmp")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for ep in episodes:
            first, last = _episode_bounds(dataset, ep["episode_index"])
            caption = f"#{ep['episode_index']} {ep['instruction']}"
            for i in range(first, last + 1):
                item = dataset[i]
                canvas = Image.new("RGB", (width, height), "black")
                for c, cam in enumerate(CAMERAS):
                    img = Image.fromarray(item[cam].numpy().transpose(1, 2, 0))
                    canvas.paste(img.resize((w * scale, h * scale), Image.NEAREST), (c * w * scale, 2 * LABEL_HEIGHT))
                draw = ImageDraw.Draw(canvas)
                draw.text((4, 2), _fit(draw, caption, width - 8, font), fill="white", font=font)
                draw.text((4, LABEL_HEIGHT + 1), f"step {i - first + 1}/{last - first + 1}", fill="gray", font=font)
                for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
