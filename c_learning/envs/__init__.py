"""Goal-conditioned environments by name: `load(env_name)` builds the train and eval envs.

A name is one of ENV_NAMES (the package's tasks, c_learning.envs.tasks) or
'gym:<id>' for any registered gymnasium environment with a dict goal
observation (c_learning.envs.gym_goal), e.g. 'gym:FetchReach-v4'.
"""
import ctypes.util
import os

# MuJoCo picks its GL backend when it is imported. Default to OSMesa for
# headless rendering, but only where the library exists, so that importing
# never fails, and never over a choice the user made.
if 'MUJOCO_GL' not in os.environ and ctypes.util.find_library('OSMesa'):
  os.environ['MUJOCO_GL'] = 'osmesa'
  os.environ.setdefault('PYOPENGL_PLATFORM', 'osmesa')

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
from tf_agents.environments import tf_py_environment
from tf_agents.environments import wrappers

from c_learning import config
from c_learning import relabel
from c_learning.envs import gym_goal
from c_learning.envs import spawned
from c_learning.envs import tasks

ENV_NAMES = sorted(tasks.TASKS)


def task_spec(env_name):
  """The TaskSpec of `env_name`: one of ENV_NAMES, or 'gym:<id>'."""
  if env_name in tasks.TASKS:
    return tasks.TASKS[env_name]
  if isinstance(env_name, str) and env_name.startswith(gym_goal.PREFIX):
    return gym_goal.task_spec(env_name)
  raise config.ConfigError(f'Unknown env_name {env_name!r}; valid names: '
                           f'{", ".join(ENV_NAMES)}, or gym:<id> for a gymnasium goal '
                           'environment.')


def eval_seed(seed):
  """The eval env's seed: fixed by `seed`, and different from it."""
  # Hashing (rather than seed + k) keeps one run's eval seed from being
  # another run's train seed.
  derived = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
  return derived if derived != seed else derived + 1


def load_py_environment(env_name, seed=0):
  """The named task as a time-limited PyEnvironment, goal not sliced (for controllers, tests)."""
  spec = task_spec(env_name)
  _check_seed(seed)
  return spec.load(seed=int(seed))


def load(env_name, goal_slice=None, seed=0, num_train_envs=1):
  """Creates the train and eval environments of a goal-conditioned task.

  An observation is concat(state, goal_slice(goal)): the full state and the
  goal dimensions that obs_to_goal selects (task_spec(env_name).goal_slice
  says which state dimensions those goals constrain).

  Args:
    env_name: one of ENV_NAMES, or 'gym:<id>'.
    goal_slice: a relabel.GoalSlice of the goal's dimensions; None means
      relabel.obs_to_goal() (gin).
    seed: seeds the train env; the eval env gets eval_seed(seed), so its goals
      differ from the train env's but are the same on every run.
    num_train_envs: tasks the train env steps at once. One runs in this
      process; several run in processes of their own (SpawnedEnvironments),
      task i seeded with train_seed(seed, i).

  Returns:
    (train_env, eval_env, obs_dim): two TFPyEnvironments (the train env's batch
    size is num_train_envs, the eval env's 1), and the state width.
  """
  if not (isinstance(num_train_envs, int) and num_train_envs >= 1):
    raise config.ConfigError(f'num_train_envs={num_train_envs!r}: must be an int >= 1.')
  _check_seed(seed)
  eval_py_env = load_py_environment(env_name, eval_seed(seed))
  obs_dim, keep = _observation_layout(task_spec(env_name), goal_slice)
  if num_train_envs == 1:
    train_py_env = filtered_py_environment(env_name, seed, keep)
  else:
    train_py_env = spawned.SpawnedEnvironments(
        filtered_py_environment,
        [(env_name, train_seed(seed, i), keep) for i in range(num_train_envs)])
  eval_py_env = wrappers.ObservationFilterWrapper(eval_py_env, keep)
  return (tf_py_environment.TFPyEnvironment(train_py_env),
          tf_py_environment.TFPyEnvironment(eval_py_env), obs_dim)


def train_seed(seed, index):
  """Train task `index`'s seed: `seed` itself for the first, derived ones for the rest."""
  if index == 0:
    return seed
  return int(np.random.SeedSequence([seed, 2, index]).generate_state(1)[0])


def filtered_py_environment(env_name, seed, keep):
  """The named task with its observation cut to the indices `keep` (module level: workers call it)."""
  return wrappers.ObservationFilterWrapper(load_py_environment(env_name, seed), keep)


def _check_seed(seed):
  if not (isinstance(seed, (int, np.integer)) and seed >= 0):
    raise config.ConfigError(f'seed must be a non-negative int, got {seed!r}.')


def observation_indices(env_name, goal_slice=None):
  """The indices of a full observation of `env_name` that a run with goal_slice observes: state ++ sliced goal."""
  return _observation_layout(task_spec(env_name), goal_slice)[1]


def _observation_layout(spec, goal_slice):
  """(state_dim, keep): the state width, and the observation indices of state ++ sliced goal."""
  if goal_slice is None:
    goal_slice = relabel.obs_to_goal()
  start, end = goal_slice.resolve(spec.goal_dim)
  return spec.state_dim, np.concatenate([np.arange(spec.state_dim),
                                         spec.state_dim + np.arange(start, end)])


def physics_blowups(tf_env):
  """Episodes ended by a physics blow-up so far, summed over the tasks of tf_env."""
  if isinstance(tf_env.pyenv, spawned.SpawnedEnvironments):
    return tf_env.pyenv.physics_blowups()
  # Wrappers forward attribute reads to the PyEnvironment that counts them.
  return sum(getattr(env, 'physics_blowups', 0) for env in tf_env.pyenv.envs)
