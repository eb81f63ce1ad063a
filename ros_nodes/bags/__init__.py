"""rosbag2 (MCAP) recording of the robot/policy topics and conversion of bags into LeRobotDataset v3,
through the pure-Python `rosbags` library (no rosbag2 install needed)."""
