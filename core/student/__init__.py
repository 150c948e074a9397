"""The student: blend schedules, training presets, and the training loop."""
