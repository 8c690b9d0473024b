"""Offline datasets in the Minari format: episodes of a task written by c_learning.collect, read back as transitions.

A dataset is a Minari dataset directory (`<root>/<dataset_id>/data`, root
$MINARI_DATASETS_PATH or ~/.minari/datasets). Its observations are the task's
full observations, concat(state, goal) (or, for a dataset of a gymnasium goal
environment written by other tools, the dict observation/achieved_goal/
desired_goal, read as their concatenation as env_name 'gym:<id>' does), so a
run may pick any goal dimensions with obs_to_goal. Nothing is ever downloaded.

A dataset of pixel observations (collected with train_eval.observations=
'pixels') observes the dict {'pixels', 'goal_pixels', 'state'} a step, each a
single uint8 frame [H, W, C]: 'pixels' is the newest frame only, whatever the
collecting env's frame_stack, since a stack repeats frames the steps before
hold already (as the replay keeps them, c_learning.frames); a run rebuilds its
own stacks, so any frame_stack reads it, at the frame size it was collected
at. Its metadata records the observation kind (OBSERVATIONS_KEY), and a run
refuses a dataset of the other kind. Actions are a Box, or for a task of
discrete actions an int a step (a Minari Discrete space).

A dataset is written whole or not at all: it is written in a staging folder
beside the others and moved into place in one rename, so a killed writer
leaves no dataset (or the one that was there). Its data files' SHA-256 are
kept in its metadata, and a dataset whose files do not match them, or that
does not read whole, is refused with one line naming it.
"""
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from typing import Optional

import gymnasium
import numpy as np

from c_learning import config

# Where the task that a dataset was collected on is recorded in its metadata.
TASK_KEY = 'c_learning_task'
# Where the kind of observations ('state' or 'pixels') is recorded; a dataset without it is 'state'.
OBSERVATIONS_KEY = 'c_learning_observations'
# Where the SHA-256 of each data file (by its path under data/) is recorded.
CHECKSUMS_KEY = 'c_learning_sha256'
# Staging folders of writers, beside the datasets; a dead writer's is removed by the next.
STAGING_PREFIX = '.c_learning-writing-'
_METADATA_FILE = 'metadata.json'
_WRITE_AGAIN = '; write it again with python -m c_learning.collect.'
_GOAL_KEYS = ('observation', 'achieved_goal', 'desired_goal')
_PIXEL_KEYS = ('pixels', 'goal_pixels', 'state')  # c_learning.frames' keys


