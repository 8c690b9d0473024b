"""Offline training: Minari datasets written by c_learning.collect and read back by train_eval's offline loop."""
import json
import os

import gymnasium
import numpy as np
import pytest
from tf_agents.specs import array_spec

from c_learning import collect
from c_learning import config
from c_learning import datasets
from c_learning import records
from c_learning.envs import point_mass
from tests import train_eval_helpers as helpers

pytestmark = pytest.mark.usefixtures('clear_gin')

POINT_MASS = ['train_eval.env_name = "point_mass"',
              f'train_eval.success_threshold = {point_mass.SUCCESS_THRESHOLD}']
OFFLINE = ['train_eval.loop = "offline"', 'train_eval.initial_collect_steps = 0',
           'train_eval.collect_steps_per_iteration = 0']
GCSL = ['train_eval.agent_name = "gcsl"', 'goal_fn.relabel_next_prob = 0.0',
        'goal_fn.relabel_future_prob = 1.0', 'train_eval.future_offsets = "uniform"']


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path, monkeypatch):
  """Datasets of the test go under its own folder, never ~/.minari."""
  path = tmp_path / 'datasets'
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(path))
  return path


def _episodes(count=3, length=4, width=4, seed=0):
  rng = np.random.default_rng(seed)
  return [(rng.random((length + 1, width), np.float32), rng.uniform(-1, 1, (length, 2)),
           np.zeros(length)) for _ in range(count)]


def test_a_dataset_reads_back_as_the_transitions_written():
  episodes = _episodes()
  datasets.write('c_learning/rt-v0', episodes, 'point_mass', [-1, -1], [1, 1])
  data = datasets.read('c_learning/rt-v0', 'point_mass', 4, 2)
  assert data.size == 12 and list(data.episode_lengths) == [4, 4, 4]
  np.testing.assert_allclose(data.observations[4:8], episodes[1][0][:-1])
  np.testing.assert_allclose(data.next_observations[4:8], episodes[1][0][1:])
  np.testing.assert_allclose(data.actions[8:], episodes[2][1], rtol=1e-6)
  # A dataset directory works as well as an id.
  directory = os.path.join(datasets.datasets_root(), 'c_learning/rt-v0')
  assert datasets.read(directory, 'point_mass', 4, 2).size == 12


