"""A run's state: its records read once (RunState), what it recorded (Manifest), how its night ended."""
