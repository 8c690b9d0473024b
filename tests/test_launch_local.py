"""Tests of the local sweep runner: scheduling, skip-finished, failures, restart; one real run."""
import io
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from c_learning import records
from c_learning import run_lock
from c_learning.sweep import local

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SWEEP_PY = os.path.join(REPO, 'launch', 'sweep.py')

# A stand-in for train_eval: `fake.py MODE RUN_DIR [SECONDS]`.
#   sleep: records its start and end time in RUN_DIR/span, sleeping SECONDS in between;
#   fail: prints a message and exits 3;
#   count: counts to 40 in steps of SECONDS, keeping the count in RUN_DIR/count, and
#          starts from the count it finds, as train_eval starts from its checkpoint;
#   records: records 40 iterations in RUN_DIR/records.jsonl, one every SECONDS, and logs a
#          progress line that disagrees with them.
FAKE = '''
import os, sys, time
from c_learning import records
mode, run_dir = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
if mode == 'sleep':
  start = time.time()
  time.sleep(seconds)
  with open(os.path.join(run_dir, 'span'), 'w') as f:
    f.write(f'{start} {time.time()}')
  print('slept', flush=True)
elif mode == 'fail':
  print('boom: train_eval.agent_name is unknown', flush=True)
  sys.exit(3)
elif mode == 'count':
  path = os.path.join(run_dir, 'count')
  count = int(open(path).read()) if os.path.exists(path) else 0
  print(f'started at {count}', flush=True)
  while count < 40:
    time.sleep(seconds)
    count += 1
    with open(path + '.tmp', 'w') as f:
      f.write(str(count))
    os.replace(path + '.tmp', path)
elif mode == 'records':
  writer = records.Writer(run_dir)
  writer.start(0, 40, 0, 0)
  for i in range(1, 41):
    print('iteration 999/999', flush=True)
    time.sleep(seconds)
    writer.progress(i, 40, i, i, 1.0, {'critic_loss': 0.5})
'''


@pytest.fixture
def fake(tmp_path):
  path = tmp_path / 'fake.py'
  path.write_text(FAKE)
  return str(path)


def job(fake, root, name, mode, seconds=0.0):
  run_dir = str(root / name)
  return local.Job(name, [sys.executable, fake, mode, run_dir, str(seconds)], run_dir)


def test_runs_k_at_a_time_and_marks_each_done(fake, tmp_path):
  jobs = [job(fake, tmp_path, f'run{i}', 'sleep', 0.6) for i in range(5)]
  out = io.StringIO()
  failed = local.run_jobs(jobs, workers=2, out=out, poll=0.05)
  assert failed == []
  spans = []
  for j in jobs:
    assert os.path.exists(os.path.join(j.run_dir, local.DONE))
    assert 'slept' in open(os.path.join(j.run_dir, local.LOG)).read()
    spans.append([float(x) for x in open(os.path.join(j.run_dir, 'span')).read().split()])
  # The most runs alive at once (at any run's start) is exactly the worker count.
  overlap = max(sum(s <= start < e for s, e in spans) for start, _ in spans)
  assert overlap == 2
  text = out.getvalue()
  assert 'done 0/5  running 2  failed 0  pending 3' in text
  assert 'done 5/5  running 0  failed 0  pending 0' in text


def test_finished_runs_are_skipped(fake, tmp_path):
  finished = job(fake, tmp_path, 'finished', 'fail')
  os.makedirs(finished.run_dir)
  open(os.path.join(finished.run_dir, local.DONE), 'w').close()
  fresh = job(fake, tmp_path, 'fresh', 'sleep')
  out = io.StringIO()
  assert local.run_jobs([finished, fresh], workers=1, out=out) == []
  assert not os.path.exists(os.path.join(finished.run_dir, local.LOG))  # never started
  assert os.path.exists(os.path.join(fresh.run_dir, local.DONE))
  assert '2 runs: 1 already finished, 1 to run' in out.getvalue()


def test_failures_are_reported_and_retried_on_restart(fake, tmp_path):
  bad = job(fake, tmp_path, 'bad', 'fail')
  good = job(fake, tmp_path, 'good', 'sleep')
  out = io.StringIO()
  failed = local.run_jobs([bad, good], workers=2, out=out)
  assert [j.name for j in failed] == ['bad'] and failed[0].returncode == 3
  assert not os.path.exists(os.path.join(bad.run_dir, local.DONE))
  assert os.path.exists(os.path.join(good.run_dir, local.DONE))
  text = out.getvalue()
  assert f'FAILED bad (exit 3); log: {os.path.join(bad.run_dir, local.LOG)}' in text
  assert 'boom: train_eval.agent_name is unknown' in text  # the log's tail
  assert 'failed 1' in text
  # A second start retries the failed run (its log keeps both attempts), not the good one.
  out = io.StringIO()
  local.run_jobs([bad, good], workers=2, out=out)
  assert '2 runs: 1 already finished, 1 to run' in out.getvalue()
  assert open(os.path.join(bad.run_dir, local.LOG)).read().count('=== ') == 2


