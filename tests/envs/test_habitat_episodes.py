"""Our reader of habitat-lab's episode files, on small hand-written files in each format (no habitat needed).

The fixtures copy the structure of the real files: pointnav_gibson_v2 / pointnav_mp3d_v1 (split file
with per-scene content/ files), objectnav_mp3d_v1 / hm3d (goals_by_category with view points) and
VLN-CE R2R_VLNCE_v1-3 (instruction, reference path)."""

import gzip
import json
import math

import pytest

from vla.envs.habitat.episodes import load_episodes, objectnav_instruction, parse_dataset, resolve_scene_path
from vla.envs.habitat.schema import POINTNAV_INSTRUCTION
from vla.errors import VlaUserError

POINTNAV = {
    "episodes": [
        {
            "episode_id": "0",
            "scene_id": "data/scene_datasets/gibson/Cantwell.glb",
            "start_position": [-1.2, 0.16, 2.5],
            "start_rotation": [0, 0.6, 0, 0.8],
            "info": {"geodesic_distance": 4.26, "difficulty": "medium"},
            "goals": [{"position": [1.7, 0.16, -0.3], "radius": None}],
            "shortest_paths": None,
            "start_room": None,
        },
        {
            "episode_id": "1",
            "scene_id": "data/scene_datasets/gibson/Cantwell.glb",
            "start_position": [0.0, 0.16, 0.0],
            "start_rotation": [0, 0, 0, 1],
            "info": {"geodesic_distance": 1.0, "difficulty": "easy"},
            "goals": [{"position": [0.0, 0.16, -1.0], "radius": 0.2}],
        },
    ]
}

OBJECTNAV = {
    "goals_by_category": {
        "17DRP5sb8fy.glb_chair": [
            {
                "object_id": 42,
                "object_name": "chair_42",
                "object_category": "chair",
                "room_id": None,
                "room_name": None,
                "position": [3.1, 0.5, -2.0],
                "radius": None,
                "view_points": [
                    {"agent_state": {"position": [2.5, 0.07, -2.0], "rotation": [0, 0, 0, 1]}, "iou": 0.2},
                    {"agent_state": {"position": [3.1, 0.07, -1.4], "rotation": [0, 0, 0, 1]}, "iou": 0.1},
                ],
            }
        ],
        "17DRP5sb8fy.glb_tv_monitor": [
            {"object_id": 7, "object_category": "tv_monitor", "position": [0.0, 1.0, 5.0], "view_points": []}
        ],
    },
    "episodes": [
        {
            "episode_id": "0",
            "scene_id": "mp3d/17DRP5sb8fy/17DRP5sb8fy.glb",
            "start_position": [0.5, 0.07, 0.5],
            "start_rotation": [0, 0.9, 0, 0.43589],
            "info": {"geodesic_distance": 3.9, "euclidean_distance": 3.6, "closest_goal_object_id": 42},
            "goals": [],
            "object_category": "chair",
            "shortest_paths": None,
            "start_room": None,
        },
        {
            "episode_id": "1",
            "scene_id": "mp3d/17DRP5sb8fy/17DRP5sb8fy.glb",
            "start_position": [0.5, 0.07, 0.5],
            "start_rotation": [0, 0, 0, 1],
            "info": {"geodesic_distance": 4.5},
            "goals": [],
            "object_category": "tv_monitor",
        },
    ],
    "category_to_task_category_id": {"chair": 0, "tv_monitor": 5},
    "category_to_mp3d_category_id": {"chair": 3, "tv_monitor": 22},
}

VLN = {
    "episodes": [
        {
            "episode_id": 1,
            "trajectory_id": 4,
            "scene_id": "mp3d/7y3sRwLe3Va/7y3sRwLe3Va.glb",
            "start_position": [-16.27, 0.158, 0.71],
            "start_rotation": [-0.0, 0.966, -0.0, 0.259],
            "info": {"geodesic_distance": 9.89},
            "goals": [{"position": [-12.3, 0.158, 7.2], "radius": 3.0}],
            "instruction": {
                "instruction_text": "Walk past the sofa and stop at the top of the stairs, by the café sign. ",
                "instruction_tokens": [2384, 1589, 2202, 2037],
            },
            "reference_path": [[-16.27, 0.158, 0.71], [-14.9, 0.158, 3.8], [-12.3, 0.158, 7.2]],
        }
    ],
    "instruction_vocab": {"word_list": ["<PAD>", "walk"], "word2idx_dict": {"<PAD>": 0, "walk": 1}},
}


