"""Every gin parameter of the package reaches its object, or binding it is refused (as Dopamine's gin tests).

Gin lets an argument passed by the caller win over a binding without a word. So
each parameter that the package's own code passes is denylisted (config.SET_BY
says which binding sets it instead), and every other parameter gets a
distinctive value here: a run with those bindings must show each of them in its
operative.gin, which holds what gin supplied to the calls, never a caller's value.
Beside that, READERS reads each value back off the object it configures (the
run's settings, agent, networks, task, replay, metrics; an env-only run's
environment), as the run built it: an attribute where there is one, an effect
(an episode's length, the arm's goal after a reset) where there is not.
"""
import inspect
import re
import types

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import wrappers

from c_learning import agents
from c_learning import config
from c_learning import envs
from c_learning import registry
from c_learning import relabel
from c_learning import runner
from c_learning.agents import gcsl_agent
from tests import train_eval_helpers as helpers

def _agent_settings(scale):
  """Distinctive values of the settings every twin-critic agent owns."""
  return {'actor_fc_layers': (16, scale), 'critic_fc_layers': (scale, 16),
          'actor_learning_rate': 1e-3 * scale, 'critic_learning_rate': 2e-3 * scale,
          'target_update_tau': 0.01 * scale, 'target_update_period': 2,
          'gradient_clipping': 10.0 * scale, 'normalize_observations': True}


