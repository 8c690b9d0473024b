"""Sweeps of train_eval runs: spec expansion, a local runner, Google Cloud VM and Batch launchers."""
