"""Offline datasets in the Minari format: episodes of a task written by c_learning.collect, read back as transitions.

A dataset is a Minari dataset directory (`<root>/<dataset_id>/data`, root
$MINARI_DATASETS_PATH or ~/.minari/datasets). Its observations are the task's
full observations, concat(state, goal) (or, for a dataset of a gymnasium goal
environment written by other tools, the dict observation/achieved_goal/
desired_goal, read as their concatenation as env_name 'gym:<id>' does), so a
run may pick any goal dimensions with obs_to_goal. Nothing is ever downloaded.
"""
import dataclasses
import os
import warnings

import gymnasium
import numpy as np

from c_learning import config

# Where the task that a dataset was collected on is recorded in its metadata.
TASK_KEY = 'c_learning_task'
_GOAL_KEYS = ('observation', 'achieved_goal', 'desired_goal')


@dataclasses.dataclass(frozen=True)
class Transitions:
  """A dataset's episodes as transitions in order: arrays [N, ...] and each episode's length."""
  observations: np.ndarray
  actions: np.ndarray
  next_observations: np.ndarray
  episode_lengths: np.ndarray

  @property
  def size(self):
    return len(self.observations)


def datasets_root():
  """Where dataset ids live: $MINARI_DATASETS_PATH, else ~/.minari/datasets (Minari's own rule)."""
  from minari.storage import datasets_root_dir  # pylint: disable=g-import-not-at-top
  return str(datasets_root_dir.get_dataset_path())


def path_of(dataset):
  """The Minari data directory of `dataset`: a dataset id under datasets_root(), or a dataset's directory."""
  for candidate in (os.path.expanduser(str(dataset)), os.path.join(datasets_root(), str(dataset))):
    if os.path.isfile(os.path.join(candidate, 'data', 'metadata.json')):
      return os.path.join(candidate, 'data')
  raise config.ConfigError(
      f'train_eval.dataset={dataset!r}: no Minari dataset there (looked for '
      f'{os.path.join(str(dataset), "data", "metadata.json")} and under {datasets_root()}); '
      'write one with python -m c_learning.collect.')


def write(dataset_id, episodes, env_name, action_low, action_high, description='',
          algorithm_name=None):
  """Writes `episodes`, each (observations [T+1, D], actions [T, A], rewards [T]), as Minari dataset `dataset_id`.

  Returns the dataset's directory. Raises config.ConfigError if it exists.
  """
  import minari  # pylint: disable=g-import-not-at-top
  from minari.data_collector import episode_buffer  # pylint: disable=g-import-not-at-top
  if os.path.exists(os.path.join(datasets_root(), dataset_id)):
    raise config.ConfigError(f'dataset {dataset_id!r} already exists in {datasets_root()}: '
                             'choose another id (or version, -v1) or delete it.')
  width = episodes[0][0].shape[1]
  observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (width,), np.float32)
  action_space = gymnasium.spaces.Box(np.asarray(action_low, np.float32),
                                      np.asarray(action_high, np.float32),
                                      (len(episodes[0][1][0]),), np.float32)
  buffers = []
  for index, (observations, actions, rewards) in enumerate(episodes):
    steps = len(actions)
    buffers.append(episode_buffer.EpisodeBuffer(
        id=index, observations=np.asarray(observations, np.float32),
        actions=np.asarray(actions, np.float32), rewards=np.asarray(rewards, np.float64),
        terminations=np.zeros(steps, bool),
        # Episodes end at the task's time limit.
        truncations=np.arange(1, steps + 1) == steps, infos={}))
  with warnings.catch_warnings():
    # Minari recommends an author, an e-mail, a code link and a registered gymnasium
    # env; a local dataset of a package task has none of them.
    warnings.filterwarnings('ignore', message='.*(is set to None|env_spec is None)',
                            category=UserWarning)
    dataset = minari.create_dataset_from_buffers(
        dataset_id, buffers, observation_space=observation_space, action_space=action_space,
        algorithm_name=algorithm_name, description=description or None)
  dataset.storage.update_metadata({TASK_KEY: env_name})
  return os.path.dirname(str(dataset.storage.data_path))


def read(dataset, env_name, observation_width, action_dim):
  """The transitions of `dataset` (an id or a directory), checked against the task's specs.

  Args:
    dataset: a dataset id under datasets_root() or a dataset directory.
    env_name: the run's task; a dataset that records another task is refused.
    observation_width: the task's full observation width, state_dim + goal_dim.
    action_dim: the task's action width.

  Raises:
    config.ConfigError: one line naming the dataset and what does not match.
  """
  import minari  # pylint: disable=g-import-not-at-top
  data_dir = path_of(dataset)
  loaded = minari.MinariDataset(data_dir)
  name = f'train_eval.dataset={dataset!r}'
  recorded_task = loaded.storage.metadata.get(TASK_KEY)
  if recorded_task is not None and recorded_task != env_name:
    raise config.ConfigError(f'{name} was collected on {recorded_task!r}, not on '
                             f'train_eval.env_name={env_name!r}.')
  flatten = _flattener(loaded.observation_space, name)
  action_shape = loaded.action_space.shape
  if action_shape != (action_dim,):
    raise config.ConfigError(f'{name}: its actions have shape {action_shape}; '
                             f'{env_name!r} takes ({action_dim},).')
  observations, actions, next_observations, lengths = [], [], [], []
  for episode in loaded.iterate_episodes():
    flat = flatten(episode.observations)
    if flat.shape[1] != observation_width:
      raise config.ConfigError(
          f'{name}: its observations are {flat.shape[1]} wide; {env_name!r} observes '
          f'{observation_width} (state and goal).')
    steps = len(episode.actions)
    if steps == 0:
      continue
    observations.append(flat[:-1])
    next_observations.append(flat[1:])
    actions.append(np.asarray(episode.actions, np.float32).reshape(steps, action_dim))
    lengths.append(steps)
  if not lengths:
    raise config.ConfigError(f'{name} holds no transitions.')
  return Transitions(np.concatenate(observations), np.concatenate(actions),
                     np.concatenate(next_observations), np.asarray(lengths, np.int64))


def _flattener(space, name):
  """observations of `space` [T+1, ...] -> float32 [T+1, D]."""
  if isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 1:
    return lambda observations: np.asarray(observations, np.float32)
  if isinstance(space, gymnasium.spaces.Dict) and set(_GOAL_KEYS) <= set(space.keys()):
    return lambda observations: np.concatenate(
        [np.asarray(observations[key], np.float32) for key in _GOAL_KEYS], axis=1)
  raise config.ConfigError(f'{name}: its observation space {space} is neither a flat Box nor a '
                           f'dict with {", ".join(_GOAL_KEYS)}.')
