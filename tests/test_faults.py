"""Faults never cost a run: each is injected into real train_eval runs, which then resume.

What a fault may cost is the steps after the last good checkpoint, nothing else:
each test checks where the next run resumes (its start record) and that it
finishes.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import tensorflow as tf

from c_learning import checkpoints
from c_learning import config
from c_learning import divergence
from c_learning import loops
from c_learning import records
from c_learning import run_lock
from c_learning import stopping
from tests import train_eval_helpers as helpers

GIN_FILE = 'gin/sawyer_reach.gin'
BINDINGS = helpers.SMALL + [
    'train_eval.train_checkpoint_interval = 20',
    'train_eval.log_interval = 20',
    'train_eval.eval_interval = 1000',
    'train_eval.export_policy = False',
]

pytestmark = pytest.mark.usefixtures('clear_gin')


def _bindings(num_iterations):
  return BINDINGS + [f'train_eval.num_iterations = {num_iterations}']


def _command(root_dir, num_iterations):
  return [sys.executable, '-m', 'c_learning.train_eval', f'--root_dir={root_dir}',
          f'--gin_file={GIN_FILE}'] + [f'--gin_bindings={b}' for b in _bindings(num_iterations)]


def _starts(root_dir):
  return [r for r in records.read(str(root_dir)) if r['kind'] == 'start']


def _env_steps_at(root_dir, train_step):
  """The env steps that the first run's progress record at train_step counted."""
  return next(r['env_steps'] for r in records.read(str(root_dir))
              if r['kind'] == 'progress' and r['train_step'] == train_step)


def _checkpoint_steps(root_dir):
  directory = os.path.join(root_dir, 'train', 'checkpoints')
  if not os.path.isdir(directory):
    return []
  return sorted(int(f[len('ckpt-'):-len('.index')]) for f in os.listdir(directory)
                if f.startswith('ckpt-') and f.endswith('.index'))


@pytest.fixture(scope='module')
def run_to_40(tmp_path_factory):
  """A finished run with checkpoints at train steps 20 and 40 (two are kept)."""
  root_dir = tmp_path_factory.mktemp('faults') / 'run'
  helpers.run(root_dir, [GIN_FILE], _bindings(40))
  assert _checkpoint_steps(root_dir) == [20, 40]
  return root_dir