def test_a_run_whose_folder_is_held_is_not_started(fake, tmp_path):
  """A run started by hand (here: this process holds its folder) is left alone; the others run."""
  held = job(fake, tmp_path, 'held', 'sleep')
  free = job(fake, tmp_path, 'free', 'sleep')
  out = io.StringIO()
  with run_lock.hold(held.run_dir):
    failed = local.run_jobs([held, free], workers=2, out=out)
  assert [j.name for j in failed] == ['held']
  assert not os.path.exists(os.path.join(held.run_dir, local.LOG))  # never started
  assert os.path.exists(os.path.join(free.run_dir, local.DONE))
  text = out.getvalue()
  assert f'NOT STARTED held: its folder {held.run_dir} is in use by process {os.getpid()}' in text
  assert 'failed: held (not started: its folder is in use)' in text
  # Once the holder is gone, the same command runs it.
  assert local.run_jobs([held, free], workers=2, out=io.StringIO()) == []


def test_killed_runner_stops_its_runs_and_a_restart_resumes(fake, tmp_path):
  """SIGKILL the runner mid-run: the run stops with it; the same command continues it."""
  counted = job(fake, tmp_path, 'counted', 'count', 0.05)
  driver = ('from c_learning.sweep import local\n'
            f'local.run_jobs([local.Job("counted", {counted.argv!r}, {counted.run_dir!r})], 1)\n')
  process = subprocess.Popen([sys.executable, '-c', driver], stdout=subprocess.DEVNULL,
                             cwd=tmp_path)  # c_learning is installed: any folder works
  count_file = os.path.join(counted.run_dir, 'count')
  deadline = time.time() + 20
  while time.time() < deadline and not (
      os.path.exists(count_file) and int(open(count_file).read()) >= 5):
    time.sleep(0.05)
  os.kill(process.pid, signal.SIGKILL)
  process.wait()
  time.sleep(0.5)
  stopped_at = int(open(count_file).read())
  time.sleep(0.5)
  assert int(open(count_file).read()) == stopped_at, 'the run outlived its runner'
  assert 5 <= stopped_at < 40
  assert not os.path.exists(os.path.join(counted.run_dir, local.DONE))

  assert local.run_jobs([counted], workers=1, out=io.StringIO()) == []
  assert int(open(count_file).read()) == 40
  log = open(os.path.join(counted.run_dir, local.LOG)).read()
  assert 'started at 0' in log and f'started at {stopped_at}' in log
  assert os.path.exists(os.path.join(counted.run_dir, local.DONE))


def test_progress_comes_from_the_records_not_the_log(fake, tmp_path):
  recorded = job(fake, tmp_path, 'recorded', 'records', 0.03)
  out = io.StringIO()
  assert local.run_jobs([recorded], workers=1, out=out, status_every=0.05, poll=0.02) == []
  shown = [int(n) for n in re.findall(r'\| recorded (\d+)/40', out.getvalue())]
  assert len(set(shown)) > 1 and shown == sorted(shown) and max(shown) <= 40, out.getvalue()
  assert '999' not in out.getvalue()
  assert 'iteration 999/999' in open(os.path.join(recorded.run_dir, local.LOG)).read()


def test_workers_below_one_are_rejected(fake, tmp_path):
  with pytest.raises(ValueError, match='--workers=0: need at least 1'):
    local.run_jobs([job(fake, tmp_path, 'x', 'sleep')], workers=0, out=io.StringIO())


@pytest.mark.slow  # a real sweep: the default suite's budget; python -m pytest -m slow runs it
def test_a_real_tiny_sweep_through_the_cli(tmp_path):
  """point_mass, 200 iterations: train_eval really runs, leaves its checkpoint and DONE."""
  spec = tmp_path / 'tiny.yaml'
  spec.write_text(
      'name: tiny\n'
      'tasks:\n  - name: point_mass\n    bindings: [train_eval.env_name="point_mass", '
      'goal_fn.relabel_next_prob=0.5, goal_fn.relabel_future_prob=0.0]\n'
      'seeds: [3]\n'
      'bindings:\n  train_eval.num_iterations: 200\n  train_eval.initial_collect_steps: 100\n'
      '  train_eval.batch_size: 32\n  CLearningAgent.actor_fc_layers: [16, 16]\n'
      '  CLearningAgent.critic_fc_layers: [16, 16]\n  train_eval.replay_buffer_capacity: 2000\n'
      '  train_eval.num_eval_episodes: 1\n  train_eval.eval_interval: 200\n')
  root = tmp_path / 'runs'
  command = [sys.executable, SWEEP_PY, '--spec', str(spec), '--local', '--workers', '2',
             '--root', str(root), '--status_every', '0.5']
  result = subprocess.run(command, capture_output=True, text=True, timeout=120)
  run_dir = root / 'point_mass-c_learning-seed=3'
  assert result.returncode == 0, result.stdout + result.stderr + (
      (run_dir / local.LOG).read_text() if (run_dir / local.LOG).exists() else '')
  assert 'done 1/1  running 0  failed 0' in result.stdout
  # The summary shows the run's iteration from the records train_eval wrote.
  assert re.search(r'\| point_mass-c_learning-seed=3 \d+/200', result.stdout), result.stdout
  written = records.read(run_dir)
  assert (written[0]['kind'], written[-1]['kind']) == ('start', 'end')
  assert (run_dir / local.DONE).exists()
  assert (run_dir / 'train' / 'checkpoints' / 'ckpt-200.index').exists()
  assert 'train_eval.random_seed = 3' in (run_dir / 'operative.gin').read_text()
  again = subprocess.run(command, capture_output=True, text=True, timeout=60)
  assert again.returncode == 0 and '1 already finished, 0 to run' in again.stdout
