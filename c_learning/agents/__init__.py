"""Goal-conditioned agents by name: one file an agent, one line in AGENTS."""
import tensorflow as tf

from c_learning import config
from c_learning.agents import c_learning_agent
from c_learning.agents import contrastive_agent
from c_learning.agents import gcsl_agent
from c_learning.agents import goal_bc_agent
from c_learning.agents import sac_her_agent
from c_learning.agents import td3_her_agent
from c_learning.agents import wgcsl_agent

# train_eval.agent_name -> the agent's class (a base.GoalConditionedAgent).
AGENTS = {
    'c_learning': c_learning_agent.CLearningAgent,
    'contrastive': contrastive_agent.ContrastiveAgent,
    'gcsl': gcsl_agent.GcslAgent,
    'goal_bc': goal_bc_agent.GoalBcAgent,
    'sac_her': sac_her_agent.SacHerAgent,
    'td3_her': td3_her_agent.Td3HerAgent,
    'wgcsl': wgcsl_agent.WgcslAgent,
}


def create(agent_name, time_step_spec, action_spec, relabeler, gamma, train_step_counter,
           debug_summaries=False, summarize_grads_and_vars=False):
  """The agent `agent_name` for these specs; its own settings come from gin bindings on its class.

  Raises:
    config.ConfigError: on an unknown name, actions of a kind the agent does
      not act in, or a relabeling the agent rules out.
  """
  if agent_name not in AGENTS:
    raise config.ConfigError(f'train_eval.agent_name={agent_name!r} is unknown; valid names: '
                             f'{", ".join(sorted(AGENTS))}.')
  agent_class = AGENTS[agent_name]
  check_action_kind(agent_name, action_spec)
  agent_class.check_relabeling(relabeler)
  return agent_class(time_step_spec, action_spec, gamma=gamma, relabeler=relabeler,
                     debug_summaries=debug_summaries,
                     summarize_grads_and_vars=summarize_grads_and_vars,
                     train_step_counter=train_step_counter)


def action_kind(action_spec):
  """'discrete' for one integer action spec, else 'continuous'."""
  flat = tf.nest.flatten(action_spec)
  return 'discrete' if len(flat) == 1 and flat[0].dtype.is_integer else 'continuous'


def check_action_kind(agent_name, action_spec):
  """Raises config.ConfigError unless agent `agent_name` acts in actions of action_spec's kind."""
  agent_class, kind = AGENTS[agent_name], action_kind(action_spec)
  if kind in agent_class.ACTION_KINDS:
    return
  takers = sorted(name for name, other in AGENTS.items() if kind in other.ACTION_KINDS)
  raise config.ConfigError(
      f'train_eval.agent_name={agent_name!r} ({agent_class.ALGORITHM}) acts in '
      f'{" or ".join(agent_class.ACTION_KINDS)} actions, and the task\'s are {kind}: use an '
      f'agent that takes {kind} actions ({", ".join(takers) or "none yet"}) or the task\'s '
      f'{agent_class.ACTION_KINDS[0]} actions (dm-control tasks: dmc_task.actions).')