@pytest.mark.parametrize('env_name, width, action_dim, message', [
    ('sawyer_reach', 4, 2, "was collected on 'point_mass', not on train_eval.env_name="
                           "'sawyer_reach'"),
    ('point_mass', 6, 2, 'its observations are 4 wide; \'point_mass\' observes 6'),
    ('point_mass', 4, 3, "its actions have shape (2,); 'point_mass' takes (3,)"),
])
def test_a_dataset_that_does_not_fit_the_task_is_one_line(env_name, width, action_dim, message):
  datasets.write('c_learning/fit-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  with pytest.raises(config.ConfigError) as error:
    datasets.read('c_learning/fit-v0', env_name, width, action_dim)
  assert message in str(error.value) and '\n' not in str(error.value)
  assert "train_eval.dataset='c_learning/fit-v0'" in str(error.value)


def test_a_missing_dataset_is_one_line():
  with pytest.raises(config.ConfigError, match="train_eval.dataset='c_learning/none-v0': no "
                     'Minari dataset there .* write one with python -m c_learning.collect'):
    datasets.read('c_learning/none-v0', 'point_mass', 4, 2)


def test_an_existing_dataset_is_never_overwritten():
  datasets.write('c_learning/once-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  with pytest.raises(config.ConfigError, match="dataset 'c_learning/once-v0' already exists"):
    datasets.write('c_learning/once-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])


def test_a_dict_goal_dataset_reads_as_observation_achieved_and_desired_goal():
  """A dataset of a gymnasium goal env, as other tools write it, reads as env_name 'gym:<id>' sees it."""
  import minari  # pylint: disable=g-import-not-at-top
  from minari.data_collector import episode_buffer  # pylint: disable=g-import-not-at-top
  box = lambda n: gymnasium.spaces.Box(-np.inf, np.inf, (n,), np.float64)
  space = gymnasium.spaces.Dict({'observation': box(3), 'achieved_goal': box(2),
                                 'desired_goal': box(2)})
  rng = np.random.default_rng(0)
  observations = {key: rng.random((5, space[key].shape[0])) for key in space.keys()}
  buffer = episode_buffer.EpisodeBuffer(
      id=0, observations=observations, actions=rng.uniform(-1, 1, (4, 2)),
      rewards=np.zeros(4), terminations=np.zeros(4, bool),
      truncations=np.array([False, False, False, True]), infos={})
  minari.create_dataset_from_buffers('other/goals-v0', [buffer], observation_space=space,
                                     action_space=gymnasium.spaces.Box(-1, 1, (2,)))
  data = datasets.read('other/goals-v0', 'gym:AnyGoalEnv', 7, 2)
  expected = np.concatenate([observations['observation'], observations['achieved_goal'],
                             observations['desired_goal']], axis=1)
  np.testing.assert_allclose(data.observations, expected[:-1], rtol=1e-6)


def test_collect_writes_random_episodes_of_the_task_with_their_sparse_rewards():
  path = collect.collect('c_learning/point_mass-random-v0', episodes=4, env_name='point_mass',
                         seed=3)
  import minari  # pylint: disable=g-import-not-at-top
  dataset = minari.MinariDataset(os.path.join(path, 'data'))
  assert dataset.total_episodes == 4 and dataset.total_steps == 200  # 50-step episodes
  for episode in dataset.iterate_episodes():
    distances = np.linalg.norm(episode.observations[1:, :2] - episode.observations[1:, 2:],
                               axis=1)
    np.testing.assert_array_equal(episode.rewards, distances < point_mass.SUCCESS_THRESHOLD)
    assert np.all(np.abs(episode.actions) <= 1.0)
  assert dataset.storage.metadata[datasets.TASK_KEY] == 'point_mass'


@pytest.mark.parametrize('arguments, message', [
    (dict(episodes=0), '--episodes=0: must be a positive integer'),
    (dict(random_prob=0.5), '--random_prob and --noise_std mix noise into a policy'),
    (dict(policy_from='/nowhere', gin_files=['x.gin']), '--gin_file with --policy_from'),
])
def test_collect_arguments_that_cannot_work_are_one_line(arguments, message):
  with pytest.raises(collect.CollectError, match=message):
    collect.collect('c_learning/bad-v0', **{'episodes': 2, 'env_name': 'point_mass',
                                             **arguments})


def _records(root):
  with open(os.path.join(root, records.FILE_NAME)) as lines:
    return [json.loads(line) for line in lines]


def test_offline_training_takes_no_env_steps_resumes_and_feeds_collect(tmp_path):
  collect.collect('c_learning/point_mass-random-v0', episodes=20, env_name='point_mass')
  dataset = ['train_eval.dataset = "c_learning/point_mass-random-v0"']
  run_dir = tmp_path / 'run'
  bindings = helpers.SMALL + POINT_MASS + OFFLINE + GCSL + dataset + [
      'train_eval.num_iterations = 200', 'train_eval.train_checkpoint_interval = 100',
      'train_eval.eval_interval = 100', 'obs_to_goal.end_index = 1']  # goals: x only
  helpers.run(run_dir, [], bindings)
  first = _records(run_dir)
  assert first[-1]['kind'] == 'end' and first[-1]['train_step'] == 200
  assert all(record['env_steps'] == 0 for record in first if 'env_steps' in record)
  assert sum(record['kind'] == 'eval' for record in first) == 3  # at 0, 100 and 200
  assert ("train_eval.dataset = 'c_learning/point_mass-random-v0'"
          in (run_dir / 'operative.gin').read_text())
  # A longer run resumes from the checkpoint and reads the dataset again.
  helpers.run(run_dir, [], bindings[:-4] + ['train_eval.num_iterations = 300',
                                            'train_eval.train_checkpoint_interval = 100',
                                            'train_eval.eval_interval = 100',
                                            'obs_to_goal.end_index = 1'])
  second = _records(run_dir)[len(first):]
  assert second[0]['kind'] == 'start' and second[0]['train_step'] == 200
  assert second[-1]['train_step'] == 300
  # Its exported policy (which sees x, y and the goal's x) collects a noisy expert dataset.
  path = collect.collect('c_learning/point_mass-expert-v0', episodes=3,
                         policy_from=str(run_dir), random_prob=0.5, noise_std=0.1)
  data = datasets.read(path, 'point_mass', 4, 2)  # full observations: both goal dimensions
  assert data.size == 150 and np.all(np.abs(data.actions) <= 1.0)


DATASET = ['train_eval.dataset = "c_learning/x-v0"']


@pytest.mark.parametrize('bindings, message', [
    (DATASET, "a dataset needs loop 'offline'"),
    (OFFLINE[:1] + OFFLINE[2:] + DATASET,  # SMALL's 300 initial steps stay
     'train_eval.initial_collect_steps=300: an offline run takes no env steps'),
    (OFFLINE, "train_eval.dataset=None with train_eval.loop='offline'"),
])
def test_offline_settings_that_do_not_fit_are_one_line(tmp_path, bindings, message):
  with pytest.raises(config.ConfigError) as error:
    helpers.run(tmp_path, [], helpers.SMALL + POINT_MASS + GCSL + bindings)
  assert message in config.first_line(error.value)


def test_a_killed_writer_leaves_no_dataset_and_the_next_write_clears_its_staging(
    datasets_dir, monkeypatch):
  def killed(*unused_args, **unused_kwargs):
    raise KeyboardInterrupt  # as a kill would, midway through Minari's write
  real_publish = datasets._publish  # pylint: disable=protected-access
  monkeypatch.setattr(datasets, '_publish', killed)
  with pytest.raises(KeyboardInterrupt):
    datasets.write('c_learning/killed-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  assert not (datasets_dir / 'c_learning' / 'killed-v0').exists()
  # A writer killed without its finally (SIGKILL) leaves its staging folder: a dead pid's.
  leftover = datasets_dir / f'{datasets.STAGING_PREFIX}999999999-x'
  (leftover / 'c_learning' / 'killed-v0').mkdir(parents=True)
  monkeypatch.setattr(datasets, '_publish', real_publish)
  datasets.write('c_learning/killed-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  assert not leftover.exists()
  assert [p.name for p in datasets_dir.iterdir()] == ['c_learning']
  assert datasets.read('c_learning/killed-v0', 'point_mass', 4, 2).size == 12


@pytest.mark.parametrize('damage, message', [
    ('truncate', 'does not match the SHA-256 its writer recorded'),
    ('remove', 'is missing'),
    ('metadata', 'is damaged and cannot be read (JSONDecodeError: '),
])
def test_a_damaged_dataset_is_refused_with_one_line_naming_it(datasets_dir, damage, message):
  path = datasets.write('c_learning/damaged-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  data_dir = os.path.join(path, 'data')
  data_files = [f for f in os.listdir(data_dir) if f != 'metadata.json']
  assert data_files
  target = os.path.join(data_dir, data_files[0])
  if damage == 'truncate':
    os.truncate(target, os.path.getsize(target) // 2)
  elif damage == 'remove':
    os.remove(target)
  else:
    metadata = os.path.join(data_dir, 'metadata.json')
    os.truncate(metadata, os.path.getsize(metadata) // 2)
  with pytest.raises(config.ConfigError) as raised:
    datasets.read('c_learning/damaged-v0', 'point_mass', 4, 2)
  line = str(raised.value)
  assert '\n' not in line
  assert line.startswith(f"train_eval.dataset='c_learning/damaged-v0' at {data_dir} is damaged")
  assert message in line


def test_a_dataset_without_checksums_is_still_read_and_its_step_count_checked(datasets_dir):
  """Datasets of other tools have no checksums: a short file is found by reading it."""
  path = datasets.write('c_learning/other-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  metadata_path = os.path.join(path, 'data', 'metadata.json')
  with open(metadata_path) as f:
    metadata = json.load(f)
  del metadata[datasets.CHECKSUMS_KEY]
  metadata['total_steps'] = 13
  with open(metadata_path, 'w') as f:
    json.dump(metadata, f)
  with pytest.raises(config.ConfigError, match='its metadata counts 13 steps, its episodes '
                                               'hold 12'):
    datasets.read('c_learning/other-v0', 'point_mass', 4, 2)


def _discrete_episodes(count=2, length=3, actions=4):
  rng = np.random.default_rng(0)
  return [(rng.random((length + 1, 4), np.float32), rng.integers(0, actions, length),
           np.zeros(length)) for _ in range(count)]


def test_a_dataset_of_discrete_actions_reads_back_for_a_task_of_as_many():
  episodes = _discrete_episodes()
  datasets.write('c_learning/discrete-v0', episodes, 'point_mass', 0, 3)
  spec = array_spec.BoundedArraySpec((), np.int32, minimum=0, maximum=3)
  data = datasets.read('c_learning/discrete-v0', 'point_mass', 4, spec)
  np.testing.assert_array_equal(data.actions, np.concatenate([e[1] for e in episodes]))
  assert np.issubdtype(data.actions.dtype, np.integer)
  for other, message in [(array_spec.BoundedArraySpec((), np.int32, minimum=0, maximum=5),
                          "its actions are 4 discrete values from 0; 'point_mass' takes 6 "
                          'discrete values from 0'),
                         (2, "its actions are 4 discrete values from 0; 'point_mass' takes "
                             'floats of shape (2,)')]:
    with pytest.raises(config.ConfigError) as error:
      datasets.read('c_learning/discrete-v0', 'point_mass', 4, other)
    assert message in str(error.value) and '\n' not in str(error.value)


def test_a_dataset_of_float_actions_is_refused_by_a_task_of_discrete_ones():
  datasets.write('c_learning/box-v0', _episodes(), 'point_mass', [-1, -1], [1, 1])
  spec = array_spec.BoundedArraySpec((), np.int32, minimum=0, maximum=3)
  with pytest.raises(config.ConfigError, match="its actions are floats of shape \\(2,\\); "
                                               "'point_mass' takes 4 discrete values from 0"):
    datasets.read('c_learning/box-v0', 'point_mass', 4, spec)


def test_collect_from_a_folder_that_is_no_run_is_one_line(tmp_path):
  with pytest.raises(collect.CollectError, match='--policy_from=.*: no operative.gin there'):
    collect.collect('c_learning/bad-v0', episodes=1, policy_from=str(tmp_path))
