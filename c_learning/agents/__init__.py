"""Goal-conditioned TF-Agents agents: C-learning first, baselines beside it."""
