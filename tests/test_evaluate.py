"""Tests of c_learning.evaluate and the policy export: same metrics from both sources, videos, errors."""
import ctypes.util
import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from c_learning import evaluate
from c_learning import video
from tests import benchmark_scripts
from tests import train_eval_helpers as helpers

POINT_MASS = helpers.SMALL + [
    'train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
    'goal_fn.relabel_future_prob = 0.0', 'train_eval.num_iterations = 200',
    'train_eval.train_checkpoint_interval = 100']
EPISODE_STEPS = 50  # point_mass's episode length: 51 observations an episode


pytestmark = pytest.mark.usefixtures('clear_gin')


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  """A point_mass run of 200 iterations: checkpoints and exports at 100 and 200."""
  root_dir = tmp_path_factory.mktemp('point_mass')
  helpers.run(root_dir, [], POINT_MASS)
  return root_dir


def gif_frames(path):
  """(frames as imageio reads them, total display time in ms)."""
  with Image.open(path) as gif:
    total_ms = 0
    for index in range(gif.n_frames):
      gif.seek(index)
      total_ms += gif.info['duration']
  return iio.imread(path, index=None), total_ms


def test_policy_is_exported_whole_with_its_train_step(run_dir):
  assert (run_dir / 'policy' / 'saved_model.pb').exists()
  assert sorted(os.listdir(run_dir)) == ['.lock', 'eval', 'operative.gin', 'policy',
                                        'records.jsonl', 'train']
  assert int(tf.saved_model.load(str(run_dir / 'policy')).get_train_step()) == 200


def test_checkpoint_and_exported_policy_give_the_same_metrics(run_dir):
  from_checkpoint = evaluate.evaluate(run_dir, 3, seed=5)
  from_policy = evaluate.evaluate(run_dir, 3, source='policy', seed=5)
  assert from_checkpoint == from_policy
  assert from_checkpoint['train_step'] == 200
  assert 0.0 <= from_checkpoint['SuccessRate'] <= 1.0
  # Another seed's eval goals give other episodes.
  assert evaluate.evaluate(run_dir, 3, seed=6)['InitialDistance'] != (
      from_checkpoint['InitialDistance'])


def test_metrics_are_those_train_eval_reports(run_dir):
  # Started again with nothing left to train, train_eval restores the checkpoint
  # and evaluates it on the first episodes of a fresh eval env, as evaluate does.
  reported = helpers.run(run_dir, [], POINT_MASS)
  evaluated = evaluate.evaluate(run_dir, 2)
  assert evaluated.pop('train_step') == 200
  assert evaluated == reported


def test_rollouts_agree_with_the_eval_metrics(run_dir):
  rollouts = benchmark_scripts.load('rollouts')
  episodes = rollouts.rollouts(run_dir, 3)
  metrics = evaluate.evaluate(run_dir, 3, source='policy')
  np.testing.assert_allclose(np.mean([e['final_distance'] for e in episodes]),
                             metrics['FinalDistance'], rtol=1e-5)
  for episode in episodes:
    np.testing.assert_allclose(np.linalg.norm(episode['residual']), episode['final_distance'],
                               rtol=1e-5)
    assert np.all(episode['mean_abs_action'] <= 1.0) and 0.0 <= episode['saturated'] <= 1.0
  assert rollouts.format_episode('episode 0', episodes[0]).startswith('episode 0: distance ')


def test_gif_has_a_frame_per_step(run_dir, tmp_path):
  path = tmp_path / 'videos' / 'point_mass.gif'
  evaluate.evaluate(run_dir, 2, video_path=str(path), video_fps=20)
  frames, total_ms = gif_frames(path)
  assert frames.ndim == 4 and frames.shape[1:] == (128, 128, 3)
  # Pillow merges identical frames (a point at rest) into longer ones; time adds up.
  assert total_ms == 2 * (EPISODE_STEPS + 1) * 50
  evaluate.evaluate(run_dir, 2, video_path=str(path), video_fps=20, frame_stride=3)
  _, total_ms = gif_frames(path)
  assert total_ms == 2 * (len(range(0, EPISODE_STEPS + 1, 3)) + 1) * 50  # + each last step


