"""Tests of run records: lines written whole, read back, torn lines and resumed runs."""
import json
import multiprocessing
import re

import pytest

from c_learning import records


def _write_history(writer, steps, start_at=0, eval_every=20, num_iterations=100):
  """A run's records from start_at: progress every 10 steps, an eval every eval_every."""
  writer.start(start_at, num_iterations, start_at, 1000 + start_at)
  writer.evaluation(start_at, start_at, 1000 + start_at, {'SuccessRate': start_at / 100})
  for step in range(start_at + 10, steps + 1, 10):
    writer.progress(step, num_iterations, step, 1000 + step, 50.0, {'critic_loss': step / 10})
    if step % eval_every == 0:
      writer.evaluation(step, step, 1000 + step, {'SuccessRate': step / 100})


def test_each_record_is_one_json_line_in_the_order_written(tmp_path):
  writer = records.Writer(tmp_path / 'run')
  writer.start(0, 30, 0, 300)
  writer.progress(10, 30, 10, 310, 12.5, {'critic_loss': 0.5, 'actor_loss': -1})
  writer.evaluation(10, 10, 310, {'FinalDistance': 0.25, 'SuccessRate': 1})
  writer.end(30, 30, 30, 330, {'FinalDistance': 0.125})
  lines = (tmp_path / 'run' / records.FILE_NAME).read_text().splitlines()
  assert [json.loads(line)['kind'] for line in lines] == ['start', 'progress', 'eval', 'end']
  start, progress, evaluation, end = records.read(tmp_path / 'run')
  assert start['resumed'] is False and start['iteration'] == 0 and start['env_steps'] == 300
  assert progress['losses'] == {'critic_loss': 0.5, 'actor_loss': -1.0}
  assert (progress['iteration'], progress['num_iterations'], progress['train_step'],
          progress['env_steps'], progress['steps_per_sec']) == (10, 30, 10, 310, 12.5)
  assert evaluation['metrics'] == {'FinalDistance': 0.25, 'SuccessRate': 1.0}
  assert end['metrics'] == {'FinalDistance': 0.125} and end['iteration'] == 30
  assert all(isinstance(r['time'], float) for r in (start, progress, evaluation, end))
  assert records.latest_progress(records.read(tmp_path / 'run')) == end


def test_a_run_without_records_reads_as_empty(tmp_path):
  assert records.read(tmp_path) == []
  assert records.latest_progress([]) is None and records.evals_by_step([]) == {}


def test_an_unknown_kind_fails_with_the_allowed_ones(tmp_path):
  with pytest.raises(ValueError, match="'loss' is unknown; allowed: start, progress, eval, end"):
    records.Writer(tmp_path).write('loss', value=1.0)


def test_a_torn_last_line_is_skipped_and_the_next_writer_starts_a_new_line(tmp_path):
  writer = records.Writer(tmp_path)
  writer.start(0, 100, 0, 1000)
  writer.progress(10, 100, 10, 1010, 50.0, {'critic_loss': 1.0})
  with open(records.path(tmp_path), 'ab') as f:
    f.write(b'{"kind": "progress", "iteration": 20, "num_iter')  # killed mid-line
  assert [r['kind'] for r in records.read(tmp_path)] == ['start', 'progress']
  assert records.latest_progress(records.read(tmp_path))['iteration'] == 10
  # The resumed run's first record is not glued to the torn line.
  records.Writer(tmp_path).start(10, 100, 10, 1010)
  assert [r['kind'] for r in records.read(tmp_path)] == ['start', 'progress', 'start']


def test_a_resume_from_an_earlier_checkpoint_keeps_the_last_history(tmp_path):
  writer = records.Writer(tmp_path)
  _write_history(writer, steps=70)  # killed at 70, its checkpoint at 40
  _write_history(records.Writer(tmp_path), steps=60, start_at=40)  # killed again at 60
  written = records.read(tmp_path)
  evals = records.evals_by_step(written)
  assert list(evals) == [0, 20, 40, 60]
  # Each step's eval is the last one written; the first run's eval at 60 is replaced, and
  # nothing from after the resume point of the first history (70) survives.
  assert all(evals[step] is [r for r in written if r['kind'] == 'eval'
                             and r['train_step'] == step][-1] for step in evals)
  assert written.index(evals[60]) > written.index(evals[40]) > written.index(evals[20])
  progress = [r['train_step'] for r in records.timeline(written) if r['kind'] == 'progress']
  assert progress == [10, 20, 30, 40, 50, 60]
  latest = records.latest_progress(written)
  assert latest['kind'] == 'progress' and latest['iteration'] == 60


def test_a_resume_shows_where_the_run_restarted(tmp_path):
  _write_history(records.Writer(tmp_path), steps=70)
  records.Writer(tmp_path).start(40, 100, 40, 1040)
  latest = records.latest_progress(records.read(tmp_path))
  assert (latest['kind'], latest['iteration'], latest['resumed']) == ('start', 40, True)
  assert list(records.evals_by_step(records.read(tmp_path))) == [0, 20, 40]


def _append_many(root_dir, tag, count):
  writer = records.Writer(root_dir)
  for i in range(count):
    writer.progress(i, count, i, i, 1.0, {f'{tag}_loss_{j}': float(j) for j in range(50)})


def test_writers_in_two_processes_never_interleave_within_a_line(tmp_path):
  context = multiprocessing.get_context('spawn')
  processes = [context.Process(target=_append_many, args=(str(tmp_path), tag, 200))
               for tag in ('a', 'b')]
  for process in processes:
    process.start()
  for process in processes:
    process.join(60)
  lines = records.path(tmp_path)
  with open(lines) as f:
    parsed = [json.loads(line) for line in f]
  assert len(parsed) == 400


def test_a_start_record_names_the_commit_the_run_started_at(tmp_path):
  records.Writer(str(tmp_path)).start(0, 10, 0, 0)
  start, = records.read(str(tmp_path))
  # This test runs in a checkout: the commit, marked where the package's files differ from it.
  assert re.fullmatch(r'[0-9a-f]{40}(\+dirty)?', start['commit']), start['commit']
  assert start['commit'] == records.source_commit()