# A value for every parameter that gin may bind, unlike its default and valid
# together with the others of its run.
DISTINCTIVE = {
    'train_eval': {
        'num_iterations': 4, 'initial_collect_steps': 37, 'collect_steps_per_iteration': 2,
        'num_parallel_envs': 2, 'replay_buffer_capacity': 2000,
        'checkpoint_replay_buffer': False, 'max_future_steps': 20, 'future_offsets': 'uniform',
        'train_steps_per_iteration': 2, 'loop': 'plain',
        'iterations_per_call': 3,
        'xla_train_step': True, 'compute_dtype': 'bfloat16', 'batch_size': 16, 'gamma': 0.9, 'use_tf_functions': False,
        'num_eval_episodes': 1, 'eval_interval': 2, 'success_threshold': 0.2,
        'log_subset': (1, 2), 'train_checkpoint_interval': 2, 'checkpoints_to_keep': 3,
        'export_policy': False,
        'log_interval': 2, 'summary_interval': 2, 'summaries_flush_secs': 5,
        'debug_summaries': True, 'summarize_grads_and_vars': True, 'random_seed': 7,
        # Set by every run: the run's task and agent.
        'env_name': None, 'agent_name': None,
        # Set by the offline runs of tests/test_offline.py, which write a dataset first.
        'dataset': None,
        # Only loop 'overlapped' takes it (this run's 'plain' refuses it):
        # tests/test_train_eval.py's refusals show that a bound value reaches the runner.
        'overlap_collection': None,
        # Set by the pixel run below.
        'observations': None,
    },
    'pixel_observations': {'height': 20, 'width': 24, 'frame_stack': 2, 'grayscale': True},
    # 20x24 frames are too small for the 'conv' torso: its settings are bound
    # all the same, and operative.gin shows that they arrived.
    'pixel_encoder': {'torso': 'impala', 'feature_dim': 7, 'conv_channels': (8, 8),
                      'conv_kernels': (3, 3), 'conv_strides': (2, 2), 'impala_channels': (8,),
                      'include_state': True, 'share_actor_critic': False},
    'obs_to_goal': {'start_index': 1, 'end_index': 2},
    'goal_fn': {'relabel_next_prob': 0.3, 'relabel_future_prob': 0.3,
                'relabel_orig_prob': 0.1, 'relabel_last_prob': 0.1,
                'reward': 'threshold'},
    'threshold_reward': {'threshold': 0.1},
    'SacHerAgent': {**_agent_settings(4), 'terminate_on_reward': True, 'target_entropy': -1.0,
                    'initial_log_alpha': 0.5, 'alpha_learning_rate': 1e-3,
                    'name': 'SacHerAgentX'},
    'Td3HerAgent': {**_agent_settings(2), 'actor_update_period': 3, 'target_noise_std': 0.3,
                    'target_noise_clip': 0.4, 'exploration_noise_std': 0.25,
                    'exploration_random_prob': 0.3, 'action_l2': 1.0, 'preactivation_l2': 0.2,
                    'terminate_on_reward': True, 'name': 'Td3HerAgentX'},
    'CLearningAgent': {**_agent_settings(8), 'w_clipping': 5.0, 'use_td_targets': False,
                       'actor_loss_type': 'cross_entropy', 'exact_hybrid': True,
                       'name': 'CLearningAgentX'},
    'GcslAgent': {'actor_fc_layers': (16, 3), 'actor_learning_rate': 2e-3,
                  'horizon_input': True, 'max_horizon': 7, 'gradient_clipping': 5.0,
                  'name': 'GcslAgentX'},
    'GoalBcAgent': {'actor_fc_layers': (16, 5), 'actor_learning_rate': 3e-3,
                    'horizon_input': True, 'max_horizon': 9, 'gradient_clipping': 6.0,
                    'name': 'GoalBcAgentX'},
    'WgcslAgent': {'actor_fc_layers': (16, 6), 'critic_fc_layers': (6, 16),
                   'actor_learning_rate': 4e-3, 'critic_learning_rate': 6e-3,
                   'target_update_tau': 0.2, 'use_drw': False, 'use_geaw': False,
                   'use_baw': False, 'geaw_max': 3.0, 'baw_epsilon': 0.1,
                   'baw_max_percentile': 60.0, 'baw_warmup_steps': 11, 'horizon_input': True,
                   'max_horizon': 8, 'gradient_clipping': 7.0, 'name': 'WgcslAgentX'},
    'ContrastiveAgent': {'loss': 'cpc', 'energy': 'l2', 'repr_dim': 5,
                         'actor_fc_layers': (16, 7), 'critic_fc_layers': (7, 16),
                         'twin_critics': True, 'random_goal_fraction': 0.25,
                         'logsumexp_penalty': 0.02,
                         'actor_learning_rate': 5e-3, 'critic_learning_rate': 7e-3,
                         'target_entropy': -0.5, 'initial_log_alpha': 0.3,
                         'alpha_learning_rate': 2e-3, 'gradient_clipping': 8.0,
                         'name': 'ContrastiveAgentX'},
    'ClassifierCriticNetwork': {'activation_fn': 'tanh', 'kernel_initializer': 'he_uniform',
                                'last_kernel_initializer': 'zeros'},
    'GoalDistanceMetrics': {'name': 'GoalDistanceX'},
    'load_point_mass': {'max_episode_steps': 7},
    'load_goal_cartpole': {'actions': 'discrete', 'terminate_on_fall': True,
                           'max_episode_steps': 11, 'goal_xmin': -0.5, 'goal_xmax': 0.75,
                           'dynamic_goal': True, 'goal_period': 6.0},
    'load_sawyer_reach': {'max_episode_steps': 9},
    'load_sawyer_push': {'max_episode_steps': 9, 'random_init': True, 'wide_goals': True},
    'load_sawyer_drawer': {'max_episode_steps': 9},
    'load_sawyer_window': {'max_episode_steps': 9, 'reachable_goals': True},
    'load_sawyer_faucet': {'max_episode_steps': 9},
    'load_sawyer_bin': {'max_episode_steps': 9, 'goal_distribution': 'contrastive_rl'},
    'SawyerPush.reset': {'arm_goal_type': 'puck', 'fix_z': False},
    'SawyerDrawer.reset': {'arm_goal_type': 'goal'},
    'SawyerWindow.reset': {'arm_goal_type': 'puck'},
    'SawyerFaucet.reset': {'arm_goal_type': 'random'},
    'SawyerBin.reset': {'arm_goal_type': 'puck'},
    'dmc_task': {'actions': 'discrete', 'max_episode_steps': 13},
}