def _can_render():
  backend = os.environ.get('MUJOCO_GL', '')
  library = {'osmesa': 'OSMesa', 'egl': 'EGL'}.get(backend)
  return bool(library and ctypes.util.find_library(library))


@pytest.mark.skipif(not _can_render(),
                    reason='headless rendering needs MUJOCO_GL=osmesa with libOSMesa '
                    '(apt-get install libosmesa6) or MUJOCO_GL=egl')
def test_sawyer_reach_gif(tmp_path):
  episode_steps = 5
  helpers.run(tmp_path / 'run', ['gin/sawyer_reach.gin'], helpers.SMALL + [
      'train_eval.num_iterations = 2', 'train_eval.initial_collect_steps = 10',
      'train_eval.batch_size = 8', 'train_eval.num_eval_episodes = 0',
      f'load_sawyer_reach.max_episode_steps = {episode_steps}'])
  path = tmp_path / 'reach.gif'
  results = evaluate.evaluate(tmp_path / 'run', 1, video_path=str(path), source='policy')
  assert results['train_step'] == 2
  frames, total_ms = gif_frames(path)
  assert frames.shape[1:] == (240, 320, 3) and frames.std() > 10.0
  assert total_ms == (episode_steps + 1) * 50


def test_missing_pieces_fail_with_one_line(run_dir, tmp_path):
  def message(root_dir, **kwargs):
    with pytest.raises((evaluate.EvaluateError, video.VideoError)) as error:
      evaluate.evaluate(root_dir, 1, **kwargs)
    assert '\n' not in str(error.value)
    return str(error.value)

  assert 'no operative.gin in' in message(tmp_path)
  shutil.copy(run_dir / 'operative.gin', tmp_path)  # a run killed before its first checkpoint
  assert 'no checkpoint in' in message(tmp_path)
  assert 'no exported policy in' in message(tmp_path, source='policy')
  assert message(run_dir, source='ckpt') == (
      '--source=ckpt: must be one of checkpoint, policy.')
  assert 'must end in .gif or .mp4' in message(run_dir, video_path='out.avi')
  assert 'does not match the agent that operative.gin and --gin_bindings describe' in message(
      run_dir, gin_bindings=['CLearningAgent.actor_fc_layers = (16, 16)'])
  damaged = tmp_path / 'damaged'
  shutil.copytree(run_dir, damaged)
  data = damaged / 'train' / 'checkpoints' / 'ckpt-200.data-00000-of-00001'
  os.truncate(data, os.path.getsize(data) // 2)
  assert message(damaged).startswith(
      f'the newest checkpoint, {damaged}/train/checkpoints/ckpt-200, does not read whole '
      '(IndexError: ')


def test_missing_video_packages_are_named(monkeypatch):
  real_find_spec = video.importlib.util.find_spec
  monkeypatch.setattr(video.importlib.util, 'find_spec',
                      lambda name: None if name == 'imageio' else real_find_spec(name))
  with pytest.raises(video.VideoError, match='needs imageio, which c_learning requires: pip install imageio'):
    video.check_writable('out.gif')
  monkeypatch.setattr(video.importlib.util, 'find_spec',
                      lambda name: None if name == 'imageio_ffmpeg' else real_find_spec(name))
  with pytest.raises(video.VideoError, match='needs imageio-ffmpeg'):
    video.check_writable('out.mp4')
  video.check_writable('out.gif')


def test_results_print_one_per_line_step_first():
  text = evaluate.format_results({'FinalDistance': 0.25, 'SuccessRate': 0.5, 'train_step': 200},
                                 video_path='out.gif')
  assert text.splitlines() == ['train_step: 200', 'FinalDistance: 0.2500',
                               'SuccessRate: 0.5000', 'video: out.gif']


def test_command_line_reports_an_error_in_one_line(tmp_path):
  completed = subprocess.run(
      [sys.executable, '-m', 'c_learning.evaluate', f'--root_dir={tmp_path}'],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=120)
  assert completed.returncode != 0 and 'Traceback' not in completed.stderr
  assert completed.stderr.strip().splitlines()[-1] == (
      f'c_learning.evaluate: error: no operative.gin in {tmp_path}: not a train_eval '
      'root_dir, or its run is still collecting its initial steps.')
