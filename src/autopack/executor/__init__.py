"""The autonomous executor: runs a run's tiers and phases through the attempt loop."""
