"""Every gin parameter of the package reaches its object, or binding it is refused (as Dopamine's gin tests).

Gin lets an argument passed by the caller win over a binding without a word. So
each parameter that the package's own code passes is denylisted (config.SET_BY
says which binding sets it instead), and every other parameter gets a
distinctive value here: a run with those bindings must show each of them in its
operative.gin, which holds what gin supplied to the calls, never a caller's value.
"""
import inspect

import gin
import pytest

from c_learning import agents
from c_learning import config
from c_learning import envs
from c_learning import registry
from c_learning import runner
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
                         'actor_learning_rate': 5e-3, 'critic_learning_rate': 7e-3,
                         'target_entropy': -0.5, 'initial_log_alpha': 0.3,
                         'alpha_learning_rate': 2e-3, 'gradient_clipping': 8.0,
                         'name': 'ContrastiveAgentX'},
    'ClassifierCriticNetwork': {'activation_fn': 'tanh', 'kernel_initializer': 'he_uniform',
                                'last_kernel_initializer': 'zeros'},
    'GoalDistanceMetrics': {'name': 'GoalDistanceX'},
    'load_point_mass': {'max_episode_steps': 7},
    'load_goal_cartpole': {'max_episode_steps': 11, 'goal_xmin': -0.5, 'goal_xmax': 0.75,
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


def _run_param(run):
  """A run as a test case; the pixel run (about 30 s of tracing conv networks) is a slow one."""
  marks = [pytest.mark.slow] if 'pixel_encoder' in run[2] else []
  return pytest.param(*(run + ([],))[:4], marks=marks, id=f'{run[0]}-{run[1]}')


@pytest.mark.parametrize('task, agent, names, relabeling', [_run_param(run) for run in RUNS])
def test_every_distinctive_binding_reaches_its_object(task, agent, names, relabeling,
                                                      tmp_path):
  bound = {f'{name}.{parameter}': value for name in names
           for parameter, value in DISTINCTIVE[name].items() if value is not None}
  bindings = [f'{binding} = {value!r}' for binding, value in bound.items()]
  if agent is None:
    config.parse([], bindings)
    envs.load_py_environment(task).reset()
    operative = gin.operative_config_str()
  else:
    bindings += [f'train_eval.env_name = {task!r}', f'train_eval.agent_name = {agent!r}']
    helpers.run(tmp_path, [], (SMALL_RUN if 'train_eval' not in names else []) + relabeling
                + bindings)
    operative = (tmp_path / 'operative.gin').read_text()
  arrived = _operative_values(operative, bound)
  assert arrived == bound


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
