"""Time from SIGTERM to exit for a run whose replay holds 1M transitions (a VM gets about 30 s).

    python benchmarks/preemption.py [--root_dir=/tmp/c_learning_preemption] [--transitions=1000000]

First it makes a run folder whose checkpoint holds a full replay: train_eval's
Runner with its initial collection replaced by `--transitions` random
transitions of the task's shapes (collecting 1M real env steps takes hours
here), a few iterations, and the final checkpoint. Then, twice, the real
`python -m c_learning.train_eval` resumes that folder and gets SIGTERM:
  training    - once it is training (after the start's evaluation): the usual case;
  starting    - as soon as its start record is written (restored, not yet training).
A signal during an evaluation waits for it: start_to_eval_s, from the
training case's start record to its first eval record, bounds that wait
(it includes tracing the eval driver).
Each prints the seconds from the signal to the process's exit, the exit status,
the `preempted` record's own seconds and the checkpoint's size. The last line
is one JSON object with the figures.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from c_learning import config  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import records  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import registry  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import runner  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import train_eval  # pylint: disable=g-import-not-at-top,wrong-import-position

GIN_FILE = os.path.join(REPO, 'gin', 'sawyer_push.gin')
EPISODE_LENGTH = 150


class _FilledRunner(runner.Runner):
  """A Runner whose initial collection is `transitions` random transitions of the task's shapes."""

  transitions = 0

  def _collect_initial_steps(self):
    width = self._train_env.observation_spec().shape[0]
    action_dim = self._train_env.action_spec().shape[0]
    rng = np.random.default_rng(0)
    n = self.transitions
    observations = rng.standard_normal((n, width), np.float32)
    next_observations = rng.standard_normal((n, width), np.float32)
    actions = rng.uniform(-1, 1, (n, action_dim)).astype(np.float32)
    lengths = np.full(n // EPISODE_LENGTH, EPISODE_LENGTH, np.int64)
    lengths[-1] += n - lengths.sum()
    self._replay_buffer.load_episodes(observations, actions, next_observations, lengths)
    self._unsaved = True


def fill(root_dir, transitions):
  """A run folder at train step 8 whose checkpoint holds `transitions` transitions."""
  shutil.rmtree(root_dir, ignore_errors=True)
  registry.register_configurables()
  config.parse([GIN_FILE], ['train_eval.num_iterations = 8',
                            f'train_eval.replay_buffer_capacity = {transitions}'])
  _FilledRunner.transitions = transitions
  settings = train_eval.configured_arguments()
  del settings['root_dir']
  _FilledRunner(root_dir, settings).run()


def stop_once(root_dir, transitions, when):
  """Resumes root_dir with train_eval, sends SIGTERM at `when`; returns the figures."""
  bindings = [f'train_eval.replay_buffer_capacity = {transitions}',
              'train_eval.num_iterations = 1000000000']
  command = [sys.executable, '-m', 'c_learning.train_eval', f'--root_dir={root_dir}',
             f'--gin_file={GIN_FILE}'] + [f'--gin_bindings={b}' for b in bindings]
  before = len(records.read(root_dir))
  log_path = os.path.join(root_dir, f'stop_{when}.log')
  with open(log_path, 'w') as log:
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
  kinds = ('start',) if when == 'starting' else ('progress',)
  while not any(r['kind'] in kinds for r in records.read(root_dir)[before:]):
    if process.poll() is not None:
      raise RuntimeError(open(log_path).read()[-3000:])
    time.sleep(0.05)
  sent = time.time()
  process.send_signal(signal.SIGTERM)
  status = process.wait()
  seconds = time.time() - sent
  written = records.read(root_dir)[before:]
  record = written[-1]
  checkpoint_dir = os.path.join(root_dir, 'train', 'checkpoints')
  size = sum(os.path.getsize(os.path.join(checkpoint_dir, f)) for f in os.listdir(checkpoint_dir)
             if f.startswith(record.get('checkpoint') or '-') and '.' in f)
  return {f'{when}_signal_to_exit_s': round(seconds, 2), f'{when}_exit_status': status,
          f'{when}_signal_to_record_s': round(record.get('seconds', float('nan')), 2),
          f'{when}_checkpoint_mb': round(size / 2**20, 1),
          **_start_to_eval(written, when)}


def _start_to_eval(written, when):
  times = {r['kind']: r['time'] for r in reversed(written)}
  if when != 'training' or 'eval' not in times:
    return {}
  return {'start_to_eval_s': round(times['eval'] - times['start'], 2)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--root_dir', default='/tmp/c_learning_preemption')
  parser.add_argument('--transitions', type=int, default=1_000_000)
  args = parser.parse_args()
  started = time.time()
  fill(args.root_dir, args.transitions)
  figures = {'transitions': args.transitions, 'fill_s': round(time.time() - started, 1)}
  for when in ('training', 'starting'):
    figures.update(stop_once(args.root_dir, args.transitions, when))
  for name, value in figures.items():
    print(f'{name:35s} {value}')
  print(json.dumps(figures))


if __name__ == '__main__':
  main()
