"""Builds an agent by name, with its networks and optimizers, from train_eval's knobs."""
import tensorflow as tf

from c_learning import config
from c_learning import networks
from c_learning import relabel
from c_learning.agents import c_learning_agent
from c_learning.agents import sac_her_agent


def _c_learning(time_step_spec, action_spec, relabeler, actor_learning_rate, **kwargs):
  del actor_learning_rate  # already in the actor's optimizer
  relabel.check_c_learning_split(relabeler)
  return c_learning_agent.CLearningAgent(time_step_spec, action_spec, **kwargs)


def _sac_her(time_step_spec, action_spec, relabeler, actor_learning_rate, **kwargs):
  # Any relabel split is valid here: the reward, not the split, makes the targets.
  del actor_learning_rate  # already in the actor's optimizer; alpha has its own
  return sac_her_agent.SacHerAgent(
      time_step_spec, action_spec,
      obs_dim=relabeler.obs_dim, goal_slice=relabeler.goal_slice, **kwargs)


AGENT_BUILDERS = {
    'c_learning': _c_learning,
    'sac_her': _sac_her,
}


def create(agent_name, time_step_spec, action_spec, relabeler, actor_fc_layers,
           critic_fc_layers, actor_learning_rate, critic_learning_rate, **agent_kwargs):
  """Returns the agent `agent_name` (a key of AGENT_BUILDERS) with a tanh-Gaussian actor and Adam."""
  if agent_name not in AGENT_BUILDERS:
    raise config.ConfigError(f'train_eval.agent_name={agent_name!r} is unknown; valid names: '
                     f'{", ".join(sorted(AGENT_BUILDERS))}.')
  return AGENT_BUILDERS[agent_name](
      time_step_spec, action_spec, relabeler, actor_learning_rate,
      actor_network=networks.build_actor_network(
          time_step_spec.observation, action_spec, fc_layer_params=actor_fc_layers),
      critic_network=networks.build_critic_network(
          time_step_spec.observation, action_spec, fc_layer_params=critic_fc_layers),
      actor_optimizer=tf.keras.optimizers.Adam(learning_rate=actor_learning_rate),
      critic_optimizer=tf.keras.optimizers.Adam(learning_rate=critic_learning_rate),
      **agent_kwargs)
