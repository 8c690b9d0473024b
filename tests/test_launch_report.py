"""Tests of the study report (launch/report.py): every eval in one CSV, wall-clock and commits per run, curves."""
import csv
import json
import os
import subprocess
import sys

from c_learning import records
from c_learning.sweep import report
from c_learning.sweep import spec as spec_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(REPO, 'launch', 'examples', 'point_mass_tiny.yaml')


def _write_records(run_dir, lines):
  os.makedirs(run_dir, exist_ok=True)
  with open(records.path(run_dir), 'w') as f:
    for kind, time, fields in lines:
      f.write(json.dumps({'kind': kind, 'time': time, **fields}) + '\n')


def _eval(step, success, time):
  return ('eval', time, {'train_step': step, 'env_steps': step + 100,
                         'metrics': {'SuccessRate': success, 'FinalDistance': 1.0 - success}})


def test_wall_clock_adds_each_process_from_its_start_to_its_last_record():
  lines = [{'kind': 'start', 'time': 100.0}, {'kind': 'eval', 'time': 130.0},
           {'kind': 'preempted', 'time': 150.0},  # 50 s
           {'kind': 'start', 'time': 1000.0, 'commit': 'abc'}, {'kind': 'end', 'time': 1020.0}]
  assert report.wall_clock_seconds(lines) == 70.0
  assert report.commits(lines) == [None, 'abc']


def test_report_writes_every_eval_of_the_current_history_and_each_runs_progress(tmp_path):
  sweep = spec_lib.load(SPEC)
  first, second = sweep.runs[:2]
  root = tmp_path / 'runs'
  _write_records(first.run_dir(root), [
      ('start', 0.0, {'train_step': 0, 'env_steps': 0, 'commit': 'c1'}),
      _eval(0, 0.0, 10.0), _eval(10, 0.2, 20.0), _eval(20, 0.9, 30.0),
      ('preempted', 40.0, {'train_step': 20, 'env_steps': 120}),
      # Resumed from the checkpoint at step 10: the eval at 20 is done again.
      ('start', 100.0, {'train_step': 10, 'env_steps': 110, 'commit': 'c2'}),
      _eval(20, 0.5, 110.0),
      ('end', 120.0, {'train_step': 20, 'env_steps': 120, 'metrics': {}})])
  _write_records(second.run_dir(root), [
      ('start', 0.0, {'train_step': 0, 'env_steps': 0}), _eval(0, 0.1, 5.0)])
  out = tmp_path / 'report'
  result = subprocess.run([sys.executable, os.path.join(REPO, 'launch', 'report.py'),
                           '--spec', SPEC, '--root', str(root), '--out', str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
  assert result.returncode == 0, result.stderr
  assert f'4 evals of {len(sweep.runs)} runs' in result.stdout
  with open(out / 'learning.csv') as f:
    rows = list(csv.DictReader(f))
  assert [(r['run'], r['train_step'], r['SuccessRate'], r['finished']) for r in rows] == [
      (first.name, '0', '0.0', 'True'), (first.name, '10', '0.2', 'True'),
      (first.name, '20', '0.5', 'True'), (second.name, '0', '0.1', 'False')]
  assert {r['wall_clock_s'] for r in rows if r['run'] == first.name} == {'60.0'}
  with open(out / 'runs.csv') as f:
    runs = {r['run']: r for r in csv.DictReader(f)}
  assert len(runs) == len(sweep.runs)
  assert (runs[first.name]['env_steps'], runs[first.name]['commits']) == ('120', 'c1 c2')
  assert runs[sweep.runs[2].name]['train_step'] == ''  # not started
  assert (out / 'curves.png').stat().st_size > 0
  assert (out / 'point_mass_tiny.yaml').read_text() == open(SPEC).read()


def test_a_missing_spec_is_one_line(tmp_path):
  result = subprocess.run([sys.executable, os.path.join(REPO, 'launch', 'report.py'), '--spec',
                           str(tmp_path / 'nope.yaml'), '--root', str(tmp_path), '--out',
                           str(tmp_path / 'out')], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
  assert result.returncode != 0
  assert result.stderr.strip().splitlines() == [f'report.py: --spec={tmp_path / "nope.yaml"}: '
                                                'no such file.']
