"""Sweeps of train_eval runs: specs into runs, run directories, a local runner, Google Cloud."""
