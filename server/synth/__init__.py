"""Synthetic lifts with exact ground truth: bar trajectories and rendered side-view clips."""
