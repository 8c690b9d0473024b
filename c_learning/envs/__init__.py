"""Goal-conditioned environments by name: `load(env_name)` builds the train and eval envs.

A name is one of ENV_NAMES (the package's tasks, c_learning.envs.tasks),
'gym:<id>' for any registered gymnasium environment with a dict goal
observation (c_learning.envs.gym_goal), e.g. 'gym:FetchReach-v4', or
'dmc:<domain>' for a DeepMind Control Suite domain (c_learning.envs.dmc),
e.g. 'dmc:cartpole'. A task
observes its state and goal, or with observations='pixels' camera frames and a
goal frame beside them (c_learning.envs.pixels; PIXEL_ENV_NAMES, the Fetch tasks
and the dm-control domains have them).
"""
import ctypes.util
import os

# MuJoCo picks its GL backend when it is imported. Default to OSMesa for
# headless rendering, but only where the library exists, so that importing
# never fails, and never over a choice the user made.
if 'MUJOCO_GL' not in os.environ and ctypes.util.find_library('OSMesa'):
  os.environ['MUJOCO_GL'] = 'osmesa'
  os.environ.setdefault('PYOPENGL_PLATFORM', 'osmesa')
if os.environ.get('MUJOCO_GL') == 'osmesa':
  # Mesa's llvmpipe rasterises in threads of its own unless told not to. Beside
  # TensorFlow's threads, making a new renderer's context current hung or
  # crashed in about one test run in four (OSMesaMakeCurrent; 0 in 5 runs
  # without them), and a 48x48 agent frame is faster on one thread (5.0 against
  # 5.7 ms here; a 480x480 video frame slower, 115 against 80 ms).
  os.environ.setdefault('LP_NUM_THREADS', '0')

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
from tf_agents.environments import tf_py_environment
from tf_agents.environments import wrappers

from c_learning import config
from c_learning import relabel
from c_learning.envs import dmc
from c_learning.envs import gym_goal
from c_learning.envs import pixels
from c_learning.envs import spawned
from c_learning.envs import tasks

ENV_NAMES = sorted(tasks.TASKS)
PIXEL_ENV_NAMES = sorted(name for name, spec in tasks.TASKS.items() if spec.has_pixels)
OBSERVATIONS = ('state', 'pixels')


def task_spec(env_name):
  """The TaskSpec of `env_name`: one of ENV_NAMES, 'gym:<id>' or 'dmc:<domain>'."""
  if env_name in tasks.TASKS:
    return tasks.TASKS[env_name]
  if isinstance(env_name, str) and env_name.startswith(gym_goal.PREFIX):
    return gym_goal.task_spec(env_name)
  if isinstance(env_name, str) and env_name.startswith(dmc.PREFIX):
    return dmc.task_spec(env_name)
  raise config.ConfigError(f'Unknown env_name {env_name!r}; valid names: '
                           f'{", ".join(ENV_NAMES)}, gym:<id> for a gymnasium goal '
                           f'environment, or dmc:<domain> ({", ".join(dmc.DOMAIN_NAMES)}).')


def eval_seed(seed):
  """The eval env's seed: fixed by `seed`, and different from it."""
  # Hashing (rather than seed + k) keeps one run's eval seed from being
  # another run's train seed.
  derived = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
  return derived if derived != seed else derived + 1


def load_py_environment(env_name, seed=0, observations='state'):
  """The named task as a time-limited PyEnvironment, goal not sliced (for controllers, tests).

  observations='pixels': with pixel observations (pixels.PixelObservations,
  settings from gin's pixel_observations).
  """
  spec = task_spec(env_name)
  _check_seed(seed)
  if _observes_pixels(env_name, observations):
    return pixel_py_environment(env_name, seed, pixels.pixel_observations())
  return spec.load(seed=int(seed))