def _write(path, data, gz: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data).encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def test_pointnav_split_with_per_scene_content_files(tmp_path):
    split = _write(tmp_path / "pointnav/gibson/v2/val/val.json.gz", {"episodes": []}, gz=True)
    _write(tmp_path / "pointnav/gibson/v2/val/content/Cantwell.json.gz", POINTNAV, gz=True)
    other = {"episodes": [{**POINTNAV["episodes"][1], "scene_id": "data/scene_datasets/gibson/Eudora.glb"}]}
    _write(tmp_path / "pointnav/gibson/v2/val/content/Eudora.json.gz", other, gz=True)
    episodes = load_episodes(split)
    assert [(e.scene_name, e.episode_id) for e in episodes] == [("Cantwell", "0"), ("Cantwell", "1"), ("Eudora", "1")]
    ep = episodes[0]
    assert ep.task_type == "pointnav" and ep.instruction == POINTNAV_INSTRUCTION
    assert ep.start_position == (-1.2, 0.16, 2.5) and ep.start_rotation == (0.0, 0.6, 0.0, 0.8)
    assert ep.goals[0].position == (1.7, 0.16, -0.3) and ep.goals[0].radius is None
    assert ep.goals[0].targets == ((1.7, 0.16, -0.3),)
    assert ep.geodesic_distance == 4.26 and ep.info["difficulty"] == "medium"
    assert episodes[1].goals[0].radius == 0.2
    assert [e.scene_name for e in load_episodes(split, scenes=("Eudora",))] == ["Eudora"]
    scene = resolve_scene_path(ep.scene_id, tmp_path / "scenes")
    assert scene == tmp_path / "scenes/gibson/Cantwell.glb"  # habitat-lab strips data/scene_datasets/


def test_objectnav_goals_come_from_goals_by_category_with_view_points(tmp_path):
    path = _write(tmp_path / "objectnav/content/17DRP5sb8fy.json.gz", OBJECTNAV, gz=True)
    chair, tv = load_episodes(path)
    assert chair.task_type == "objectnav" and chair.object_category == "chair"
    assert chair.instruction == "find a chair" and tv.instruction == "find a tv monitor"
    assert chair.scene_name == "17DRP5sb8fy"
    (goal,) = chair.goals
    assert goal.object_id == "42" and goal.object_category == "chair" and goal.position == (3.1, 0.5, -2.0)
    assert goal.targets == ((2.5, 0.07, -2.0), (3.1, 0.07, -1.4))  # success is measured to the view points
    assert tv.goals[0].targets == ((0.0, 1.0, 5.0),)  # no view points: the object position
    assert chair.geodesic_distance == 3.9 and chair.info["closest_goal_object_id"] == 42
    assert objectnav_instruction("oven") == "find an oven"


def test_vln_r2r_instruction_and_reference_path(tmp_path):
    path = _write(tmp_path / "R2R_VLNCE_v1-3/val_seen/val_seen.json", VLN, gz=False)
    (ep,) = load_episodes(path)
    assert ep.task_type == "vln" and ep.episode_id == "1" and ep.trajectory_id == "4"
    assert ep.instruction == "Walk past the sofa and stop at the top of the stairs, by the café sign."
    assert ep.goals[0].radius == 3.0 and ep.goals[0].position == (-12.3, 0.158, 7.2)
    assert len(ep.reference_path) == 3 and ep.reference_path[-1] == ep.goals[0].position
    assert math.isclose(ep.start_rotation[1], 0.966) and ep.geodesic_distance == 9.89


def test_gzip_is_detected_by_content_not_suffix(tmp_path):
    path = _write(tmp_path / "oddly_named.json", VLN, gz=True)
    assert load_episodes(path)[0].task_type == "vln"


@pytest.mark.parametrize(
    "data, task, match",
    [
        ({"episodes": [{**POINTNAV["episodes"][0], "start_position": [1, 2]}]}, "auto", "episode 0 .*3 finite"),
        ({"episodes": [{k: v for k, v in POINTNAV["episodes"][0].items() if k != "goals"}]}, "pointnav", "'goals'"),
        ({**OBJECTNAV, "goals_by_category": {}}, "auto", "no goals for '17DRP5sb8fy.glb_chair'"),
        ({"episodes": [{**VLN["episodes"][0], "instruction": "walk"}]}, "vln", "not a valid vln episode"),
        ({"scenes": []}, "auto", "no 'episodes' list"),
    ],
)
def test_malformed_files_raise_one_line_naming_the_problem(data, task, match):
    with pytest.raises(VlaUserError, match=match) as e:
        parse_dataset(data, task, source="bad.json.gz")
    assert "\n" not in str(e.value) and "bad.json.gz" in str(e.value)


def test_missing_or_empty_dataset(tmp_path):
    with pytest.raises(VlaUserError, match="does not exist"):
        load_episodes(tmp_path / "nope.json.gz")
    empty = _write(tmp_path / "val.json.gz", {"episodes": []}, gz=True)
    with pytest.raises(VlaUserError, match="no episodes"):
        load_episodes(empty)
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01 not json")
    with pytest.raises(VlaUserError, match="not a JSON"):
        load_episodes(garbage)
