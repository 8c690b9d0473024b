"""Strict gin parsing for the entry points, and the operative config they leave behind."""
import contextlib
import inspect
import os
import re

import gin

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# A checkout's root, which holds the shipped configs in gin/ beside the package.
REPO_ROOT = os.path.dirname(PACKAGE_DIR)
# setup.py installs the checkout's gin/ as package data in c_learning/gin/, so
# an installed package finds the same files; gin/ in a checkout stays the source.
_INSTALLED_GIN_DIR = os.path.join(PACKAGE_DIR, 'gin')
SHIPPED_GIN_DIR = (_INSTALLED_GIN_DIR if os.path.isfile(os.path.join(_INSTALLED_GIN_DIR, 'base.gin'))
                   else os.path.join(REPO_ROOT, 'gin'))

# Parameters that the code building a configurable passes itself. Gin lets an
# explicit argument win over a binding without a word, so each is denylisted
# where it is declared, and a binding to it is refused with the binding that
# does set it. tests/test_gin_bindings.py checks this table against the denylists.
SET_BY = {
    'train_eval.root_dir': '--root_dir',
    'ClassifierCriticNetwork.fc_layer_params': "the agent's critic_fc_layers (e.g. CLearningAgent.critic_fc_layers)",
    'ClassifierCriticNetwork.input_tensor_spec': 'the task (its observation and action specs)',
    'ClassifierCriticNetwork.name': 'the agent (it names each critic and target copy)',
    'GoalDistanceMetrics.success_threshold': 'train_eval.success_threshold',
    'GoalDistanceMetrics.log_subset': 'train_eval.log_subset',
    'GoalDistanceMetrics.buffer_size': 'train_eval.num_eval_episodes',
    'GoalDistanceMetrics.batch_size': 'train_eval.num_parallel_envs',
    'GoalDistanceMetrics.state_dim': 'the task (its state width)',
    'GoalDistanceMetrics.goal_slice': 'obs_to_goal.start_index and obs_to_goal.end_index',
    'GoalDistanceMetrics.prefix': 'train_eval (the summary tags Metrics/...)',
    'GoalDistanceMetrics.success_norm': 'the task (its TaskSpec.success_norm)',
    'goal_fn.goal_slice': 'obs_to_goal.start_index and obs_to_goal.end_index',
    'goal_fn.state_dim': 'the task (its state width)',
    'threshold_reward.achieved_goal': 'the relabeler (the next state in the goal dimensions)',
    'threshold_reward.goal': "the relabeler (each row's goal)",
}
# What c_learning.agents.create passes every agent: each agent class's gin
# denylist (AGENT_DENYLIST), so a new agent needs no line here.
AGENT_SET_BY = {
    'time_step_spec': 'the task (its specs)',
    'action_spec': 'the task (its specs)',
    'gamma': 'train_eval.gamma (the replay samples future goals with the same discount)',
    'debug_summaries': 'train_eval.debug_summaries',
    'summarize_grads_and_vars': 'train_eval.summarize_grads_and_vars',
    'train_step_counter': 'train_eval (its global step)',
    'relabeler': 'goal_fn (the goal split, e.g. goal_fn.relabel_next_prob)',
}
AGENT_DENYLIST = list(AGENT_SET_BY)
SET_BY.update({f'load_{task}.seed': 'train_eval.random_seed' for task in (
    'sawyer_reach', 'sawyer_push', 'sawyer_drawer', 'sawyer_window', 'sawyer_faucet', 'sawyer_bin',
    'point_mass', 'goal_cartpole')})
SET_BY.update({f'{task}.reset.{name}': 'the environment loop (gymnasium reset arguments)'
               for task in ('SawyerPush', 'SawyerDrawer', 'SawyerWindow', 'SawyerFaucet',
                            'SawyerBin')
               for name in ('seed', 'options')})


# Parameters that moved in the redesign: a binding to the old name is refused
# with the new one. Each agent now owns its networks, optimizers and targets.
_AGENT_SETTING = ("the agent's class: CLearningAgent.{0} or SacHerAgent.{0} "
                  "(train_eval.agent_name picks which is used)")
MOVED_TO_AGENTS = ('actor_fc_layers', 'critic_fc_layers', 'actor_learning_rate',
                   'critic_learning_rate', 'target_update_tau', 'target_update_period',
                   'gradient_clipping')
MOVED = {f'train_eval.{name}': _AGENT_SETTING.format(name) for name in MOVED_TO_AGENTS}
MOVED.update({
    'SacHerAgent.reward_type': "goal_fn.reward ('next_state' or 'threshold'), for every agent",
    'SacHerAgent.reward_threshold': 'threshold_reward.threshold',
})


def denylist(configurable_name):
  """The parameters of `configurable_name` that SET_BY says its caller passes: its gin denylist."""
  prefix = configurable_name + '.'
  return [key[len(prefix):] for key in SET_BY if key.startswith(prefix)]


class ConfigError(ValueError):
  """A setting the user chose cannot run: a gin file or binding names nothing, or a value is invalid."""


