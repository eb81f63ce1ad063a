"""Every MJCF scene compiles, follows the Menagerie conventions, and steps 1 s of random control cleanly."""

import importlib.util

import mujoco
import numpy as np
import pytest

from vla.envs.manipulation.assets import all_scene_paths, tabletop_scene_path

SCENES = all_scene_paths()


def test_scene_files_found():
    assert tabletop_scene_path() in SCENES


@pytest.mark.parametrize("path", SCENES, ids=lambda p: p.parent.name)
def test_scene_compiles_and_steps_without_warnings(path):
    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
    rng = np.random.default_rng(0)
    lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    steps = int(round(1.0 / model.opt.timestep))
    for i in range(steps):
        if i % 50 == 0:
            data.ctrl[:] = rng.uniform(lo, hi)
        mujoco.mj_step(model, data)
    assert data.time == pytest.approx(1.0)
    assert [int(w.number) for w in data.warning] == [0] * len(data.warning)
    assert np.all(np.isfinite(data.qpos))


@pytest.mark.parametrize("path", SCENES, ids=lambda p: p.parent.name)
def test_menagerie_conventions(path):
    model = mujoco.MjModel.from_xml_path(str(path))
    assert (path.parent / "robot.xml").exists()
    assert all(model.joint(j).name for j in range(model.njnt)), "every joint is named"
    assert all(model.actuator(a).name for a in range(model.nu)), "every actuator is named"
    assert model.key("home").id >= 0
    for g in range(model.ngeom):
        if model.geom_group[g] == 2:  # visual geoms never collide
            assert model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0, model.geom(g).name


def test_committed_scene_matches_generator():
    gen = tabletop_scene_path().parent / "build_scene.py"
    spec = importlib.util.spec_from_file_location("build_scene", gen)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tabletop_scene_path().read_text() == module.build(), "run: python sim_assets/tabletop/build_scene.py"
