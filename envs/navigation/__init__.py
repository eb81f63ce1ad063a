"""Indoor navigation in procedurally generated MuJoCo houses, with Habitat's tasks and metrics.

layout.py (seed -> house) -> scene.py (MjSpec model, RGB-D camera) + occupancy.py (navigable grid)
-> geodesic.py (distance fields) -> tasks.py (episodes) -> nav_env.py (the gymnasium env), scored by
metrics.py and drawn by topdown.py.
"""