# (task, agent, the configurables whose distinctive values the run binds[, the
# agent's relabeling]). The first run binds train_eval's own; the push run
# trains small. With agent None, the run only builds the task's environment and
# resets it (what its loader and reset receive does not need a train step).
REACHED_GOALS = ['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.5']
RUNS = [
    ('point_mass', 'sac_her', ['train_eval', 'obs_to_goal', 'goal_fn', 'threshold_reward',
                               'SacHerAgent', 'ClassifierCriticNetwork',
                               'GoalDistanceMetrics', 'load_point_mass']),
    ('sawyer_push', 'c_learning', ['CLearningAgent', 'load_sawyer_push', 'SawyerPush.reset']),
    ('sawyer_reach', 'td3_her', ['Td3HerAgent', 'load_sawyer_reach']),
    ('sawyer_drawer', None, ['load_sawyer_drawer', 'SawyerDrawer.reset']),
    ('sawyer_window', None, ['load_sawyer_window', 'SawyerWindow.reset']),
    ('sawyer_faucet', None, ['load_sawyer_faucet', 'SawyerFaucet.reset']),
    ('sawyer_bin', None, ['load_sawyer_bin', 'SawyerBin.reset']),
    ('goal_cartpole', None, ['load_goal_cartpole']),
    ('dmc:cartpole', None, ['dmc_task']),
    ('sawyer_reach', 'c_learning', ['pixel_observations', 'pixel_encoder'],
     ["train_eval.observations = 'pixels'", 'load_sawyer_reach.max_episode_steps = 10']),
    ('point_mass', 'gcsl', ['GcslAgent'], REACHED_GOALS),
    ('point_mass', 'wgcsl', ['WgcslAgent'], REACHED_GOALS),
    ('point_mass', 'contrastive', ['ContrastiveAgent'],
     ['goal_fn.relabel_next_prob = 0.0', 'goal_fn.relabel_future_prob = 1.0']),
    ('point_mass', 'goal_bc', ['GoalBcAgent'],
     ['goal_fn.relabel_next_prob = 0.0', 'goal_fn.relabel_future_prob = 0.0',
      'goal_fn.relabel_orig_prob = 1.0']),
]

SMALL_RUN = helpers.SMALL + [
    'train_eval.num_iterations = 2', 'train_eval.initial_collect_steps = 20',
    'train_eval.num_eval_episodes = 1', 'train_eval.export_policy = False',
    'goal_fn.relabel_next_prob = 0.25', 'goal_fn.relabel_future_prob = 0.25']

pytestmark = pytest.mark.usefixtures('clear_gin')