class RunError(RuntimeError):
  """The run cannot go on for a reason outside the code (its folder is held, no checkpoint restores, the disk is full); its first line says what to do."""


@contextlib.contextmanager
def required_bindings_as_config_errors():
  """Turns gin's error for a missing gin.REQUIRED binding into a one-line ConfigError.

  Settings are checked where they are used and raise ConfigError there; any
  other error is a bug and keeps its type and traceback.
  """
  try:
    yield
  except RuntimeError as error:
    if not str(error).startswith('Required bindings for'):
      raise
    raise ConfigError(first_line(error)) from error


def first_line(error):
  return str(error).strip().splitlines()[0]


def resolve_gin_file(path):
  """`path` as given if it exists, else the shipped config it names ('sawyer_reach.gin' or 'gin/...')."""
  if os.path.exists(path):
    return path
  for shipped in (os.path.join(SHIPPED_GIN_DIR, path),
                  os.path.join(os.path.dirname(SHIPPED_GIN_DIR), path)):
    if os.path.exists(shipped):
      return shipped
  raise ConfigError(f'--gin_file={path}: no such file (shipped configs: '
                    f'{", ".join(sorted(shipped_gin_files()))}).')


def parse(gin_files=None, gin_bindings=None):
  """Parses files then bindings; any unknown name or syntax error raises a one-line ConfigError.

  Bindings resolve to the configurables loaded now: an entry point calls
  c_learning.registry.register_configurables() first (config imports no agent
  or env module, as nearly every module imports config).
  """
  gin_files = [resolve_gin_file(path) for path in gin_files or []]
  # Task files `include 'gin/base.gin'`: the shipped folder's parent finds it
  # whatever the working directory is, and so does a user's config folder's
  # parent for a copy of the layout. (A bare 'base.gin' would work too, but gin
  # logs a spurious ERROR for every include path without a folder part.)
  config_dirs = [os.path.dirname(os.path.abspath(f)) for f in gin_files]
  for search_dir in [os.path.dirname(SHIPPED_GIN_DIR)] + [os.path.dirname(d) for d in config_dirs]:
    gin.add_config_file_search_path(search_dir)
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings or [],
                                        skip_unknown=False)
  except Exception as error:  # gin raises ValueError, KeyError, SyntaxError, TokenError...
    message = ' '.join(str(error).split())
    raise ConfigError(f'gin config rejected: {_explain(message)}') from error


def _explain(message):
  """Gin's message, led by the binding to use where it names a parameter of SET_BY or MOVED."""
  denied = re.search(r"Configurable '([\w.]+)' has denylisted kwarg '(\w+)'", message)
  if denied:
    binding = f'{denied.group(1)}.{denied.group(2)}'
    # Only an agent denylists AGENT_SET_BY's parameters without a SET_BY line.
    where = SET_BY.get(binding) or AGENT_SET_BY.get(denied.group(2))
    if where:
      return f'{binding} cannot be bound: it is set by {where}. ({message})'
  unknown = re.search(r"Configurable '([\w.]+)' doesn't have a parameter named '(\w+)'", message)
  if unknown and f'{unknown.group(1)}.{unknown.group(2)}' in MOVED:
    binding = f'{unknown.group(1)}.{unknown.group(2)}'
    return f'{binding} has moved to {MOVED[binding]}. ({message})'
  if unknown:
    owners = _package_configurables_with(unknown.group(2), exclude=unknown.group(1))
    if owners:
      # E.g. a WGCSL weight switch bound on GcslAgent: say whose setting it is.
      return (f'{unknown.group(1)} has no {unknown.group(2)}: it is a setting of '
              f'{", ".join(owners)}. ({message})')
  return message


def _package_configurables_with(parameter, exclude):
  """Names of the package's configurables that gin may bind `parameter` on, `exclude` aside."""
  owners = []
  for _, configurable in gin.config._REGISTRY.items():  # pylint: disable=protected-access
    wrapped = configurable.wrapped
    if configurable.name == exclude or not wrapped.__module__.startswith('c_learning'):
      continue
    function = wrapped.__init__ if inspect.isclass(wrapped) else wrapped
    if (parameter in inspect.signature(function).parameters
        and parameter not in (configurable.denylist or [])):
      owners.append(configurable.name)
  return sorted(owners)


def shipped_gin_files():
  """Names of the task configs in gin/ (base.gin excluded)."""
  if not os.path.isdir(SHIPPED_GIN_DIR):
    return []
  return [f for f in os.listdir(SHIPPED_GIN_DIR) if f.endswith('.gin') and f != 'base.gin']


def write_operative_config(root_dir):
  """Writes every parameter that the run used (defaults included) to root_dir/operative.gin."""
  os.makedirs(root_dir, exist_ok=True)
  path = os.path.join(root_dir, 'operative.gin')
  with open(path + '.tmp', 'w') as f:
    f.write(gin.operative_config_str())
  os.replace(path + '.tmp', path)
  return path
