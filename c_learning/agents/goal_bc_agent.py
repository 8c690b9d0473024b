"""Goal-conditioned behaviour cloning: GCSL's imitation on the goals the data was collected for, no relabeling.

The baseline 'goal-BC' of the WGCSL paper's tables: it shows what hindsight
relabeling adds. On random data its goals are almost never reached, so it
imitates random actions.
"""
import math

import gin

from c_learning import config
from c_learning.agents import gcsl_agent


@gin.configurable(denylist=config.AGENT_DENYLIST)
class GoalBcAgent(gcsl_agent.GcslAgent):
  """GcslAgent's actor and loss on rows that keep their episodes' own goals."""

  ALGORITHM = 'Goal-conditioned BC'

  @classmethod
  def check_relabeling(cls, relabeler):
    """Every row keeps its episode's goal: goal_fn.relabel_orig_prob = 1."""
    if not math.isclose(relabeler.relabel_orig_prob, 1.0, abs_tol=1e-9):
      raise config.ConfigError(
          f'{cls.ALGORITHM} imitates the data on its own goals: goal_fn.relabel_orig_prob='
          f'{relabeler.relabel_orig_prob} must be 1 (gin/setups/goal_bc.gin).')