def _package_configurables():
  """{name: (parameters gin may bind, denylisted parameters)} of every configurable in c_learning."""
  registry.register_configurables()
  found = {}
  for _, configurable in gin.config._REGISTRY.items():  # pylint: disable=protected-access
    if not configurable.wrapped.__module__.startswith('c_learning'):
      continue
    name = configurable.name
    if not configurable.module.startswith('c_learning'):
      name = f'{configurable.module}.{name}'  # e.g. SawyerPush.reset
    function = configurable.wrapped
    function = function.__init__ if inspect.isclass(function) else function
    parameters = [p.name for p in inspect.signature(function).parameters.values()
                  if p.name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    denied = list(configurable.denylist or [])
    found[name] = ([p for p in parameters if p not in denied], denied)
  return found


def test_every_bindable_parameter_has_a_distinctive_value_and_a_run():
  configurables = _package_configurables()
  assert {name: sorted(bindable) for name, (bindable, _) in configurables.items()} == {
      name: sorted(values) for name, values in DISTINCTIVE.items()}
  assert sorted(name for run in RUNS for name in run[2]) == sorted(
      name for name, values in DISTINCTIVE.items() if values)


def _set_by():
  """{binding: where it is set} of every denylisted parameter: config.SET_BY, and each agent's."""
  set_by = dict(config.SET_BY)
  for agent_class in agents.AGENTS.values():
    set_by.update({f'{agent_class.__name__}.{name}': where
                   for name, where in config.AGENT_SET_BY.items()})
  return set_by


def test_denylists_are_what_config_says_the_callers_pass():
  denied = {f'{name}.{parameter}' for name, (_, denylist) in _package_configurables().items()
            for parameter in denylist}
  assert denied == set(_set_by())


@pytest.mark.parametrize('binding, where', sorted(_set_by().items()))
def test_binding_a_parameter_that_the_code_passes_is_refused(binding, where):
  with pytest.raises(config.ConfigError) as error:
    config.parse([], [f'{binding} = 1'])
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(f'gin config rejected: {binding} cannot be bound: it is set by '
                            f'{where}.')


def _operative_values(operative, bindings):
  """What the run's operative.gin says gin supplied to each of `bindings`; KeyError where it supplied nothing."""
  gin.clear_config()
  gin.parse_config(operative)
  try:
    values = {}
    for binding in bindings:
      try:
        values[binding] = gin.query_parameter(binding)
      except ValueError as error:
        raise KeyError(f'{binding} is not in operative.gin: the binding was ignored') from error
    return values
  finally:
    gin.clear_config()



# How to read each parameter's value back off what a run built. A reader gets
# `built` (a SimpleNamespace: settings, agent, task, replay, checkpoints,
# exporter, metrics and env; an env-only run has only env), read right after the
# runner built and restored everything, before any train step moves a value.

def _setting(name):
  """The Runner's settings (train_eval's arguments, as the Runner got them)."""
  return lambda built: getattr(built.settings, name)


def _hidden_widths(network):
  """The widths of a network's hidden Dense layers: every kernel's, in creation order, less the output layer's."""
  kernels = [v for v in network.trainable_variables if v.name.endswith('kernel:0')]
  return tuple(int(kernel.shape[-1]) for kernel in kernels[:-1])


def _learning_rate(optimizer_name):
  return lambda built: float(getattr(built.agent, optimizer_name).learning_rate.numpy())


def _attribute(name, of='agent'):
  return lambda built: getattr(getattr(built, of), name)


def _snake(instance):
  """'HeUniform' -> 'he_uniform': how gin names a Keras initializer or activation."""
  name = getattr(instance, '__name__', type(instance).__name__)
  return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()


def _gym_task(py_env):
  """The gymnasium task inside a PyEnvironment's wrappers."""
  while hasattr(py_env, 'wrapped_env'):
    py_env = py_env.wrapped_env()
  return py_env.gym_env


def _episode_length(built):
  """A time limit: a run's eval env's TimeLimit; an env's effect, the steps of zero actions until the episode ends."""
  if hasattr(built, 'task'):
    return envs.episode_steps(built.task.eval_env)
  env = built.env
  if getattr(_gym_task(env), '_terminate_on_fall', False):
    # A falling pole ends the episode before its time limit: read the limit.
    while not isinstance(env, wrappers.TimeLimit):
      env = env.wrapped_env()
    return env.duration
  action = np.zeros(env.action_spec().shape, env.action_spec().dtype)
  env.reset()
  for steps in range(1, 101):
    if env.step(action).is_last():
      return steps
  return None


def _arm_goal_type(built):
  """Which goal the arm got at the reset: the object goal, the object's start, or another."""
  task = _gym_task(built.env)
  task.reset()
  if np.allclose(task.arm_goal, task.object_goal):
    return 'goal'
  if np.allclose(task.arm_goal, task.object_pos()):
    return 'puck'
  return 'random'


def _twin_agent_readers(agent):
  return {
      f'{agent}.actor_fc_layers': lambda b: _hidden_widths(b.agent._actor_network),
      f'{agent}.critic_fc_layers': lambda b: _hidden_widths(b.agent._critic_network_1),
      f'{agent}.actor_learning_rate': _learning_rate('_actor_optimizer'),
      f'{agent}.critic_learning_rate': _learning_rate('_critic_optimizer'),
      f'{agent}.target_update_tau': _attribute('_target_update_tau'),
      f'{agent}.target_update_period': _attribute('_target_update_period'),
      f'{agent}.gradient_clipping': _attribute('_gradient_clipping'),
      f'{agent}.normalize_observations': lambda b: b.agent._observation_stats is not None,
      f'{agent}.name': _attribute('name'),
  }


def _imitation_readers(agent):
  return {
      f'{agent}.actor_fc_layers': lambda b: _hidden_widths(b.agent._actor_network),
      f'{agent}.actor_learning_rate': _learning_rate('_actor_optimizer'),
      f'{agent}.horizon_input': lambda b: isinstance(b.agent._actor_network,
                                                     gcsl_agent.HorizonActorNetwork),
      f'{agent}.max_horizon': _attribute('_max_horizon'),
      f'{agent}.gradient_clipping': _attribute('_gradient_clipping'),
      f'{agent}.name': _attribute('name'),
  }


def _classifier_critic_layers(built):
  """The first critic's hidden layers and its output layer."""
  net = built.agent._critic_network_1
  net = getattr(net, 'inner', net)  # behind the observation normaliser
  return net._hidden_layers, net._logit_layer


READERS = {
    # train_eval's arguments: what the Runner got, and where it is easy to
    # see, what it did with it.
    **{f'train_eval.{name}': _setting(name) for name in DISTINCTIVE['train_eval']},
    'train_eval.num_parallel_envs': lambda b: b.task.train_env.batch_size,
    'train_eval.replay_buffer_capacity': lambda b: b.replay._max_length * b.replay._batch_size,
    'train_eval.max_future_steps': _attribute('_max_future_steps', of='replay'),
    'train_eval.future_offsets': _attribute('_future_offsets', of='replay'),
    'train_eval.gamma': _attribute('_gamma'),
    'train_eval.success_threshold': lambda b: b.task.success_threshold,
    'train_eval.log_subset': lambda b: tuple(b.metrics._views[1][0]),
    'train_eval.checkpoints_to_keep': _attribute('_keep', of='checkpoints'),
    'train_eval.export_policy': lambda b: b.exporter is not None,
    'train_eval.debug_summaries': _attribute('_debug_summaries'),
    'train_eval.summarize_grads_and_vars': _attribute('_summarize_grads_and_vars'),
    'train_eval.env_name': lambda b: b.task.spec.name,
    'train_eval.observations': lambda b: 'pixels' if b.task.spec.has_pixels else 'state',
    'pixel_observations.height': lambda b: b.task.eval_env.observation_spec()['pixels'].shape[0],
    'pixel_observations.width': lambda b: b.task.eval_env.observation_spec()['pixels'].shape[1],
    'pixel_observations.frame_stack': lambda b: _frame_shape(b)[3],
    'pixel_observations.grayscale': lambda b: _frame_shape(b)[2] == 1,
    # The settings that the critic's FrameEncoder was built with.
    **{f'pixel_encoder.{name}': (lambda name: lambda b: getattr(
        b.agent._critic_network_1.encoder._settings, name))(name)
       for name in DISTINCTIVE['pixel_encoder']},
    'pixel_encoder.share_actor_critic': _attribute('_share_encoder'),
    'obs_to_goal.start_index': lambda b: b.task.relabeler.goal_slice.start_index,
    'obs_to_goal.end_index': lambda b: b.task.relabeler.goal_slice.end_index,
    **{f'goal_fn.{name}': (lambda name: lambda b: getattr(b.task.relabeler, name))(name)
       for name in DISTINCTIVE['goal_fn']},
    'threshold_reward.threshold': lambda b: _reward_threshold(b),
    **_twin_agent_readers('SacHerAgent'),
    'SacHerAgent.terminate_on_reward': _attribute('_terminate_on_reward'),
    'SacHerAgent.target_entropy': _attribute('_target_entropy'),
    'SacHerAgent.initial_log_alpha': lambda b: float(b.agent._log_alpha.numpy()),
    'SacHerAgent.alpha_learning_rate': _learning_rate('_alpha_optimizer'),
    **_twin_agent_readers('Td3HerAgent'),
    **{f'Td3HerAgent.{name}': _attribute(f'_{name}')
       for name in ('actor_update_period', 'target_noise_std', 'target_noise_clip',
                    'exploration_noise_std', 'exploration_random_prob', 'action_l2',
                    'preactivation_l2', 'terminate_on_reward')},
    **_twin_agent_readers('CLearningAgent'),
    'CLearningAgent.w_clipping': _attribute('_w_clipping'),
    'CLearningAgent.use_td_targets': _attribute('_use_td_targets'),
    'CLearningAgent.actor_loss_type': _attribute('_actor_loss_type'),
    # lambda = 2 relabel_next_prob (0.25 in the run) weighs the TD term only with exact_hybrid.
    'CLearningAgent.exact_hybrid': lambda b: b.agent._td_weight == 2 * b.task.relabeler.relabel_next_prob != 1.0,
    **_imitation_readers('GcslAgent'),
    **_imitation_readers('GoalBcAgent'),
    **_imitation_readers('WgcslAgent'),
    'WgcslAgent.critic_fc_layers': lambda b: _hidden_widths(b.agent._critic_network),
    'WgcslAgent.critic_learning_rate': _learning_rate('_critic_optimizer'),
    **{f'WgcslAgent.{name}': _attribute(f'_{name}')
       for name in ('target_update_tau', 'use_drw', 'use_geaw', 'use_baw', 'geaw_max',
                    'baw_epsilon', 'baw_max_percentile', 'baw_warmup_steps')},
    'ContrastiveAgent.loss': _attribute('_loss_kind'),
    'ContrastiveAgent.energy': _attribute('_energy'),
    'ContrastiveAgent.repr_dim': lambda b: _contrastive_widths(b)[-1],
    'ContrastiveAgent.actor_fc_layers': lambda b: _hidden_widths(b.agent._actor_network),
    'ContrastiveAgent.critic_fc_layers': lambda b: _contrastive_widths(b)[:-1],
    'ContrastiveAgent.twin_critics': lambda b: len(b.agent._critic_networks) == 2,
    'ContrastiveAgent.random_goal_fraction': _attribute('_random_goal_fraction'),
    'ContrastiveAgent.logsumexp_penalty': _attribute('_logsumexp_penalty'),
    'ContrastiveAgent.actor_learning_rate': _learning_rate('_actor_optimizer'),
    'ContrastiveAgent.critic_learning_rate': _learning_rate('_critic_optimizer'),
    'ContrastiveAgent.target_entropy': _attribute('_target_entropy'),
    'ContrastiveAgent.initial_log_alpha': lambda b: float(b.agent._log_alpha.numpy()),
    'ContrastiveAgent.alpha_learning_rate': _learning_rate('_alpha_optimizer'),
    'ContrastiveAgent.gradient_clipping': _attribute('_gradient_clipping'),
    'ContrastiveAgent.name': _attribute('name'),
    'ClassifierCriticNetwork.activation_fn': lambda b: _snake(
        _classifier_critic_layers(b)[0][0].activation),
    'ClassifierCriticNetwork.kernel_initializer': lambda b: _snake(
        _classifier_critic_layers(b)[0][0].kernel_initializer),
    'ClassifierCriticNetwork.last_kernel_initializer': lambda b: _snake(
        _classifier_critic_layers(b)[1].kernel_initializer),
    'GoalDistanceMetrics.name': lambda b: b.metrics.name,
    # The loaders' time limits, by their effect; their other settings, off the task.
    **{f'{loader}.max_episode_steps': _episode_length
       for loader in DISTINCTIVE if loader.startswith('load_')},
    'dmc_task.max_episode_steps': _episode_length,
    'dmc_task.actions': lambda b: ('discrete' if np.issubdtype(b.env.action_spec().dtype, np.integer)
                                   else 'continuous'),
    'load_goal_cartpole.goal_xmin': lambda b: _gym_task(b.env)._goal_xmin,
    'load_goal_cartpole.goal_xmax': lambda b: _gym_task(b.env)._goal_xmax,
    'load_goal_cartpole.dynamic_goal': lambda b: _gym_task(b.env)._dynamic_goal,
    'load_goal_cartpole.goal_period': lambda b: _gym_task(b.env)._goal_period,
    # Parameters being added to the loader (c_learning/envs/cartpole.py) as this is written.
    'load_goal_cartpole.actions': lambda b: ('discrete' if _gym_task(b.env)._discrete
                                             else 'continuous'),
    'load_goal_cartpole.terminate_on_fall': lambda b: _gym_task(b.env)._terminate_on_fall,
    'load_sawyer_push.random_init': lambda b: _gym_task(b.env).random_init,
    'load_sawyer_push.wide_goals': lambda b: float(_gym_task(b.env).goal_low[1]) == 0.5,
    'load_sawyer_window.reachable_goals': lambda b: _gym_task(b.env).reachable_goals,
    'load_sawyer_bin.goal_distribution': lambda b: _gym_task(b.env).goal_distribution,
    **{f'{task}.reset.arm_goal_type': _arm_goal_type
       for task in ('SawyerPush', 'SawyerDrawer', 'SawyerWindow', 'SawyerFaucet', 'SawyerBin')},
    # fix_z: goals at the resting puck's height; else z uniform in GOAL_Z (0.05 to 0.3 m).
    'SawyerPush.reset.fix_z': lambda b: all(
        _reset_then(b, lambda task: np.isclose(task.object_goal[2], task.object_pos()[2]))
        for _ in range(3)),
}


def _reward_threshold(built):
  """The effect of a reward threshold: the nearest achieved goal that the run's reward calls a miss, to 1e-3."""
  distances = np.arange(0.0, 1.0, 1e-4, dtype=np.float32)
  achieved = tf.constant(np.stack([distances, np.zeros_like(distances)], axis=-1))
  rewards = relabel.REWARDS[built.task.relabeler.reward](achieved, tf.zeros_like(achieved))
  return round(float(distances[np.argmin(rewards.numpy())]), 3)


def _contrastive_widths(built):
  """The widths of both towers (phi(s, a), psi(g)) of every critic, the representation's last, where they agree."""
  widths = {tuple(layer.units for layer in layers) for net in built.agent._critic_networks
            for layers in (net._sa_layers, net._goal_layers)}
  return widths.pop() if len(widths) == 1 else widths


def _reset_then(built, read):
  task = _gym_task(built.env)
  task.reset()
  return read(task)


def _frame_shape(built):
  from c_learning import frames  # pylint: disable=g-import-not-at-top
  return frames.frame_shape(built.task.eval_env.observation_spec())


def test_every_distinctive_parameter_has_a_reader():
  bindable = {f'{name}.{parameter}' for name, values in DISTINCTIVE.items()
              for parameter, value in values.items() if value is not None}
  assert sorted(bindable - set(READERS)) == []


def _run_param(run):
  """A run as a test case; the pixel and contrastive runs are slow ones."""
  # The pixel run (about 30 s of tracing conv networks) and contrastive RL's (about 20 s; the
  # default suite is at its 15-minute budget) run with the slow tests.
  marks = [pytest.mark.slow] if {'pixel_encoder', 'ContrastiveAgent'} & set(run[2]) else []
  return pytest.param(*(run + ([],))[:4], marks=marks, id=f'{run[0]}-{run[1]}')


@pytest.mark.parametrize('task, agent, names, relabeling', [_run_param(run) for run in RUNS])
def test_every_distinctive_binding_reaches_its_object(task, agent, names, relabeling,
                                                      tmp_path, monkeypatch):
  bound = {f'{name}.{parameter}': value for name in names
           for parameter, value in DISTINCTIVE[name].items() if value is not None}
  bindings = [f'{binding} = {value!r}' for binding, value in bound.items()]
  if agent is None:
    config.parse([], bindings)
    env = envs.load_py_environment(task)
    env.reset()
    operative = gin.operative_config_str()
    read = {binding: READERS[binding](types.SimpleNamespace(env=env)) for binding in bound}
    env.close()
  else:
    read = {}
    restore = runner.Runner._restore

    def restore_then_read(self):
      restore(self)
      built = types.SimpleNamespace(
          settings=self._settings, agent=self._agent, task=self._task,
          replay=self._replay_buffer, checkpoints=self._checkpoints, exporter=self._exporter,
          metrics=self._train_metrics[-1], env=self._task.eval_env.pyenv.envs[0])
      read.update({binding: READERS[binding](built) for binding in bound})
      built.env.reset()  # after the readers' resets, one the wrappers see
    monkeypatch.setattr(runner.Runner, '_restore', restore_then_read)
    bindings += [f'train_eval.env_name = {task!r}', f'train_eval.agent_name = {agent!r}']
    helpers.run(tmp_path, [], (SMALL_RUN if 'train_eval' not in names else []) + relabeling
                + bindings)
    operative = (tmp_path / 'operative.gin').read_text()
  arrived = _operative_values(operative, bound)
  assert arrived == bound
  # And on the objects: each value as the object it configures shows it.
  assert ({binding: _plain(value) for binding, value in read.items()}
          == {binding: _plain(value) for binding, value in bound.items()})


def _plain(value):
  """A value as a binding writes it (numbers, tuples, strings); floats to float32, as the objects hold them."""
  if isinstance(value, (np.generic, np.ndarray)):
    value = value.tolist()
  if isinstance(value, list):
    return tuple(value)
  if isinstance(value, float):
    return float(np.float32(value))
  return value


def test_a_bound_agent_setting_changes_the_agent(tmp_path, monkeypatch):
  """The operative config is what gin passed; here the object itself shows the values."""
  created = []
  create = runner.agents.create
  monkeypatch.setattr(runner.agents, "create",
                      lambda *args, **kwargs: created.append(create(*args, **kwargs)) or created[-1])
  helpers.run(tmp_path, ['gin/sawyer_reach.gin'], helpers.SMALL + [
      'train_eval.num_iterations = 0', 'train_eval.agent_name = "sac_her"',
      'SacHerAgent.alpha_learning_rate = 0.125', 'train_eval.gamma = 0.5'])
  agent, = created
  assert float(agent._alpha_optimizer.learning_rate.numpy()) == 0.125
  assert agent._gamma == 0.5


@pytest.mark.parametrize('binding', sorted(config.MOVED))
def test_binding_a_parameter_that_moved_names_its_new_place(binding):
  with pytest.raises(config.ConfigError) as error:
    config.parse([], [f'{binding} = 1'])
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(f'gin config rejected: {binding} has moved to {config.MOVED[binding]}.')


def test_a_setting_bound_on_the_wrong_agent_names_the_agent_that_has_it():
  with pytest.raises(config.ConfigError) as error:
    config.parse([], ['GcslAgent.use_baw = True'])
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith('gin config rejected: GcslAgent has no use_baw: it is a setting of '
                            'WgcslAgent.')