@pytest.mark.parametrize('damaged_file', ['ckpt-40.data-00000-of-00001', 'ckpt-40.index'])
def test_a_truncated_newest_checkpoint_resumes_from_the_previous(run_to_40, tmp_path,
                                                                 damaged_file, caplog):
  root_dir = tmp_path / 'run'
  shutil.copytree(run_to_40, root_dir)
  path = root_dir / 'train' / 'checkpoints' / damaged_file
  os.truncate(path, os.path.getsize(path) // 2)
  with caplog.at_level('WARNING'):
    helpers.run(root_dir, [GIN_FILE], _bindings(60))
  warnings = [r.getMessage() for r in caplog.records
              if r.name == 'absl' and 'does not restore' in r.getMessage()]
  assert len(warnings) == 1 and 'resuming from ckpt-20 instead' in warnings[0]
  resumed = _starts(root_dir)[-1]
  assert resumed['train_step'] == 20
  assert resumed['env_steps'] == _env_steps_at(run_to_40, 20)  # ckpt-20's counters, all of them
  assert _checkpoint_steps(root_dir) == [40, 60]
  assert damaged_file in os.listdir(root_dir / 'train' / 'checkpoints' / 'damaged')


def test_no_checkpoint_that_restores_stops_with_one_line(run_to_40, tmp_path):
  root_dir = tmp_path / 'run'
  shutil.copytree(run_to_40, root_dir)
  for step in (20, 40):
    path = root_dir / 'train' / 'checkpoints' / f'ckpt-{step}.index'
    os.truncate(path, 10)
  result = subprocess.run(_command(root_dir, 60), cwd=helpers.REPO, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 1
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.startswith(
      f'c_learning.train_eval: error: no checkpoint in {root_dir}/train/checkpoints restores: '
      'ckpt-40 (')
  assert 'To start the run over from step 0, move' in last_line
  assert 'Traceback' not in result.stderr
  assert len(_starts(root_dir)) == 1  # the failed start wrote no record


def test_a_second_process_is_refused_and_a_killed_holder_never_blocks(tmp_path):
  root_dir = tmp_path / 'run'
  with open(tmp_path / 'first.log', 'w') as log:
    first = subprocess.Popen(_command(root_dir, 100_000), cwd=helpers.REPO, stdout=log,
                             stderr=subprocess.STDOUT)
  try:
    deadline = time.time() + 240
    while run_lock.holder(str(root_dir)) is None and time.time() < deadline:
      assert first.poll() is None, (tmp_path / 'first.log').read_text()[-3000:]
      time.sleep(0.2)
    second = subprocess.run(_command(root_dir, 100_000), cwd=helpers.REPO,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith(
        f'c_learning.train_eval: error: run folder {root_dir} is in use by process '
        f'{first.pid} on host ')
    while not _checkpoint_steps(root_dir) and time.time() < deadline:
      assert first.poll() is None, (tmp_path / 'first.log').read_text()[-3000:]
      time.sleep(0.2)
    killed_at = _checkpoint_steps(root_dir)[-1]
  finally:
    os.kill(first.pid, signal.SIGKILL)  # its lock goes with it
    first.wait()
  assert len(_starts(root_dir)) == 1  # the refused process wrote nothing

  helpers.run(root_dir, [GIN_FILE], _bindings(killed_at + 20))
  assert _starts(root_dir)[-1]['train_step'] >= killed_at
  assert _checkpoint_steps(root_dir)[-1] == killed_at + 20


def _can_mount_a_small_filesystem():
  try:
    return subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'true'],
                          capture_output=True, timeout=30).returncode == 0
  except (OSError, subprocess.TimeoutExpired):
    return False


# Runs inside a user and mount namespace: a 4 MB tmpfs as the run folder, a first
# run to ckpt-40, a ballast that leaves half a checkpoint free, a run to 60 whose
# save fails, then the ballast removed and the same command again. Copies of the
# folder go to $OUT, since the tmpfs goes with the namespace.
_FULL_DISK_SCRIPT = textwrap.dedent('''\
    set -u
    mount -t tmpfs -o size=4m tmpfs "$ROOT" || exit 90
    "$@" --gin_bindings='train_eval.num_iterations = 40' >"$OUT/first.log" 2>&1
    echo $? >"$OUT/first.rc"
    free=$(df -B1 --output=avail "$ROOT" | tail -1)
    checkpoint=$(cat "$ROOT"/train/checkpoints/ckpt-40.* | wc -c)
    head -c $((free - checkpoint / 2)) /dev/zero >"$ROOT/ballast"
    "$@" --gin_bindings='train_eval.num_iterations = 60' >"$OUT/full.log" 2>&1
    echo $? >"$OUT/full.rc"
    cp -r "$ROOT" "$OUT/after_full"
    rm "$ROOT/ballast"
    "$@" --gin_bindings='train_eval.num_iterations = 60' >"$OUT/resumed.log" 2>&1
    echo $? >"$OUT/resumed.rc"
    cp -r "$ROOT" "$OUT/final"
''')


@pytest.mark.skipif(not _can_mount_a_small_filesystem(),
                    reason='needs unshare with user namespaces to mount a small tmpfs')
def test_a_full_disk_stops_with_one_line_and_the_same_command_resumes(tmp_path):
  root_dir, out = tmp_path / 'run', tmp_path / 'out'
  root_dir.mkdir()
  out.mkdir()
  command = [sys.executable, '-m', 'c_learning.train_eval', f'--root_dir={root_dir}',
             f'--gin_file={GIN_FILE}'] + [f'--gin_bindings={b}' for b in BINDINGS]
  result = subprocess.run(
      ['unshare', '--user', '--map-root-user', '--mount', 'bash', '-c', _FULL_DISK_SCRIPT,
       'full_disk'] + command, cwd=helpers.REPO, env=dict(os.environ, ROOT=str(root_dir),
                                                           OUT=str(out)),
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr
  assert (out / 'first.rc').read_text().strip() == '0', (out / 'first.log').read_text()[-3000:]

  full_log = (out / 'full.log').read_text()
  assert (out / 'full.rc').read_text().strip() == '1', full_log[-3000:]
  last_line = full_log.strip().splitlines()[-1]
  assert last_line.startswith(
      f'c_learning.train_eval: error: no space left in {root_dir}/train/checkpoints for '
      'checkpoint ckpt-60: it needs about ')
  assert 'ckpt-40 is intact: free some space and run the same command' in last_line
  assert 'Traceback' not in full_log
  left = out / 'after_full' / 'train' / 'checkpoints'
  assert sorted(os.listdir(left)) == [
      'checkpoint', 'ckpt-20.data-00000-of-00001', 'ckpt-20.index',
      'ckpt-40.data-00000-of-00001', 'ckpt-40.index']  # no ckpt-60 part, no _temp folder
  assert checkpoints.unreadable(str(left / 'ckpt-40')) is None

  assert (out / 'resumed.rc').read_text().strip() == '0', (
      out / 'resumed.log').read_text()[-3000:]
  starts = _starts(out / 'final')
  assert [s['train_step'] for s in starts] == [0, 40, 40]
  assert _checkpoint_steps(out / 'final') == [40, 60]


def _wait_for_training(process, root_dir, log_path, past_step):
  """Waits until the run's records show a train step past `past_step` (or fails with its log)."""
  deadline = time.time() + 240
  while time.time() < deadline:
    assert process.poll() is None, log_path.read_text()[-3000:]
    progress = [r for r in records.read(str(root_dir)) if r['kind'] == 'progress']
    if progress and progress[-1]['train_step'] > past_step:
      return
    time.sleep(0.2)
  raise AssertionError(f'no training past step {past_step}: ' + log_path.read_text()[-3000:])


@pytest.mark.slow
def test_a_signal_saves_the_run_and_the_same_command_resumes_it(tmp_path):
  """SIGINT, then SIGTERM to the resumed process: each saves and exits 75; the third start finishes."""
  root_dir = tmp_path / 'run'
  command = _command(root_dir, 100_000) + ['--gin_bindings=train_eval.export_policy = True']
  preempted = []
  for signum in (signal.SIGINT, signal.SIGTERM):
    log_path = tmp_path / f'{signum.name}.log'
    with open(log_path, 'w') as log:
      process = subprocess.Popen(command, cwd=helpers.REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
      _wait_for_training(process, root_dir, log_path,
                         preempted[-1]['train_step'] if preempted else 0)
      process.send_signal(signum)
      assert process.wait(timeout=120) == stopping.EXIT_STATUS
    finally:
      if process.poll() is None:
        process.kill()
    last_line = log_path.read_text().strip().splitlines()[-1]
    written = records.read(str(root_dir))
    record = written[-1]
    assert record['kind'] == 'preempted' and record['signal'] == signum.name
    step = record['train_step']
    assert record['checkpoint'] == f'ckpt-{step}' and step in _checkpoint_steps(root_dir)
    assert checkpoints.unreadable(str(root_dir / 'train' / 'checkpoints' / f'ckpt-{step}')) is None
    assert (root_dir / 'policy' / 'saved_model.pb').exists()
    assert last_line.startswith(f'c_learning.train_eval: stopped by {signum.name} at train step '
                                f'{step}, ')
    assert last_line.endswith(f': ckpt-{step} and the policy are saved; run the same command '
                              'to resume.')
    assert 'end' not in [r['kind'] for r in written]
    if preempted:  # the second process resumed where the first stopped, all counters with it
      resumed = _starts(root_dir)[-1]
      assert resumed['train_step'] == preempted[-1]['train_step']
      assert resumed['env_steps'] == preempted[-1]['env_steps']
    preempted.append(record)
  assert preempted[1]['train_step'] > preempted[0]['train_step']
  finish_at = preempted[-1]['train_step'] + 20
  helpers.run(root_dir, [GIN_FILE], _bindings(finish_at))
  assert _starts(root_dir)[-1]['train_step'] == preempted[-1]['train_step']
  assert records.read(str(root_dir))[-1]['kind'] == 'end'
  assert _checkpoint_steps(root_dir)[-1] == finish_at


def _poison_the_agent(loop, iteration, count, when):
  """Sets the agent's weights to nan before ('loss') the call from 48 or after ('weight') the call up to 60."""
  def poison():
    for variable in loop._parts.agent.trainable_variables:  # pylint: disable=protected-access
      variable.assign(tf.fill(variable.shape, float('nan')))
  if when == 'loss' and iteration == 48:
    poison()
  result = _REAL_OVERLAPPED_RUN(loop, iteration, count)
  if when == 'weight' and iteration + count == 60:
    poison()
  return result


_REAL_OVERLAPPED_RUN = loops.OverlappedLoop.run


@pytest.mark.slow
@pytest.mark.parametrize('when, what', [
    ('loss', 'loss is not finite at train step 48'),
    ('weight', 'is not finite at train step 60'),
])
def test_divergence_stops_the_run_before_anything_non_finite_is_saved(run_to_40, tmp_path,
                                                                      monkeypatch, when, what):
  root_dir = tmp_path / 'run'
  shutil.copytree(run_to_40, root_dir)
  monkeypatch.setattr(loops.OverlappedLoop, 'run',
                      lambda loop, i, n: _poison_the_agent(loop, i, n, when))
  with pytest.raises(divergence.Diverged) as raised:
    helpers.run(root_dir, [GIN_FILE], _bindings(100))
  line = config.first_line(raised.value)
  assert what in line
  assert re.match(r'C-learning (critic loss|actor loss|weight \S+) is not finite', line)
  assert line.startswith('C-learning weight ' if when == 'weight' else 'C-learning ')
  assert line.endswith(
      f'the run stopped without saving it; the last finite checkpoint is ckpt-40 in '
      f'{root_dir}/train/checkpoints. Steady the training (a lower learning rate, gradient '
      'clipping, observation normalisation) and run again to go on from there.')
  assert _checkpoint_steps(root_dir) == [20, 40]
  record = records.read(str(root_dir))[-1]
  assert record['kind'] == 'diverged' and record['checkpoint'] == 'ckpt-40'
  assert what in record['what']
  assert not (root_dir / 'policy.tmp').exists()
