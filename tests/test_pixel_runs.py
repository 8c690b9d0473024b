"""train_eval from pixels: a real Sawyer pixel run trains, evaluates on the state, exports, checkpoints its frames and resumes."""
import ctypes.util
import json

import numpy as np
import pytest
import tensorflow as tf

from c_learning import config
from tests import train_eval_helpers as helpers

pytestmark = [
    pytest.mark.usefixtures('clear_gin'),
    pytest.mark.skipif(ctypes.util.find_library('OSMesa') is None,
                       reason='headless rendering needs libOSMesa (apt-get install libosmesa6)'),
]

PIXEL_RUN = helpers.SMALL + [
    "train_eval.observations = 'pixels'",
    'obs_to_goal.end_index = None',
    'pixel_observations.height = 24',
    'pixel_observations.width = 24',
    'pixel_observations.frame_stack = 2',
    'pixel_encoder.feature_dim = 8',
    'load_sawyer_reach.max_episode_steps = 10',
    'train_eval.initial_collect_steps = 30',
    'train_eval.batch_size = 8',
    'train_eval.num_eval_episodes = 1',
    'train_eval.eval_interval = 10',
    'train_eval.train_checkpoint_interval = 10',
    'train_eval.log_interval = 10',
]


def _records(root_dir):
  return [json.loads(line) for line in (root_dir / 'records.jsonl').read_text().splitlines()]


@pytest.mark.slow  # about 45 s
def test_a_pixel_run_trains_evaluates_and_resumes_with_its_frames(tmp_path):
  bindings = PIXEL_RUN + ['train_eval.num_iterations = 10']
  result = helpers.run(tmp_path, ['gin/sawyer_reach.gin'], bindings)
  assert 0.0 <= result['SuccessRate'] <= 1.0 and np.isfinite(result['FinalDistance'])
  checkpoint = tf.train.latest_checkpoint(str(tmp_path / 'train' / 'checkpoints'))
  saved = dict(tf.train.list_variables(checkpoint))
  # 30 random steps and 10 more: the rows in use, each with one 24x24x3 frame.
  row_frames, = [shape for name, shape in saved.items() if 'row_frames' in name]
  assert row_frames == [1, 40, 24, 24, 3]
  loaded = tf.saved_model.load(str(tmp_path / 'policy'))
  assert loaded is not None
  helpers.run(tmp_path, ['gin/sawyer_reach.gin'], PIXEL_RUN + ['train_eval.num_iterations = 20'])
  start, = [r for r in _records(tmp_path) if r['kind'] == 'start' and r['train_step'] > 0]
  assert start['train_step'] == 10 and start['env_steps'] == 40
  end = [r for r in _records(tmp_path) if r['kind'] == 'end'][-1]
  assert end['train_step'] == 20 and end['env_steps'] == 50


def test_a_pixel_config_with_a_partial_goal_is_one_line(tmp_path):
  with pytest.raises(config.ConfigError, match='the goal is a whole frame'):
    helpers.run(tmp_path, ['gin/sawyer_reach.gin'],
                PIXEL_RUN + ['obs_to_goal.end_index = 3', 'train_eval.num_iterations = 1'])


def test_a_frame_size_the_encoder_cannot_take_is_one_line(tmp_path):
  with pytest.raises(config.ConfigError, match=r"torso='conv' cannot take 16x16 frames"):
    helpers.run(tmp_path, ['gin/sawyer_reach.gin'], PIXEL_RUN + [
        'pixel_observations.height = 16', 'pixel_observations.width = 16',
        'train_eval.num_iterations = 1'])
