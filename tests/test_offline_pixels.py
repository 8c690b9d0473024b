"""Offline datasets of pixel observations: collect writes the newest frames, a pixel run reads them into its replay."""
import ctypes.util
import json
import os

import numpy as np
import pytest

from c_learning import collect
from c_learning import config
from c_learning import datasets
from tests import train_eval_helpers as helpers

pytestmark = [
    pytest.mark.usefixtures('clear_gin'),
    pytest.mark.skipif(ctypes.util.find_library('OSMesa') is None,
                       reason='headless rendering needs libOSMesa (apt-get install libosmesa6)'),
]

SIZE = 24  # the smallest frames the conv encoder takes
PIXELS = ["train_eval.observations = 'pixels'", 'obs_to_goal.end_index = None',
          f'pixel_observations.height = {SIZE}', f'pixel_observations.width = {SIZE}',
          'load_sawyer_reach.max_episode_steps = 10']
STATE_WIDTH = 12  # sawyer_reach: state and goal, 6 each (hand and puck)


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path, monkeypatch):
  """Datasets of the test go under its own folder, never ~/.minari."""
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))


def _collect_pixels(dataset_id, episodes=3, frame_stack=2):
  return collect.collect(dataset_id, episodes=episodes, env_name='sawyer_reach',
                         gin_files=['gin/sawyer_reach.gin'],
                         gin_bindings=PIXELS + [f'pixel_observations.frame_stack = {frame_stack}'])


def test_collect_keeps_the_newest_frame_the_goal_frame_and_the_state_of_each_step():
  path = _collect_pixels('c_learning/reach-pixels-v0')
  import minari  # pylint: disable=g-import-not-at-top
  dataset = minari.MinariDataset(os.path.join(path, 'data'))
  assert dataset.storage.metadata[datasets.OBSERVATIONS_KEY] == 'pixels'
  episode = next(dataset.iterate_episodes())
  observations = episode.observations
  assert observations['pixels'].shape == (11, SIZE, SIZE, 3)  # one frame a step, not frame_stack
  assert observations['pixels'].dtype == np.uint8
  assert np.all(observations['goal_pixels'] == observations['goal_pixels'][0])
  assert observations['state'].shape == (11, STATE_WIDTH)
  assert not np.array_equal(observations['pixels'][0], observations['pixels'][-1])  # the hand moved
  data = datasets.read(path, 'sawyer_reach', STATE_WIDTH, 4, frame_shape=(SIZE, SIZE, 3))
  assert data.size == 30 and data.frames.shape == (33, SIZE, SIZE, 3)
  assert data.goal_frames.shape == (3, SIZE, SIZE, 3)
  np.testing.assert_array_equal(data.frames[:11], observations['pixels'])
  np.testing.assert_allclose(data.observations[:10], observations['state'][:-1])


def test_a_run_refuses_a_dataset_of_other_observations_with_one_line():
  pixel_path = _collect_pixels('c_learning/reach-pixels-v0', episodes=1)
  state_path = collect.collect('c_learning/reach-state-v0', episodes=1, env_name='sawyer_reach',
                               gin_bindings=['load_sawyer_reach.max_episode_steps = 10'])
  for path, frame_shape, message in [
      (pixel_path, None, 'holds pixels observations; the run observes state '
                         "(train_eval.observations='state')"),
      (state_path, (SIZE, SIZE, 3), 'holds state observations; the run observes pixels'),
      (pixel_path, (48, 48, 3), f"its frames are {SIZE}x{SIZE}x3 (height x width x channels); "
                                "the run's pixel_observations make 48x48x3"),
  ]:
    with pytest.raises(config.ConfigError) as error:
      datasets.read(path, 'sawyer_reach', STATE_WIDTH, 4, frame_shape=frame_shape)
    assert message in str(error.value) and '\n' not in str(error.value)


@pytest.mark.slow  # about 40 s
def test_a_pixel_run_trains_offline_on_a_pixel_dataset_of_another_frame_stack(tmp_path):
  _collect_pixels('c_learning/reach-pixels-v0', episodes=4, frame_stack=1)
  bindings = helpers.SMALL + PIXELS + [
      'pixel_observations.frame_stack = 2', 'pixel_encoder.feature_dim = 8',
      'train_eval.dataset = "c_learning/reach-pixels-v0"', 'train_eval.loop = "offline"',
      'train_eval.initial_collect_steps = 0', 'train_eval.collect_steps_per_iteration = 0',
      'train_eval.batch_size = 8', 'train_eval.num_eval_episodes = 1',
      'train_eval.num_iterations = 10', 'train_eval.eval_interval = 10',
      'train_eval.train_checkpoint_interval = 10', 'train_eval.log_interval = 10']
  result = helpers.run(tmp_path / 'run', ['gin/sawyer_reach.gin'], bindings)
  assert np.isfinite(result['FinalDistance'])
  records = [json.loads(line) for line in (tmp_path / 'run' / 'records.jsonl').read_text()
             .splitlines()]
  assert records[-1]['kind'] == 'end' and records[-1]['train_step'] == 10
  assert all(record['env_steps'] == 0 for record in records if 'env_steps' in record)
