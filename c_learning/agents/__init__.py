"""Goal-conditioned TF-Agents agents: C-learning first, baselines beside it."""
from c_learning.agents.factory import AGENT_BUILDERS
from c_learning.agents.factory import create