@dataclasses.dataclass(frozen=True)
class Transitions:
  """A dataset's episodes as transitions in order: arrays [N, ...] and each episode's length.

  Observations are flat (a pixel dataset's 'state'); a pixel dataset also has
  `frames`, each episode's T + 1 newest frames back to back [N + E, H, W, C],
  and `goal_frames`, each episode's goal frame [E, H, W, C].
  """
  observations: np.ndarray
  actions: np.ndarray
  next_observations: np.ndarray
  episode_lengths: np.ndarray
  frames: Optional[np.ndarray] = None
  goal_frames: Optional[np.ndarray] = None

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

  A pixel dataset's observations are a dict of 'pixels' (the newest frame),
  'goal_pixels' and 'state', each [T+1, ...]. Integer actions [T] are
  discrete: a Discrete space of action_low..action_high.

  Returns the dataset's directory. Raises config.ConfigError if it exists.
  """
  root = datasets_root()
  final = os.path.join(root, dataset_id)
  if os.path.exists(final):
    raise config.ConfigError(f'dataset {dataset_id!r} already exists in {root}: '
                             'choose another id (or version, -v1) or delete it.')
  _remove_dead_writers_staging(root)
  # On the datasets' own disk, so that one rename publishes the dataset.
  staging = tempfile.mkdtemp(prefix=f'{STAGING_PREFIX}{os.getpid()}-', dir=root)
  try:
    with _datasets_root_set_to(staging):
      _write_minari(dataset_id, episodes, env_name, action_low, action_high, description,
                    algorithm_name)
    _publish(staging, root, dataset_id)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return final


def _write_minari(dataset_id, episodes, env_name, action_low, action_high, description,
                  algorithm_name):
  """Writes the dataset under the current datasets_root(), with its task and checksums."""
  import minari  # pylint: disable=g-import-not-at-top
  from minari.data_collector import episode_buffer  # pylint: disable=g-import-not-at-top
  observation_space = _observation_space(episodes[0][0])
  action_space = _action_space(episodes[0][1], action_low, action_high)
  buffers = []
  for index, (observations, actions, rewards) in enumerate(episodes):
    steps = len(actions)
    buffers.append(episode_buffer.EpisodeBuffer(
        id=index, observations=_as_space(observation_space, observations),
        actions=np.asarray(actions, action_space.dtype), rewards=np.asarray(rewards, np.float64),
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
  data_dir = str(dataset.storage.data_path)
  kind = 'pixels' if isinstance(observation_space, gymnasium.spaces.Dict) else 'state'
  dataset.storage.update_metadata({TASK_KEY: env_name, OBSERVATIONS_KEY: kind,
                                   CHECKSUMS_KEY: _checksums(data_dir)})


def _observation_space(observations):
  """The space of an episode's observations: a flat float Box, or a pixel dict of uint8 frames and a state."""
  if not isinstance(observations, dict):
    return gymnasium.spaces.Box(-np.inf, np.inf, (np.shape(observations)[1],), np.float32)
  frame = np.shape(observations['pixels'])[1:]
  return gymnasium.spaces.Dict({
      'pixels': gymnasium.spaces.Box(0, 255, frame, np.uint8),
      'goal_pixels': gymnasium.spaces.Box(0, 255, frame, np.uint8),
      'state': gymnasium.spaces.Box(-np.inf, np.inf, (np.shape(observations['state'])[1],),
                                    np.float32)})


def _as_space(space, observations):
  """An episode's observations in the dtypes of `space`."""
  if isinstance(space, gymnasium.spaces.Dict):
    return {key: np.asarray(observations[key], space[key].dtype) for key in _PIXEL_KEYS}
  return np.asarray(observations, space.dtype)


def _action_space(actions, low, high):
  """A Discrete space of low..high for integer actions, else a float Box of their width."""
  if np.issubdtype(np.asarray(actions).dtype, np.integer):
    return gymnasium.spaces.Discrete(int(high) - int(low) + 1, start=int(low))
  return gymnasium.spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32),
                              (len(actions[0]),), np.float32)


def _checksums(data_dir):
  """{path under data_dir: SHA-256} of every file there but the metadata."""
  sums = {}
  for folder, _, names in os.walk(data_dir):
    for name in sorted(names):
      path = os.path.join(folder, name)
      relative = os.path.relpath(path, data_dir)
      if relative != _METADATA_FILE:
        sums[relative] = _sha256(path)
  return sums


def _sha256(path):
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


@contextlib.contextmanager
def _datasets_root_set_to(path):
  """Minari reads its root from $MINARI_DATASETS_PATH at each call: point it at `path` for a while."""
  previous = os.environ.get('MINARI_DATASETS_PATH')
  os.environ['MINARI_DATASETS_PATH'] = path
  try:
    yield
  finally:
    if previous is None:
      del os.environ['MINARI_DATASETS_PATH']
    else:
      os.environ['MINARI_DATASETS_PATH'] = previous


def _publish(staging, root, dataset_id):
  """Moves staging/<dataset_id> to root/<dataset_id> in one rename, its namespaces' metadata first."""
  parts = dataset_id.split('/')
  for depth in range(1, len(parts)):  # each namespace folder, with Minari's metadata file
    namespace = os.path.join(*parts[:depth])
    os.makedirs(os.path.join(root, namespace), exist_ok=True)
    for name in os.listdir(os.path.join(staging, namespace)):
      source = os.path.join(staging, namespace, name)
      target = os.path.join(root, namespace, name)
      if os.path.isfile(source) and not os.path.exists(target):
        shutil.copyfile(source, target + '.tmp')
        os.replace(target + '.tmp', target)
  # Fails (and the staging folder goes) if a dataset of that id appeared meanwhile.
  os.rename(os.path.join(staging, dataset_id), os.path.join(root, dataset_id))


