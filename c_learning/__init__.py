"""C-learning and goal-conditioned baselines as a gin-configured TF-Agents package."""
