"""Tests of benchmarks/learning.py: flags, plans, records and event readers, reports, a sweep."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from c_learning import records
from c_learning.sweep import local
from tests import benchmark_scripts

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'benchmarks', 'learning.py')

learning = benchmark_scripts.load('learning')


pytestmark = pytest.mark.usefixtures('clear_gin')


# ---------------------------------------------------------------------------
# Fake runs, with records.jsonl as train_eval writes it, or (runs made before records
# existed) only event files written with tf.summary (unit tests only).

OPERATIVE = '''# Parameters for goal_fn:
# ==============================================================================
goal_fn.relabel_next_prob = {next_prob}

# Parameters for train_eval:
# ==============================================================================
train_eval.actor_fc_layers = (32, 32)
train_eval.collect_steps_per_iteration = {collect}
train_eval.env_name = 'point_mass'
train_eval.initial_collect_steps = {initial}
train_eval.train_steps_per_iteration = {train}
'''


def write_events(log_dir, values_by_step):
  """One event file of Metrics/<name> scalars: {step: {name: value}}."""
  writer = tf.summary.create_file_writer(str(log_dir))
  with writer.as_default():
    for step, values in values_by_step.items():
      for name, value in values.items():
        tf.summary.scalar(f'Metrics/{name}', value, step=step)
  writer.close()
  time.sleep(0.01)  # a later file has later wall times


def write_records(run_dir, values_by_step, initial, collect, train):
  """records.jsonl with an eval record a step: {step: {name: value}}."""
  writer = records.Writer(run_dir)
  writer.start(0, 1000, 0, 0)
  for step, values in values_by_step.items():
    # float32, as train_eval's metrics (and the event files) hold them.
    writer.evaluation(step // train, step, initial + step // train * collect,
                      {name: float(np.float32(value)) for name, value in values.items()})


def fake_run(root, task, agent, seed, variant='', values_by_step=None, initial=100,
             collect=1, train=1, next_prob=0.5, wall_clock=None, done=True, with_records=False):
  """A run directory with operative.gin, eval events or records, and (if done) DONE and run.json."""
  run_dir = root / task / agent / variant / f'seed_{seed}' if variant else (
      root / task / agent / f'seed_{seed}')
  (run_dir / 'eval').mkdir(parents=True)
  (run_dir / 'operative.gin').write_text(OPERATIVE.format(
      initial=initial, collect=collect, train=train, next_prob=next_prob))
  if with_records:
    write_records(run_dir, values_by_step or {}, initial, collect, train)
  else:
    write_events(run_dir / 'eval', values_by_step or {})
  if done:
    (run_dir / local.DONE).write_text('')
  if wall_clock is not None:
    (run_dir / learning.RUN_RECORD).write_text(json.dumps({'wall_clock_s': wall_clock}))
  return run_dir


def test_reader_keeps_the_latest_value_of_a_repeated_step_and_stops_at_a_torn_record(tmp_path):
  write_events(tmp_path, {0: {'FinalDistance': 0.5}, 10: {'FinalDistance': 0.4}})
  # A restart: train_eval evaluates step 10 again, then goes on.
  write_events(tmp_path, {10: {'FinalDistance': 0.3}, 20: {'FinalDistance': 0.2}})
  newest = sorted(tmp_path.glob('events.out.tfevents.*'))[-1]
  with open(newest, 'ab') as f:
    f.write(b'\x40\x00\x00\x00\x00\x00\x00\x00garbage')  # a record being written
  scalars = learning.read_scalars(str(tmp_path))
  assert scalars['Metrics/FinalDistance'] == pytest.approx({0: 0.5, 10: 0.3, 20: 0.2})


def test_env_steps_count_the_initial_steps_and_the_collect_to_train_ratio():
  operative = {'train_eval.initial_collect_steps': 1000,
               'train_eval.collect_steps_per_iteration': 4,
               'train_eval.train_steps_per_iteration': 2}
  assert learning.env_steps_at(0, operative) == 1000
  assert learning.env_steps_at(500, operative) == 1000 + 250 * 4


def test_read_operative_parses_values_and_keeps_references_as_text(tmp_path):
  (tmp_path / 'operative.gin').write_text(
      "train_eval.log_subset = (3, None)\ntrain_eval.env_name = 'sawyer_window'\n"
      'Agent.network = @my_network\n# a comment = 3\n')
  values = learning.read_operative(str(tmp_path))
  assert values == {'train_eval.log_subset': (3, None), 'train_eval.env_name': 'sawyer_window',
                    'Agent.network': '@my_network'}
  assert learning.read_operative(str(tmp_path / 'missing')) == {}


def test_discover_finds_runs_with_and_without_variants(tmp_path):
  for path in ['reach/c_learning/seed_0', 'reach/sac_her/next0.1/seed_2',
               'reach/sac_her/next0.1/seed_2/train', 'stray/seed_1', 'a/b/c/d/seed_0']:
    (tmp_path / path).mkdir(parents=True, exist_ok=True)
  runs = learning.discover_runs(str(tmp_path))
  assert [(r.task, r.agent, r.variant, r.seed) for r in runs] == [
      ('reach', 'c_learning', '', 0), ('reach', 'sac_her', 'next0.1', 2)]


def _three_seeds(root, agent, variant, next_prob, final, with_records=False):
  for seed, (distance, success) in enumerate(final):
    fake_run(root, 'window', agent, seed, variant, {
        0: {'FinalDistance': 0.6, 'SubsetFinalDistance': 0.3, 'SuccessRate': 0.0},
        200: {'FinalDistance': distance, 'SubsetFinalDistance': distance / 2,
              'SuccessRate': success}},
             initial=100, collect=2, train=1, next_prob=next_prob, wall_clock=60.0 + seed,
             with_records=with_records)


def _report(tmp_path, with_records):
  runs = tmp_path / 'runs'
  _three_seeds(runs, 'sac_her', 'next0.1', 0.1, [(0.2, 0.5), (0.4, 0.0), (0.3, 1.0)],
               with_records)
  _three_seeds(runs, 'sac_her', 'next0.3', 0.3, [(0.1, 1.0), (0.1, 1.0), (0.1, 0.5)],
               with_records)
  fake_run(runs, 'reach', 'c_learning', 0, values_by_step={
      0: {'FinalDistance': 0.3, 'SuccessRate': 0.0}}, done=False, with_records=with_records)
  return learning.build_report(str(runs), str(tmp_path / 'out'),
                               variant_x='goal_fn.relabel_next_prob')


@pytest.mark.parametrize('with_records', [True, False], ids=['records', 'events_of_old_runs'])
def test_report_aggregates_seeds_into_csv_plots_and_table(tmp_path, with_records):
  report = _report(tmp_path, with_records)

  with open(report['csv']) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * 3 * 2 + 1
  assert list(rows[0])[:7] == ['task', 'agent', 'variant', 'goal_fn.relabel_next_prob', 'seed',
                               'train_step', 'env_steps']
  last = [r for r in rows if r['variant'] == 'next0.1' and r['seed'] == '1'][-1]
  assert (last['train_step'], last['env_steps']) == ('200', str(100 + 200 * 2))
  assert float(last['SubsetFinalDistance']) == pytest.approx(0.2)
  assert last['wall_clock_s'] == '61.0' and last['finished'] == 'True'
  reach = [r for r in rows if r['task'] == 'reach'][0]
  assert reach['SubsetFinalDistance'] == '' and reach['finished'] == 'False'

  names = sorted(os.path.basename(p) for p in report['plots'])
  assert names == ['reach_curves.png', 'window_curves.png',
                   'window_final_vs_relabel_next_prob.png']
  for path in report['plots']:
    assert plt.imread(path).shape[2] in (3, 4)
  final_vs = [p for p in report['plots'] if 'final_vs' in p][0]
  assert plt.imread(final_vs).shape[1] == 800  # two panels: distance and success rate

  table = open(report['markdown']).read()
  assert ('| window | sac_her | next0.1 | 3 | 500 | 0.300 ± 0.100 | 0.150 ± 0.050 | '
          '0.50 ± 0.50 | 0.50 / 0.00 / 1.00 | 0.50 ± 0.50 | – | 61 s |') in table
  assert '| window | sac_her | next0.3 | 3 | 500 | 0.100 ± 0.000 |' in table
  # Not finished: no wall-clock; one seed: no spread.
  assert '| reach | c_learning | – | 1 | 100 | 0.300 | – | 0.00 | 0.00 | 0.00 | – |' in table
  assert '![window_curves.png](window_curves.png)' in table


def test_report_reads_records_not_events_and_keeps_the_last_of_a_resumed_run(tmp_path):
  run_dir = fake_run(tmp_path / 'runs', 'reach', 'c_learning', 0, with_records=True,
                     values_by_step={0: {'SuccessRate': 0.0}, 10: {'SuccessRate': 0.5}})
  # Killed after its eval at 20, resumed from its checkpoint at 10: 20 is evaluated again.
  writer = records.Writer(run_dir)
  writer.evaluation(20, 20, 777, {'SuccessRate': 0.25})
  writer.start(10, 1000, 10, 110)
  writer.evaluation(10, 10, 110, {'SuccessRate': 0.75})
  writer.evaluation(20, 20, 120, {'SuccessRate': 1.0})
  with open(records.path(run_dir), 'ab') as f:
    f.write(b'{"kind": "eval", "train_st')  # killed while writing
  # Event files that disagree are not read: the records are the run's evals.
  write_events(run_dir / 'eval', {0: {'SuccessRate': 0.9}, 30: {'SuccessRate': 0.9}})
  (run,) = learning.discover_runs(str(tmp_path / 'runs'))
  rows = learning.run_rows(run)
  assert [(r['train_step'], r['env_steps'], r['SuccessRate']) for r in rows] == [
      (0, 100, 0.0), (10, 110, 0.75), (20, 120, 1.0)]


def test_a_run_from_before_records_resumed_since_reads_both(tmp_path):
  run_dir = fake_run(tmp_path / 'runs', 'reach', 'c_learning', 0, initial=100,
                     values_by_step={0: {'SuccessRate': 0.0}, 10: {'SuccessRate': 0.5},
                                     20: {'SuccessRate': 0.25}})
  writer = records.Writer(run_dir)  # resumed from its checkpoint at 20 by this version
  writer.start(20, 1000, 20, 120)
  writer.evaluation(20, 20, 120, {'SuccessRate': 0.75})
  writer.evaluation(30, 30, 130, {'SuccessRate': 1.0})
  (run,) = learning.discover_runs(str(tmp_path / 'runs'))
  rows = learning.run_rows(run)
  assert [(r['train_step'], r['env_steps'], r['SuccessRate']) for r in rows] == [
      (0, 100, 0.0), (10, 110, 0.5), (20, 120, 0.75), (30, 130, 1.0)]


def test_records_and_old_event_files_give_the_same_report(tmp_path):
  from_records = _report(tmp_path / 'a', with_records=True)
  from_events = _report(tmp_path / 'b', with_records=False)
  assert open(from_records['csv']).read() == open(from_events['csv']).read()
  assert (from_records['text'].replace(str(tmp_path / 'a'), '')
          == from_events['text'].replace(str(tmp_path / 'b'), ''))


def test_select_keeps_only_the_matching_task_agent_variant(tmp_path):
  for path in ['reach/c_learning/seed_0', 'reach/sac_her/next0.1/seed_0',
               'reach/sac_her/next0.3/seed_1', 'window/sac_her/seed_0']:
    (tmp_path / path).mkdir(parents=True)
  runs = learning.discover_runs(str(tmp_path))
  picked = learning.select_runs(runs, ['reach/sac_her/next*'])
  assert [(r.agent, r.variant, r.seed) for r in picked] == [
      ('sac_her', 'next0.1', 0), ('sac_her', 'next0.3', 1)]
  picked = learning.select_runs(runs, ['*/sac_her', 'reach/c_learning'])
  assert [(r.task, r.agent) for r in picked] == [('reach', 'c_learning'), ('window', 'sac_her')]
  assert learning.select_runs(runs, []) == runs


def test_curve_is_mean_min_max_over_the_seeds_at_each_step():
  by_seed = {0: [{'env_steps': 10, 'x': 1.0}, {'env_steps': 20, 'x': 3.0}],
             1: [{'env_steps': 10, 'x': 2.0}]}
  steps, mean, low, high, seeds = learning.curve(by_seed, 'x')
  assert steps.tolist() == [10, 20] and mean.tolist() == [1.5, 3.0]
  assert low.tolist() == [1.0, 3.0] and high.tolist() == [2.0, 3.0]
  assert seeds.tolist() == [2, 1]


# ---------------------------------------------------------------------------
# Flags and plans (no runs).


def plan(tmp_path, *flags):
  args = learning.parse_args(['--out', str(tmp_path)] + list(flags))
  return learning.plan_jobs(args, str(tmp_path / 'runs'))


def bindings_of(job):
  return [a.split('=', 1)[1] for a in job.argv if a.startswith('--gin_bindings=')]


def test_plan_reads_the_budget_from_the_bound_config_and_orders_seeds_first(tmp_path):
  jobs = plan(tmp_path, '--tasks=sawyer_reach,point_mass', '--agents=c_learning,sac_her',
              '--seeds=4,5', '--env_steps=1000', '--eval_interval=100',
              '--gin_bindings=train_eval.initial_collect_steps=100',
              '--gin_bindings=train_eval.collect_steps_per_iteration=2',
              '--variants=next0.1=goal_fn.relabel_next_prob=0.1;goal_fn.relabel_future_prob=0.0',
              '--variants=base=')
  assert len(jobs) == 2 * 2 * 2 * 2
  assert [j.name for j in jobs[:3]] == ['sawyer_reach/c_learning/next0.1/seed_4',
                                        'sawyer_reach/sac_her/next0.1/seed_4',
                                        'sawyer_reach/c_learning/base/seed_4']
  first = jobs[0]
  assert first.run_dir == str(tmp_path / 'runs/sawyer_reach/c_learning/next0.1/seed_4')
  assert first.argv[1:5] == ['-m', 'c_learning.train_eval', f'--root_dir={first.run_dir}',
                             '--gin_file=gin/sawyer_reach.gin']
  assert bindings_of(first) == [
      'train_eval.initial_collect_steps=100', 'train_eval.collect_steps_per_iteration=2',
      'goal_fn.relabel_next_prob=0.1', 'goal_fn.relabel_future_prob=0.0',
      'train_eval.num_iterations=450', 'train_eval.eval_interval=50',
      'train_eval.agent_name="c_learning"', 'train_eval.random_seed=4']
  point_mass = [j for j in jobs if j.name == 'point_mass/sac_her/base/seed_5'][0]
  assert '--gin_file=gin/base.gin' in point_mass.argv
  # The task's binding comes after --gin_bindings, as in a sweep spec (the more specific wins).
  assert bindings_of(point_mass) == [
      'train_eval.initial_collect_steps=100', 'train_eval.collect_steps_per_iteration=2',
      'train_eval.env_name="point_mass"', 'train_eval.num_iterations=450',
      'train_eval.eval_interval=50', 'train_eval.agent_name="sac_her"',
      'train_eval.random_seed=5']


def test_plan_without_bindings_uses_the_papers_initial_steps(tmp_path):
  (job,) = plan(tmp_path, '--tasks=sawyer_window', '--agents=sac_her', '--seeds=0',
                '--env_steps=100000')
  assert job.run_dir == str(tmp_path / 'runs/sawyer_window/sac_her/seed_0')
  assert 'train_eval.num_iterations=90000' in bindings_of(job)


def test_an_offline_run_is_budgeted_in_train_steps(tmp_path):
  offline = ['--gin_bindings=include "gin/setups/gcsl.gin"',
             '--gin_bindings=include "gin/setups/offline.gin"',
             '--gin_bindings=train_eval.dataset="c_learning/point_mass-random-v0"']
  (job,) = plan(tmp_path, '--tasks=point_mass', '--agents=gcsl', '--seeds=0',
                '--train_steps=3000', '--eval_interval=500', *offline)
  assert 'train_eval.num_iterations=3000' in bindings_of(job)
  assert 'train_eval.eval_interval=500' in bindings_of(job)
  with pytest.raises(learning.UsageError, match='point_mass takes no env steps .an offline '
                     'run.: give its budget with --train_steps'):
    plan(tmp_path, '--tasks=point_mass', '--agents=gcsl', '--seeds=0', *offline)


@pytest.mark.parametrize('flags, message', [
    (['--tasks=sawyer_jump'], "--tasks: 'sawyer_jump' is unknown; allowed: "),
    (['--agents=c_learning,dqn'],
     "--agents: 'dqn' is unknown; allowed: c_learning, contrastive, gcsl, goal_bc, sac_her, td3_her, wgcsl."),
    (['--seeds=0,x'], "--seeds: 'x' is not a non-negative integer."),
    (['--seeds=1,1'], "--seeds='1,1': 1 is listed twice."),
    (['--env_steps=10000'], '--env_steps=10000: leaves no iteration after sawyer_reach\'s '
     'train_eval.initial_collect_steps=10000'),
    (['--parallel=0'], '--parallel=0: need at least 1.'),
    (['--variants=a b=x.y=1'], "--variants='a b=x.y=1': expected NAME=BINDING;BINDING..."),
    (['--variants=a=x.y'], "--variants='a=x.y': 'x.y' is not a gin binding KEY=VALUE."),
    (['--variants=a=', '--variants=a='], "--variants: 'a' is listed twice."),
    (['--gin_bindings=train_eval.random_seed=3'],
     "--gin_bindings: 'train_eval.random_seed=3' sets train_eval.random_seed, which --seeds sets"),
    (['--eval_interval=5', '--variants=v=train_eval.eval_interval=7'],
     '--variants=v: \'train_eval.eval_interval=7\' sets train_eval.eval_interval, which '
     '--eval_interval sets'),
    (['--gin_bindings=train_eval.no_such_knob=1'], 'sawyer_reach: gin config rejected: '),
])
def test_bad_flags_fail_with_one_line_naming_the_culprit(tmp_path, flags, message):
  with pytest.raises(learning.UsageError) as error:
    plan(tmp_path, '--tasks=sawyer_reach', *flags)
  assert message in str(error.value) and '\n' not in str(error.value)


def test_each_attempt_is_recorded_and_summed(tmp_path):
  command = [sys.executable, '-c', 'import sys; sys.exit(3)']
  job = local.Job('x', command, str(tmp_path / 'x'))
  assert [j.name for j in local.run_jobs([job], 1, out=open(os.devnull, 'w'),
                                         on_exit=learning.record_attempt)] == ['x']
  job = local.Job('x', [sys.executable, '-c', 'pass'], str(tmp_path / 'x'))
  assert local.run_jobs([job], 1, out=open(os.devnull, 'w'), on_exit=learning.record_attempt) == []
  record = learning.read_record(job.run_dir)
  assert [a['returncode'] for a in record['attempts']] == [3, 0]
  assert record['wall_clock_s'] == pytest.approx(sum(a['seconds'] for a in record['attempts']))
  assert record['command'] == job.argv


def test_an_attempt_killed_with_its_runner_keeps_its_seconds(tmp_path):
  # A session's end SIGKILLs the sweep, which never sees its runs end: the attempt must
  # already be in run.json, and the next attempt adds to it.
  run_dir = str(tmp_path / 'x')
  sweep = (f'import sys; sys.path.insert(0, {REPO!r})\n'
           'from tests import benchmark_scripts\n'
           'from c_learning.sweep import local\n'
           'learning = benchmark_scripts.load("learning")\n'
           f'job = local.Job("x", [sys.executable, "-c", "import time; time.sleep(60)"], {run_dir!r})\n'
           'local.run_jobs([job], 1, status_every=0.2, on_exit=learning.record_attempt,\n'
           '               on_progress=learning.record_attempt)\n')
  runner = subprocess.Popen([sys.executable, '-c', sweep], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL)
  try:
    deadline = time.time() + 60
    while time.time() < deadline:
      attempts = learning.read_record(run_dir).get('attempts', [])
      if attempts and attempts[-1]['seconds'] >= 1.0:
        break
      time.sleep(0.1)
  finally:
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
  (killed,) = learning.read_record(run_dir)['attempts']
  assert killed['returncode'] is None and killed['seconds'] >= 1.0
  job = local.Job('x', [sys.executable, '-c', 'pass'], run_dir)
  assert local.run_jobs([job], 1, out=open(os.devnull, 'w'), on_exit=learning.record_attempt,
                        on_progress=learning.record_attempt) == []
  record = learning.read_record(run_dir)
  assert [a['returncode'] for a in record['attempts']] == [None, 0]
  assert record['attempts'][0]['seconds'] >= killed['seconds']
  assert record['wall_clock_s'] == pytest.approx(sum(a['seconds'] for a in record['attempts']))


def test_a_finished_run_with_another_command_is_skipped_with_a_note(tmp_path):
  (job,) = plan(tmp_path, '--tasks=sawyer_reach', '--agents=sac_her', '--seeds=0',
                '--env_steps=20000')
  os.makedirs(job.run_dir)
  open(os.path.join(job.run_dir, local.DONE), 'w').close()
  old_command = [a.replace('num_iterations=10000', 'num_iterations=5000') for a in job.argv]
  with open(os.path.join(job.run_dir, learning.RUN_RECORD), 'w') as f:
    json.dump({'command': old_command}, f)
  out = io.StringIO()
  assert learning.run_all([job], 1, out=out) == []
  assert ('note: sawyer_reach/sac_her/seed_0 finished with another command (run.json); '
          'it is skipped.') in out.getvalue()
  assert '1 runs: 1 already finished, 0 to run' in out.getvalue()


# ---------------------------------------------------------------------------
# One real sweep.


@pytest.mark.slow
def test_a_real_tiny_sweep_and_a_second_call_that_skips_it(tmp_path):
  """point_mass, both agents, 2 seeds, 2 at a time, 400 iterations after 200 random steps."""
  out = tmp_path / 'bench'
  command = [
      sys.executable, SCRIPT, '--tasks=point_mass', '--agents=c_learning,sac_her',
      '--seeds=0,1', '--env_steps=600', '--parallel=2', f'--out={out}',
      '--eval_interval=200', '--num_eval_episodes=2',
      '--gin_bindings=goal_fn.relabel_next_prob=0.5',
      '--gin_bindings=goal_fn.relabel_future_prob=0.0',
      '--gin_bindings=train_eval.initial_collect_steps=200',
      '--gin_bindings=CLearningAgent.actor_fc_layers=(32, 32)',
      '--gin_bindings=CLearningAgent.critic_fc_layers=(32, 32)',
      '--gin_bindings=SacHerAgent.actor_fc_layers=(32, 32)',
      '--gin_bindings=SacHerAgent.critic_fc_layers=(32, 32)',
      '--gin_bindings=train_eval.batch_size=32',
      '--gin_bindings=train_eval.replay_buffer_capacity=2000']
  result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
  run_dirs = {f'{agent}/{seed}': out / 'runs' / 'point_mass' / agent / f'seed_{seed}'
              for agent in ('c_learning', 'sac_her') for seed in (0, 1)}
  logs = ''.join((d / local.LOG).read_text()[-2000:] for d in run_dirs.values()
                 if (d / local.LOG).exists())
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + logs
  assert 'done 4/4  running 0  failed 0' in result.stdout
  summary = json.loads(result.stdout.strip().splitlines()[-1])
  assert summary['failed'] == [] and summary['runs'] == 4

  with open(summary['csv']) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 4 * 3  # evals at 0, 200 and 400 iterations
  assert sorted({(r['agent'], r['seed']) for r in rows}) == [
      ('c_learning', '0'), ('c_learning', '1'), ('sac_her', '0'), ('sac_her', '1')]
  assert sorted({int(r['env_steps']) for r in rows}) == [200, 400, 600]
  for row in rows:
    assert 0.0 <= float(row['SuccessRate']) <= 1.0 and float(row['FinalDistance']) >= 0.0
    assert float(row['wall_clock_s']) > 0 and row['finished'] == 'True'

  (plot,) = summary['plots']
  assert os.path.basename(plot) == 'point_mass_curves.png'
  assert plt.imread(plot).shape[:2] == (320, 800)
  table = open(summary['markdown']).read()
  for agent in ('c_learning', 'sac_her'):
    assert f'| point_mass | {agent} | – | 2 | 600 |' in table
    assert f'| point_mass | {agent} | – | 2 | 600 |' in result.stdout
  # The rows are the evals in each run's records.jsonl.
  for name, run_dir in run_dirs.items():
    written = records.read(run_dir)
    assert (written[0]['kind'], written[-1]['kind']) == ('start', 'end')
    agent, seed = name.split('/')
    assert [int(r['train_step']) for r in rows if (r['agent'], r['seed']) == (agent, seed)] == (
        list(records.evals_by_step(written)))
  attempts = {name: learning.read_record(str(d)) for name, d in run_dirs.items()}
  assert all(len(r['attempts']) == 1 for r in attempts.values())

  log_sizes = {name: (d / local.LOG).stat().st_size for name, d in run_dirs.items()}
  start = time.time()
  again = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
  assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
  assert '4 runs: 4 already finished, 0 to run' in again.stdout
  assert {name: (d / local.LOG).stat().st_size for name, d in run_dirs.items()} == log_sizes
  assert {name: learning.read_record(str(d)) for name, d in run_dirs.items()} == attempts
  assert json.loads(again.stdout.strip().splitlines()[-1])['csv'] == summary['csv']
  assert time.time() - start < 60
