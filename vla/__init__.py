"""vla: vision-language-action policies from simulated demonstrations to ROS 2 robots."""

__version__ = "0.1.0"
