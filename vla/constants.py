"""Feature keys shared by envs, datasets and models (LeRobot's naming conventions)."""

OBS_IMAGES_PREFIX = "observation.images."
OBS_IMAGE_SCENE = "observation.images.scene"
OBS_IMAGE_WRIST = "observation.images.wrist"
OBS_STATE = "observation.state"
OBS_ENV_STATE = "observation.environment_state"  # privileged sim state: auxiliary targets, never an input
OBS_ENV_STATE_START = "observation.environment_state.episode_start"  # training batches: its episode's first frame's
ACTION = "action"
OBS_PREV_ACTIONS = "observation.previous_actions"  # (B, k) last executed discrete actions, -1 = none yet
TASK = "task"
NEXT_REWARD = "next.reward"
NEXT_DONE = "next.done"
NEXT_SUCCESS = "next.success"
