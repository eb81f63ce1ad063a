"""What importing the envs package pulls in: registration must stay light for env servers."""

import subprocess
import sys


def test_importing_vla_envs_imports_no_simulator():
    """A Habitat env server runs in a Python environment without MuJoCo; registration must not need it."""
    code = "import sys, vla.envs; print('mujoco' in sys.modules, vla.envs.TASK_NAMES)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from vla.envs.manipulation.tasks import TASKS

    assert r.stdout.strip() == f"False {tuple(TASKS)}"


def test_habitat_env_and_server_import_without_mujoco_torch_or_scipy():
    """What a Habitat conda environment has: numpy, gymnasium, pyzmq; the adapter and server need no more."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('mujoco', 'torch', 'lerobot', 'scipy'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import vla.envs.habitat.env, vla.envs.server\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
