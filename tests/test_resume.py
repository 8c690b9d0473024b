"""Kill -9 a training run and start the same command again: it resumes from its checkpoint."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import train_eval_helpers as helpers


def command(root_dir):
  return [sys.executable, '-m', 'c_learning.train_eval', f'--root_dir={root_dir}',
          '--gin_file=gin/sawyer_reach.gin'] + [
              f'--gin_bindings={b}' for b in helpers.SMALL + [
                  'train_eval.num_iterations = 1500',
                  'train_eval.train_checkpoint_interval = 300',
                  'train_eval.eval_interval = 500',
                  'train_eval.log_interval = 100']]


def checkpoint_steps(root_dir):
  directory = os.path.join(root_dir, 'train', 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(f.split('-')[1].split('.')[0]) for f in os.listdir(directory)
                if f.startswith('ckpt-') and f.endswith('.index'))


@pytest.mark.slow  # the default suite's budget; python -m pytest -m slow runs it
def test_killed_run_resumes_from_its_checkpoint(tmp_path):
  root_dir = tmp_path / 'run'
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  with open(tmp_path / 'first.log', 'w') as log:
    first = subprocess.Popen(command(root_dir), cwd=helpers.REPO, stdout=log,
                             stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 240
    while not checkpoint_steps(root_dir) and time.time() < deadline and first.poll() is None:
      time.sleep(0.5)
    assert checkpoint_steps(root_dir), (tmp_path / 'first.log').read_text()[-3000:]
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
  killed_at = checkpoint_steps(root_dir)[-1]
  assert 0 < killed_at < 1500

  second = subprocess.run(command(root_dir), cwd=helpers.REPO, capture_output=True,
                          text=True, env=env, timeout=400)
  output = second.stdout + second.stderr
  assert second.returncode == 0, output[-3000:]
  assert f'Resumed at train step {killed_at} with ' in output
  assert 'initial steps' not in output  # the random initial collection is not redone
  assert checkpoint_steps(root_dir)[-1] == 1500
  # The restored counters carry on: summaries continue past the kill, and the
  # environment-step metric counts the first run's steps too.
  train = helpers.scalars(root_dir / 'train')
  env_steps = train['Metrics/EnvironmentSteps']
  assert max(env_steps) == 1500
  assert env_steps[1500] >= 1500 + 300  # 300 initial random steps, never recollected