def _remove_dead_writers_staging(root):
  """Removes the staging folders of writers that no longer run (killed mid-write)."""
  for name in os.listdir(root):
    if not name.startswith(STAGING_PREFIX):
      continue
    pid = name[len(STAGING_PREFIX):].split('-', 1)[0]
    if pid.isdigit() and not _process_exists(int(pid)):
      shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _process_exists(pid):
  try:
    os.kill(pid, 0)  # PermissionError: it exists, as another user's
  except ProcessLookupError:
    return False
  except PermissionError:
    pass
  return True


def read(dataset, env_name, observation_width, action_spec, frame_shape=None):
  """The transitions of `dataset` (an id or a directory), checked against the task's specs.

  Args:
    dataset: a dataset id under datasets_root() or a dataset directory.
    env_name: the run's task; a dataset that records another task is refused.
    observation_width: the task's full observation width, state_dim + goal_dim
      (a pixel dataset's 'state').
    action_spec: the task's bounded action spec (a float vector, or an int
      scalar for discrete actions), or an int n for float actions of width n.
    frame_shape: (H, W, C) of a pixel run's frames; None for a run that observes the state.

  Raises:
    config.ConfigError: one line naming the dataset and what does not match.
  """
  data_dir = path_of(dataset)
  name = f'train_eval.dataset={dataset!r}'
  try:
    return _read_checked(data_dir, name, env_name, observation_width, action_spec, frame_shape)
  except config.ConfigError:
    raise
  except (OSError, KeyError, ValueError) as error:
    # h5py and pyarrow raise these for truncated or garbled files, json for a torn metadata.
    raise config.ConfigError(
        f'{name} at {data_dir} is damaged and cannot be read ({type(error).__name__}: '
        f'{config.first_line(error)}){_WRITE_AGAIN}') from error


def _damaged(name, data_dir, why):
  """The one-line error for a dataset that reads but is not what its writer wrote."""
  return config.ConfigError(f'{name} at {data_dir} is damaged: {why}{_WRITE_AGAIN}')


def _read_checked(data_dir, name, env_name, observation_width, action_spec, frame_shape):
  """read()'s work: checksums, then the episodes, checked against the task and the metadata."""
  import minari  # pylint: disable=g-import-not-at-top
  _check_files(data_dir, name)
  loaded = minari.MinariDataset(data_dir)
  recorded_task = loaded.storage.metadata.get(TASK_KEY)
  if recorded_task is not None and recorded_task != env_name:
    raise config.ConfigError(f'{name} was collected on {recorded_task!r}, not on '
                             f'train_eval.env_name={env_name!r}.')
  pixels = _check_observation_kind(loaded, name, frame_shape)
  flatten = _flattener(loaded.observation_space, name)
  read_actions = _action_reader(loaded.action_space, action_spec, name, env_name)
  observations, actions, next_observations, lengths = [], [], [], []
  frames, goal_frames = [], []
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
    actions.append(read_actions(episode.actions, steps))
    lengths.append(steps)
    if pixels:
      frames.append(np.asarray(episode.observations['pixels'], np.uint8))
      goal_frames.append(np.asarray(episode.observations['goal_pixels'][0], np.uint8))
  if not lengths:
    raise config.ConfigError(f'{name} holds no transitions.')
  total_steps = loaded.storage.metadata.get('total_steps')
  if total_steps is not None and int(total_steps) != sum(lengths):
    raise _damaged(name, data_dir, f'its metadata counts {total_steps} steps, its episodes '
                                   f'hold {sum(lengths)}')
  return Transitions(np.concatenate(observations), np.concatenate(actions),
                     np.concatenate(next_observations), np.asarray(lengths, np.int64),
                     np.concatenate(frames) if pixels else None,
                     np.stack(goal_frames) if pixels else None)


