"""`vla sim-robot`: the MuJoCo tabletop suite as a ROS 2 robot (cameras, joint states, tool pose, /clock,
instruction; ee-twist / gripper / joint commands in; episode control over /sim/reset and /sim/episode)."""