def load(env_name, goal_slice=None, seed=0, num_train_envs=1, observations='state'):
  """Creates the train and eval environments of a goal-conditioned task.

  An observation is concat(state, goal_slice(goal)): the full state and the
  goal dimensions that obs_to_goal selects (task_spec(env_name).goal_slice
  says which state dimensions those goals constrain). With
  observations='pixels' it is a dict of camera frames, a goal frame and the
  whole concat(state, goal) (c_learning.envs.pixels; frame settings from gin's
  pixel_observations); the goal is then a whole frame, so goal_slice must be
  the whole goal.

  Args:
    env_name: one of ENV_NAMES, or 'gym:<id>'.
    goal_slice: a relabel.GoalSlice of the goal's dimensions; None means
      relabel.obs_to_goal() (gin).
    seed: seeds the train env; the eval env gets eval_seed(seed), so its goals
      differ from the train env's but are the same on every run.
    num_train_envs: tasks the train env steps at once. One runs in this
      process; several run in processes of their own (SpawnedEnvironments),
      task i seeded with train_seed(seed, i).
    observations: 'state' or 'pixels' (tasks in PIXEL_ENV_NAMES, the Fetch
      tasks of gym_goal.PIXEL_IDS and every dmc: domain).

  Returns:
    (train_env, eval_env, state_dim): two TFPyEnvironments (the train env's batch
    size is num_train_envs, the eval env's 1), and the state width.
  """
  if not (isinstance(num_train_envs, int) and num_train_envs >= 1):
    raise config.ConfigError(f'num_train_envs={num_train_envs!r}: must be an int >= 1.')
  _check_seed(seed)
  spec = task_spec(env_name)
  if _observes_pixels(env_name, observations):
    _check_whole_goal(env_name, spec, goal_slice)
    # Resolved here, so that every process renders with the same settings.
    make_env, settings = pixel_py_environment, (pixels.pixel_observations(),)
  else:
    make_env, settings = filtered_py_environment, (_observation_layout(spec, goal_slice)[1],)
  # The eval env first: an env that cannot be built fails here, in this process.
  eval_py_env = make_env(env_name, eval_seed(seed), *settings)
  if num_train_envs == 1:
    train_py_env = make_env(env_name, seed, *settings)
  else:
    train_py_env = spawned.SpawnedEnvironments(
        make_env, [(env_name, train_seed(seed, i), *settings) for i in range(num_train_envs)])
  return (tf_py_environment.TFPyEnvironment(train_py_env),
          tf_py_environment.TFPyEnvironment(eval_py_env), spec.state_dim)


def train_seed(seed, index):
  """Train task `index`'s seed: `seed` itself for the first, derived ones for the rest."""
  if index == 0:
    return seed
  return int(np.random.SeedSequence([seed, 2, index]).generate_state(1)[0])


def filtered_py_environment(env_name, seed, keep):
  """The named task with its observation cut to the indices `keep` (module level: workers call it)."""
  return wrappers.ObservationFilterWrapper(load_py_environment(env_name, seed), keep)


def pixel_py_environment(env_name, seed, settings):
  """The named task with pixel observations rendered as pixels.PixelSettings `settings` say (module level: workers call it)."""
  _check_seed(seed)
  return task_spec(env_name).pixel_load(seed=int(seed), settings=settings)


def _observes_pixels(env_name, observations):
  """Whether `observations` asks for pixels; raises ConfigError if it is neither kind or the task has no pixels."""
  if observations not in OBSERVATIONS:
    raise config.ConfigError(f'train_eval.observations={observations!r}: must be one of '
                             f'{", ".join(repr(o) for o in OBSERVATIONS)}.')
  if observations == 'pixels' and not task_spec(env_name).has_pixels:
    gym_ids = ', '.join(gym_goal.PREFIX + env_id for env_id in gym_goal.PIXEL_IDS)
    raise config.ConfigError(f"train_eval.observations='pixels': {env_name} has no pixel "
                             f'observations; the tasks that do: {", ".join(PIXEL_ENV_NAMES)}, '
                             f'{gym_ids} (each also as its Dense variant) and every '
                             f'{dmc.PREFIX}<domain>.')
  return observations == 'pixels'


def _check_whole_goal(env_name, spec, goal_slice):
  """Raises ConfigError unless goal_slice (None: obs_to_goal's) is the task's whole goal."""
  if goal_slice is None:
    goal_slice = relabel.obs_to_goal()
  start, end = goal_slice.resolve(spec.goal_dim)
  if (start, end) != (0, spec.goal_dim):
    raise config.ConfigError(
        f'obs_to_goal.start_index={goal_slice.start_index}, obs_to_goal.end_index='
        f'{goal_slice.end_index} select goal dimensions [{start}, {end}) of {env_name}, but '
        "with train_eval.observations='pixels' the goal is a whole frame: leave obs_to_goal "
        f'unbound (all {spec.goal_dim} dimensions).')


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


def episode_steps(tf_env):
  """The episode length (its TimeLimit's) of a TFPyEnvironment of one task in this process."""
  env = tf_env.pyenv.envs[0]
  while not isinstance(env, wrappers.TimeLimit):
    if not hasattr(env, 'wrapped_env'):
      raise ValueError(f'{type(env).__name__} has no TimeLimit: its episode length is unknown.')
    env = env.wrapped_env()
  return env.duration