def _check_observation_kind(loaded, name, frame_shape):
  """Whether the dataset is of pixels; refuses one of the other kind than the run's, or of other frames."""
  kind = loaded.storage.metadata.get(OBSERVATIONS_KEY, 'state')
  wanted = 'state' if frame_shape is None else 'pixels'
  if kind != wanted:
    raise config.ConfigError(f'{name} holds {kind} observations; the run observes {wanted} '
                             f'(train_eval.observations={wanted!r}).')
  if kind == 'pixels':
    stored = tuple(loaded.observation_space['pixels'].shape)
    if stored != tuple(frame_shape):
      raise config.ConfigError(
          f'{name}: its frames are {"x".join(map(str, stored))} (height x width x channels); '
          f'the run\'s pixel_observations make {"x".join(map(str, frame_shape))}.')
  return kind == 'pixels'


def _action_reader(space, action_spec, name, env_name):
  """episode actions, steps -> [steps, A] float32 (or [steps] int64 for discrete actions); refuses other actions than the task's."""
  expected = _expected_action_space(action_spec)
  discrete = isinstance(expected, gymnasium.spaces.Discrete)
  if not isinstance(space, type(expected)) or (
      discrete and (space.n, space.start) != (expected.n, expected.start)):
    raise config.ConfigError(f'{name}: its actions are {_describe(space)}; {env_name!r} '
                             f'takes {_describe(expected)}.')
  if discrete:
    return lambda actions, steps: np.asarray(actions, np.int64).reshape(steps)
  if space.shape != expected.shape:
    raise config.ConfigError(f'{name}: its actions have shape {space.shape}; '
                             f'{env_name!r} takes {expected.shape}.')
  return lambda actions, steps: np.asarray(actions, np.float32).reshape(steps, *expected.shape)


def _expected_action_space(action_spec):
  """The Minari action space that a run of this action spec reads (an int n: a Box of width n)."""
  if isinstance(action_spec, (int, np.integer)):
    return gymnasium.spaces.Box(-np.inf, np.inf, (int(action_spec),), np.float32)
  # A TensorSpec's dtype is a tf.DType, an ArraySpec's a numpy one.
  dtype = np.dtype(getattr(action_spec.dtype, 'as_numpy_dtype', action_spec.dtype))
  if np.issubdtype(dtype, np.integer):
    low, high = int(np.min(action_spec.minimum)), int(np.max(action_spec.maximum))
    return gymnasium.spaces.Discrete(high - low + 1, start=low)
  return gymnasium.spaces.Box(-np.inf, np.inf, tuple(action_spec.shape), np.float32)


def _describe(space):
  """An action space in a few words, for an error line."""
  if isinstance(space, gymnasium.spaces.Discrete):
    return f'{space.n} discrete values from {space.start}'
  return f'floats of shape {getattr(space, "shape", None)}'


def _check_files(data_dir, name):
  """Refuses a dataset whose data files differ from the SHA-256 its writer recorded (if it did)."""
  with open(os.path.join(data_dir, _METADATA_FILE), encoding='utf-8') as f:
    recorded = json.load(f).get(CHECKSUMS_KEY)
  if not recorded:
    return  # written by another tool: its files are checked by reading them
  for relative, expected in sorted(recorded.items()):
    path = os.path.join(data_dir, relative)
    if not os.path.isfile(path):
      raise _damaged(name, data_dir, f'{relative} is missing')
    if _sha256(path) != expected:
      raise _damaged(name, data_dir, f'{relative} does not match the SHA-256 its writer recorded')


def _flattener(space, name):
  """observations of `space` [T+1, ...] -> float32 [T+1, D] (a pixel dataset's: its states)."""
  if isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 1:
    return lambda observations: np.asarray(observations, np.float32)
  if isinstance(space, gymnasium.spaces.Dict) and set(space.keys()) == set(_PIXEL_KEYS):
    return lambda observations: np.asarray(observations['state'], np.float32)
  if isinstance(space, gymnasium.spaces.Dict) and set(_GOAL_KEYS) <= set(space.keys()):
    return lambda observations: np.concatenate(
        [np.asarray(observations[key], np.float32) for key in _GOAL_KEYS], axis=1)
  raise config.ConfigError(f'{name}: its observation space {space} is neither a flat Box nor a '
                           f'dict with {", ".join(_GOAL_KEYS)}.')
