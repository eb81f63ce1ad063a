"""`vla serve`: a VLA checkpoint as a ROS 2 lifecycle node (observations in, robot commands out)."""
