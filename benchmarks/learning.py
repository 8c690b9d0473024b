"""Learning curves: tasks x agents x seeds (x variants) for an env-step budget, K runs at a time.

    python benchmarks/learning.py --tasks=sawyer_reach,sawyer_window --agents=c_learning,sac_her \\
        --seeds=0,1,2 --env_steps=100000 --parallel=2 --out=~/bench/paper

Each run is `python -m c_learning.train_eval` on gin/<task>.gin (a task without a config of its
own, such as point_mass, gets gin/base.gin and train_eval.env_name; a path to a .gin file works
too) with the agent, seed and num_iterations = (env_steps - initial_collect_steps) //
collect_steps_per_iteration, both read from the run's gin config, so the budget includes the
random initial steps. Run directories are OUT/runs/<task>/<agent>[/<variant>]/seed_<n> (the
tree layout of c_learning/sweep, which expands the runs), each with train_eval.log (stdout
and stderr, appended across restarts), records.jsonl (train_eval's progress and evals),
run.json (the command and the wall-clock of each attempt, kept up to date while it runs:
a killed sweep loses at most a minute of it) and DONE once train_eval exits 0.
Start the same command again after a crash, Ctrl-C or kill: finished runs are skipped and the
others resume from their checkpoints (c_learning.sweep.local runs them, and stops them when
this script dies).

Variants sweep gin bindings on top of every task and agent, e.g. the next-state fraction of
SAC+HER's relabeling on reach (the rest random goals), with the final distance against it:

    python benchmarks/learning.py --tasks=sawyer_reach --agents=sac_her --out=~/bench/ratio \\
        --variants='next0.1=goal_fn.relabel_next_prob=0.1;goal_fn.relabel_future_prob=0.0' \\
        --variants='next0.3=goal_fn.relabel_next_prob=0.3;goal_fn.relabel_future_prob=0.0' \\
        --variant_x=goal_fn.relabel_next_prob

--eval_interval is in env steps, like --env_steps. The reports cover every run under the runs
directory, those of earlier calls and those still going included; --report_only rebuilds them
without running anything, and --runs_dir points at any <task>/<agent>[/<variant>]/seed_<n> tree:
  OUT/learning.csv         one row per run and eval (its records.jsonl): task, agent, variant,
                           seed, train_step, env_steps, every eval metric, the run's
                           wall-clock, finished
  OUT/<task>_curves.png    final distance (object distance where the task logs a subset) and
                           success rate over env steps: mean over seeds, band = min to max
  OUT/<task>_final_vs_<param>.png  with --variant_x, where the task's runs have two or more
                           values of that gin parameter (read from each run's operative.gin):
                           the last eval's distance and success rate against it, a dot
                           per seed
  OUT/results.md           a table, a row per task/agent/variant (printed too), and the plots
The last line printed is one JSON object naming the files written.

Disk: train_eval keeps two checkpoints per run with the replay buffer (resuming needs it);
each grows with the transitions stored: for sawyer_reach about 3 MB plus 96 bytes a
transition, so about 100 MB each once the default 1M-transition buffer is full; more for
tasks with wider observations. Nothing is deleted.
"""
import argparse
import csv
import datetime
import fnmatch
import glob
import json
import os
import re
import sys
import time

import gin
from gin import config_parser
import matplotlib
matplotlib.use('Agg')  # files only; never a display
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf

# pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import agents
from c_learning import config
from c_learning import envs
from c_learning import records
from c_learning import registry
from c_learning import train_eval  # its configurable and its arguments as gin sets them
from c_learning.sweep import layout
from c_learning.sweep import local
from c_learning.sweep import spec as spec_lib

RUN_RECORD = 'run.json'
CSV_NAME = 'learning.csv'
MARKDOWN_NAME = 'results.md'
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
_RUN_COLUMNS = ('task', 'agent', 'variant', 'seed', 'train_step', 'env_steps')
_ENV_STEP_PARAMETERS = ('train_eval.initial_collect_steps',
                        'train_eval.collect_steps_per_iteration',
                        'train_eval.train_steps_per_iteration')


class UsageError(ValueError):
  """Bad command-line input; the message names the culprit and what is allowed."""


# ---------------------------------------------------------------------------
# Command line.


def parse_args(argv):
  """The command-line flags."""
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--tasks', default='sawyer_reach,sawyer_window',
                      help='comma-separated: shipped tasks (gin/<task>.gin), other env names '
                      '(gin/base.gin + train_eval.env_name) or .gin paths')
  parser.add_argument('--agents', default='c_learning,sac_her', help='comma-separated')
  parser.add_argument('--seeds', default='0,1,2', help='comma-separated')
  parser.add_argument('--env_steps', type=int, default=100_000,
                      help='env steps a run takes, its random initial steps included')
  parser.add_argument('--train_steps', type=int, default=None,
                      help='train steps a run takes where its config takes no env steps '
                      '(offline runs, gin/setups/offline.gin); --eval_interval then counts '
                      'train steps')
  parser.add_argument('--parallel', type=int, default=2, help='runs at a time')
  parser.add_argument('--out', required=True, help='where the reports go')
  parser.add_argument('--runs_dir', default=None, help='run directories (default: OUT/runs)')
  parser.add_argument('--eval_interval', type=int, default=None,
                      help='env steps between evaluations (default: the config\'s)')
  parser.add_argument('--num_eval_episodes', type=int, default=None,
                      help='episodes an evaluation (default: the config\'s)')
  parser.add_argument('--gin_bindings', action='append', default=[],
                      help='a gin binding for every run; repeatable')
  parser.add_argument('--variants', action='append', default=[],
                      help='NAME=BINDING;BINDING...: runs every task/agent/seed once per '
                      'variant with these bindings; repeatable')
  parser.add_argument('--variant_x', default=None,
                      help='a gin parameter (e.g. goal_fn.relabel_next_prob): also plot the '
                      'final distance against its value in each run')
  parser.add_argument('--report_only', action='store_true',
                      help='run nothing: rebuild the reports from the runs directory')
  parser.add_argument('--select', action='append', default=[],
                      help='report only the runs whose <task>/<agent>[/<variant>] matches this '
                      'shell pattern (e.g. "sawyer_reach/sac_her/next*"); repeatable')
  parser.add_argument('--python', default=sys.executable, help='interpreter for the runs')
  return parser.parse_args(argv)


def parse_list(text, flag, cast=str):
  """A comma-separated flag value as a list of distinct items, each passed through cast."""
  items = [item.strip() for item in text.split(',') if item.strip()]
  if not items:
    raise UsageError(f'--{flag}={text!r}: give a non-empty comma-separated list.')
  values = [cast(item) for item in items]
  check_unique(values, f'--{flag}={text!r}')
  return values


def check_unique(values, where):
  """Fails if a value is listed twice."""
  for value in values:
    if values.count(value) > 1:
      raise UsageError(f'{where}: {value!r} is listed twice.')


def parse_seed(text):
  """A seed: a non-negative integer."""
  if not text.isdigit():
    raise UsageError(f'--seeds: {text!r} is not a non-negative integer.')
  return int(text)


def parse_agent(name):
  """An agent name that the agent factory knows."""
  if name not in agents.AGENTS:
    raise UsageError(f'--agents: {name!r} is unknown; allowed: '
                     f'{", ".join(sorted(agents.AGENTS))}.')
  return name


def parse_task(name):
  """A spec Task from a shipped task name, another registered env name, or a .gin path."""
  if name.endswith('.gin'):
    if not os.path.isfile(name):
      raise UsageError(f'--tasks: {name}: no such gin file.')
    stem = os.path.splitext(os.path.basename(name))[0]
    if not _NAME.match(stem):
      raise UsageError(f'--tasks: {name}: the file name must be letters, digits, ".", "_", "-" '
                       '(it names the run directories).')
    return spec_lib.Task(stem, (os.path.abspath(name),))
  if name in spec_lib.shipped_tasks():
    return spec_lib.Task(name, (os.path.join('gin', name + '.gin'),))
  if name in envs.ENV_NAMES:
    # No config of its own: the paper's shared settings, with the env named.
    return spec_lib.Task(name, (os.path.join('gin', 'base.gin'),),
                         (f'train_eval.env_name="{name}"',))
  raise UsageError(f'--tasks: {name!r} is unknown; allowed: '
                   f'{", ".join(sorted(set(spec_lib.shipped_tasks()) | set(envs.ENV_NAMES)))} '
                   'or a path to a .gin file.')


def parse_variant(text):
  """A spec Variant from 'NAME=KEY=VALUE;KEY=VALUE' (no bindings is allowed: a baseline)."""
  name, sep, rest = text.partition('=')
  name = name.strip()
  if not sep or not _NAME.match(name) or name.startswith('seed_'):
    raise UsageError(f'--variants={text!r}: expected NAME=BINDING;BINDING... with NAME made of '
                     'letters, digits, ".", "_", "-" and not starting with seed_.')
  bindings = tuple(b.strip() for b in rest.split(';') if b.strip())
  for binding in bindings:
    if '=' not in binding:
      raise UsageError(f'--variants={text!r}: {binding!r} is not a gin binding KEY=VALUE.')
  return spec_lib.Variant(name, bindings)


def check_reserved(bindings, where, reserved):
  """Fails if a binding sets a parameter that one of this script's flags sets."""
  for binding in bindings:
    key = binding.split('=', 1)[0].strip()
    if key in reserved:
      raise UsageError(f'{where}: {binding!r} sets {key}, which {reserved[key]} sets; '
                       'remove the binding.')


def reserved_keys(args):
  """{gin parameter: the flag that sets it} for this invocation."""
  reserved = {'train_eval.agent_name': '--agents', 'train_eval.random_seed': '--seeds',
              'train_eval.num_iterations': '--env_steps (--train_steps offline)'}
  if args.eval_interval is not None:
    reserved['train_eval.eval_interval'] = '--eval_interval'
  if args.num_eval_episodes is not None:
    reserved['train_eval.num_eval_episodes'] = '--num_eval_episodes'
  return reserved


def check_numbers(args):
  """Fails on a budget, parallelism or eval setting that cannot work."""
  if args.parallel < 1:
    raise UsageError(f'--parallel={args.parallel}: need at least 1.')
  if args.env_steps < 1:
    raise UsageError(f'--env_steps={args.env_steps}: need at least 1.')
  if args.train_steps is not None and args.train_steps < 1:
    raise UsageError(f'--train_steps={args.train_steps}: need at least 1.')
  if args.eval_interval is not None and args.eval_interval < 1:
    raise UsageError(f'--eval_interval={args.eval_interval}: need at least 1 env step.')
  if args.num_eval_episodes is not None and args.num_eval_episodes < 1:
    raise UsageError(f'--num_eval_episodes={args.num_eval_episodes}: the curves need '
                     'evaluations; give at least 1.')


# ---------------------------------------------------------------------------
# Planning and running.


def collect_schedule(gin_files, bindings, where):
  """(initial_collect_steps, collect_steps_per_iteration, train_steps_per_iteration) of a run's gin config."""
  gin.clear_config()
  try:
    registry.register_configurables()
    config.parse([os.path.join(spec_lib.ROOT, f) for f in gin_files], list(bindings))
    arguments = train_eval.configured_arguments()
  except config.ConfigError as error:
    raise UsageError(f'{where}: {config.first_line(error)}') from error
  finally:
    gin.clear_config()
  return tuple(int(arguments[name]) for name in (
      'initial_collect_steps', 'collect_steps_per_iteration', 'train_steps_per_iteration'))


def iterations_for(env_steps, initial, per_iteration, where):
  """Iterations that take a run to at most env_steps env steps, the initial ones included."""
  iterations = (env_steps - initial) // per_iteration
  if iterations < 1:
    raise UsageError(f'--env_steps={env_steps}: leaves no iteration after {where}\'s '
                     f'train_eval.initial_collect_steps={initial} random steps '
                     f'({per_iteration} env steps an iteration); the budget includes them.')
  return iterations


def parse_sweep(args):
  """(tasks, agents, seeds, variants) from the flags, every one checked."""
  check_numbers(args)
  tasks = [parse_task(t) for t in parse_list(args.tasks, 'tasks')]
  check_unique([t.name for t in tasks], '--tasks')
  agent_names = parse_list(args.agents, 'agents', parse_agent)
  seeds = parse_list(args.seeds, 'seeds', parse_seed)
  variants = [parse_variant(v) for v in args.variants] or [spec_lib.Variant()]
  check_unique([v.name for v in variants], '--variants')
  reserved = reserved_keys(args)
  check_reserved(args.gin_bindings, '--gin_bindings', reserved)
  for variant in variants:
    check_reserved(variant.bindings, f'--variants={variant.name}', reserved)
  return tasks, agent_names, seeds, variants


def budget_bindings(args, task, variant, bindings):
  """The bindings this script adds to a task/variant's: its iterations, eval interval, episodes."""
  where = task.name + (f', variant {variant.name}' if variant.name else '')
  initial, per_iteration, train_per_iteration = collect_schedule(task.gin_files, bindings, where)
  if per_iteration == 0:  # offline: the budget is in train steps
    if args.train_steps is None:
      raise UsageError(f'{where} takes no env steps (an offline run): give its budget with '
                       '--train_steps.')
    iterations = max(1, args.train_steps // train_per_iteration)
    interval_unit = train_per_iteration
  else:
    iterations = iterations_for(args.env_steps, initial, per_iteration, where)
    interval_unit = per_iteration
  ours = [f'train_eval.num_iterations={iterations}']
  if args.eval_interval is not None:
    ours.append(f'train_eval.eval_interval={max(1, args.eval_interval // interval_unit)}')
  if args.num_eval_episodes is not None:
    ours.append(f'train_eval.num_eval_episodes={args.num_eval_episodes}')
  return ours


def plan_sweep(args):
  """The flags' sweep: task x variant x agent x seed in the tree layout, seeds outermost."""
  tasks, agent_names, seeds, variants = parse_sweep(args)
  # build parses every config (budget_bindings) before anything runs, so a bad binding
  # stops the sweep at once.
  sweep = spec_lib.build(
      'learning', tasks, agent_names, seeds, bindings=args.gin_bindings, variants=variants,
      layout='tree', derive=lambda task, variant, bindings: budget_bindings(
          args, task, variant, bindings))
  # Seeds outermost: when a sweep is cut short, every task and agent has its first seeds.
  return spec_lib.Sweep(sweep.name, tuple(sorted(sweep.runs, key=lambda r: seeds.index(r.seed))))


def plan_jobs(args, runs_dir):
  """One local.Job a run, in runs_dir/<task>/<agent>[/<variant>]/seed_<n>."""
  return local.jobs_for(plan_sweep(args), runs_dir, args.python)


def read_record(run_dir):
  """The run's run.json as a dict ({} if absent or unreadable)."""
  try:
    with open(os.path.join(run_dir, RUN_RECORD)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def record_attempt(job):
  """Writes the job's attempt into run_dir/run.json: command, start, seconds, exit status.

  Called when the attempt starts, at each status line and when it ends, each time
  replacing the attempt's entry (known by its start): an attempt killed with its runner
  keeps the seconds of its last status line, with returncode None.
  """
  record = read_record(job.run_dir)
  started = datetime.datetime.fromtimestamp(job.started).isoformat(timespec='milliseconds')
  until = job.ended if job.ended is not None else time.time()
  attempts = [a for a in record.get('attempts', []) if a['started'] != started] + [{
      'started': started,
      'seconds': round(until - job.started, 1),
      'returncode': job.returncode}]
  record = {'command': job.argv, 'attempts': attempts,
            'wall_clock_s': round(sum(a['seconds'] for a in attempts), 1)}
  path = os.path.join(job.run_dir, RUN_RECORD)
  with open(path + '.tmp', 'w') as f:
    json.dump(record, f, indent=1)
  os.replace(path + '.tmp', path)  # a crash mid-write never leaves half a record


def note_changed_commands(jobs, out):
  """Says which finished runs were run with another command: they are skipped all the same."""
  for job in jobs:
    recorded = read_record(job.run_dir).get('command')
    done = os.path.exists(os.path.join(job.run_dir, local.DONE))
    # argv[0] is the interpreter, which may move without changing the run.
    if done and recorded and recorded[1:] != job.argv[1:]:
      print(f'note: {job.name} finished with another command ({RUN_RECORD}); it is skipped. '
            f'Delete its {local.DONE} to continue it from its checkpoint with this one.',
            file=out)


def run_all(jobs, parallel, out=None):
  """Runs the unfinished jobs `parallel` at a time; returns the labels of the failed ones."""
  out = out or sys.stdout
  note_changed_commands(jobs, out)
  failed = local.run_jobs(jobs, parallel, cwd=spec_lib.ROOT, status_every=60.0, out=out,
                          on_exit=record_attempt, on_progress=record_attempt)
  return [job.name for job in failed]


# ---------------------------------------------------------------------------
# Reading runs.


def discover_runs(runs_dir):
  """Every runs_dir/<task>/<agent>[/<variant>]/seed_<n> directory (layout.TreeRun), sorted."""
  return layout.tree_runs(runs_dir)


def read_evals(run_dir):
  """{train_step: (env_steps, {metric: value})} of a run's evals, in train step order."""
  written = records.read(run_dir)
  evals = {step: (record['env_steps'], record['metrics'])
           for step, record in records.evals_by_step(written).items()}
  # Runs made before train_eval wrote records.jsonl (those behind docs/results/) have their
  # evals only in event files, and one of them resumed since has records from then on only:
  # the event files fill in what the records do not cover.
  start = next((r for r in written if r['kind'] == 'start'), None)
  if start is None or start['resumed']:
    before = start['train_step'] if start else float('inf')
    evals = dict(sorted({**{step: value for step, value in _evals_from_events(run_dir).items()
                            if step < before}, **evals}.items()))
  return evals


def _evals_from_events(run_dir):
  """read_evals' answer from run_dir/eval's event files and the env steps operative.gin implies."""
  scalars = read_scalars(os.path.join(run_dir, 'eval'))
  operative = read_operative(run_dir)
  if not scalars or not all(name in operative for name in _ENV_STEP_PARAMETERS):
    return {}
  metrics = {tag[len('Metrics/'):] if tag.startswith('Metrics/') else tag: by_step
             for tag, by_step in scalars.items()}
  steps = sorted({step for by_step in metrics.values() for step in by_step})
  return {step: (env_steps_at(step, operative),
                 {name: by_step[step] for name, by_step in metrics.items() if step in by_step})
          for step in steps}


def read_scalars(log_dir):
  """{tag: {step: value}} from log_dir's event files; a repeated step keeps its latest value."""
  # A resumed run evaluates again at steps it had reached before it was killed.
  latest = {}
  for path in sorted(glob.glob(os.path.join(log_dir, 'events.out.tfevents.*'))):
    for event in _events(path):
      for value in event.summary.value:
        number = _scalar(value)
        key = (value.tag, event.step)
        if number is not None and (key not in latest or event.wall_time >= latest[key][0]):
          latest[key] = (event.wall_time, number)
  scalars = {}
  for (tag, step), (_, number) in sorted(latest.items()):
    scalars.setdefault(tag, {})[step] = number
  return scalars


def _events(path):
  """The events of one file, stopping quietly at a record still being written."""
  try:
    yield from tf.compat.v1.train.summary_iterator(path)
  except tf.errors.DataLossError:
    return


def _scalar(value):
  """A summary value as a float, or None if it is not a scalar."""
  if value.HasField('simple_value'):
    return float(value.simple_value)
  if value.HasField('tensor'):
    array = tf.make_ndarray(value.tensor)
    if array.size == 1 and np.issubdtype(array.dtype, np.number):
      return float(array.reshape(()))
  return None


def read_operative(run_dir):
  """{'[scope/]configurable.parameter': value} of run_dir/operative.gin, read by gin's parser.

  Nothing is bound, so a run made by an older version (whose parameters may since have
  moved) still reads. References and macros are kept as text ('@network', '%MACRO').
  """
  try:
    with open(os.path.join(run_dir, 'operative.gin')) as f:
      text = f.read()
  except OSError:
    return {}
  values = {}
  for statement in config_parser.ConfigParser(text, _TextReferences()):
    if isinstance(statement, config_parser.BindingStatement) and statement.arg_name:
      key = f'{statement.selector}.{statement.arg_name}'
      values[f'{statement.scope}/{key}' if statement.scope else key] = statement.value
  return values


class _TextReferences(config_parser.ParserDelegate):
  """Gin references and macros as the text that names them."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return f'@{scoped_configurable_name}' + ('()' if evaluate else '')

  def macro(self, macro_name):
    return f'%{macro_name}'


def env_steps_at(train_step, operative):
  """Env steps a run has taken at a train step: the initial steps, then so many an iteration."""
  initial = operative['train_eval.initial_collect_steps']
  per_iteration = operative['train_eval.collect_steps_per_iteration']
  train_per_iteration = operative['train_eval.train_steps_per_iteration']
  return initial + (train_step // train_per_iteration) * per_iteration


def run_rows(run, variant_x=None):
  """One row per eval of a run (dicts of the CSV columns); [] before its first eval."""
  evals = read_evals(run.path)
  if not evals:
    return []
  x = read_operative(run.path).get(variant_x) if variant_x else None
  wall_clock = read_record(run.path).get('wall_clock_s')
  finished = os.path.exists(os.path.join(run.path, local.DONE))
  rows = []
  for step, (env_steps, metrics) in evals.items():
    row = dict(task=run.task, agent=run.agent, variant=run.variant, seed=run.seed,
               train_step=step, env_steps=env_steps)
    if variant_x:
      row[variant_x] = x
    row.update(metrics)
    row.update(wall_clock_s=wall_clock, finished=finished)
    rows.append(row)
  return rows


# ---------------------------------------------------------------------------
# Aggregation.


def group_rows(rows):
  """{task: {(agent, variant): {seed: [rows in step order]}}}."""
  groups = {}
  for row in sorted(rows, key=lambda r: r['train_step']):
    by_seed = groups.setdefault(row['task'], {}).setdefault((row['agent'], row['variant']), {})
    by_seed.setdefault(row['seed'], []).append(row)
  return groups


def primary_metric(task_groups):
  """The object distance where the task logs a subset, else the final distance."""
  for by_seed in task_groups.values():
    for rows in by_seed.values():
      if any(row.get('SubsetFinalDistance') is not None for row in rows):
        return 'SubsetFinalDistance'
  return 'FinalDistance'


def is_offline(by_seed):
  """Whether a group's runs took no env steps (trained from a dataset): its x axis is train steps."""
  return all(row['env_steps'] == 0 for rows in by_seed.values() for row in rows)


def curve(by_seed, metric):
  """(env steps, or train steps offline, mean, min, max, seeds) over the seeds that logged metric at each."""
  x_column = 'train_step' if is_offline(by_seed) else 'env_steps'
  values = {}
  for rows in by_seed.values():
    for row in rows:
      if row.get(metric) is not None:
        values.setdefault(row[x_column], []).append(row[metric])
  steps = sorted(values)
  return (np.array(steps), *(np.array([f(values[s]) for s in steps])
                             for f in (np.mean, np.min, np.max, len)))


def finals(by_seed, metric):
  """{seed: the metric at that seed's last eval that logged it}."""
  result = {}
  for seed, rows in sorted(by_seed.items()):
    logged = [row[metric] for row in rows if row.get(metric) is not None]
    if logged:
      result[seed] = logged[-1]
  return result


def bests(by_seed, metric):
  """{seed: the highest value of metric over that seed's evals}."""
  result = {}
  for seed, rows in sorted(by_seed.items()):
    logged = [row[metric] for row in rows if row.get(metric) is not None]
    if logged:
      result[seed] = max(logged)
  return result


def x_value(by_seed, variant_x):
  """The group's numeric value of variant_x (from its first run's operative.gin), or None."""
  for rows in by_seed.values():
    value = rows[0].get(variant_x)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return float(value)
  return None


# ---------------------------------------------------------------------------
# Reports.


def write_csv(rows, path, variant_x=None):
  """learning.csv: the run columns, [variant_x], every metric (sorted), wall-clock, finished."""
  fixed = set(_RUN_COLUMNS) | {variant_x, 'wall_clock_s', 'finished'}
  metrics = sorted({key for row in rows for key in row} - fixed)
  columns = (list(_RUN_COLUMNS[:3]) + ([variant_x] if variant_x else []) + list(_RUN_COLUMNS[3:])
             + metrics + ['wall_clock_s', 'finished'])
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=columns, restval='')
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r['task'], r['agent'], r['variant'], r['seed'],
                                           r['train_step'])):
      writer.writerow({k: ('' if v is None else v) for k, v in row.items()})
  return path


def _label(agent, variant):
  """A plot legend's name of an agent/variant."""
  return agent + (f'/{variant}' if variant else '')


_AXIS_LABELS = {'FinalDistance': 'final distance to goal',
                'SubsetFinalDistance': 'final object distance'}


def plot_curves(task, task_groups, path):
  """<task>_curves.png: the primary distance and success rate over env steps."""
  metric = primary_metric(task_groups)
  figure, (distance_axis, success_axis) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
  for index, ((agent, variant), by_seed) in enumerate(sorted(task_groups.items())):
    label = f'{_label(agent, variant)} ({len(by_seed)} seed{"s" * (len(by_seed) > 1)})'
    for axis, name in ((distance_axis, metric), (success_axis, 'SuccessRate')):
      steps, mean, low, high, _ = curve(by_seed, name)
      if len(steps):
        axis.plot(steps, mean, color=f'C{index}', label=label, linewidth=1.5)
        axis.fill_between(steps, low, high, color=f'C{index}', alpha=0.2, linewidth=0)
  x_label = ('train steps (offline)' if all(is_offline(g) for g in task_groups.values())
             else 'env steps')
  distance_axis.set(xlabel=x_label, ylabel=_AXIS_LABELS.get(metric, metric))
  distance_axis.set_ylim(bottom=0)
  success_axis.set(xlabel=x_label, ylabel='success rate', ylim=(-0.03, 1.03))
  success_axis.legend(fontsize=7, loc='best')
  figure.suptitle(f'{task}: eval mean over seeds, band = min to max', fontsize=10)
  return _save(figure, path)


def plot_final_vs_x(task, task_groups, variant_x, path):
  """<task>_final_vs_<param>.png: the last eval's distance and success rate against variant_x.

  Returns None, drawing nothing, where the task's runs have fewer than two values of it.
  """
  metric = primary_metric(task_groups)
  lines = {}
  for (agent, _), by_seed in task_groups.items():
    x = x_value(by_seed, variant_x)
    if x is not None and finals(by_seed, metric):
      lines.setdefault(agent, []).append((x, by_seed))
  if len({x for points in lines.values() for x, _ in points}) < 2:
    return None
  figure, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
  for axis, name in zip(axes, (metric, 'SuccessRate')):
    for index, (agent, points) in enumerate(sorted(lines.items(), key=lambda item: item[0])):
      values = [(x, list(finals(by_seed, name).values()))
                for x, by_seed in sorted(points, key=lambda point: point[0])]
      axis.plot([x for x, _ in values], [np.mean(v) for _, v in values], color=f'C{index}',
                marker='o', label=f'{agent} (mean)')
      for x, seeds in values:
        axis.scatter([x] * len(seeds), seeds, color=f'C{index}', s=12, alpha=0.5)
  axes[0].set(xlabel=variant_x, ylabel=f'last eval: {_AXIS_LABELS.get(metric, metric)}')
  axes[0].set_ylim(bottom=0)
  axes[1].set(xlabel=variant_x, ylabel='last eval: success rate', ylim=(-0.03, 1.03))
  axes[1].legend(fontsize=7)
  figure.suptitle(f'{task}: mean over seeds, a dot per seed', fontsize=10)
  return _save(figure, path)


def _save(figure, path):
  """Writes a figure to path, frees it, and returns path."""
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)
  return path


def _mean_std(values, digits):
  """'mean ± sample std' ('mean' alone for one value, '–' for none)."""
  if not values:
    return '–'
  if len(values) == 1:
    return f'{values[0]:.{digits}f}'
  return f'{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}'


def _duration(seconds):
  """Seconds as '45 s', '12.5 min' or '3.20 h'."""
  if seconds < 120:
    return f'{seconds:.0f} s'
  if seconds < 7200:
    return f'{seconds / 60:.1f} min'
  return f'{seconds / 3600:.2f} h'


def table_row(task, agent, variant, by_seed):
  """One markdown table row of a task/agent/variant."""
  column = 'train_step' if is_offline(by_seed) else 'env_steps'
  reached = [rows[-1][column] for rows in by_seed.values()]
  success = finals(by_seed, 'SuccessRate')
  cells = [
      task, agent, variant or '–', str(len(by_seed)),
      ('offline, train steps ' if column == 'train_step' else '') + f'{min(reached):,}'
      + (f'–{max(reached):,}' if max(reached) != min(reached) else ''),
      _mean_std(list(finals(by_seed, 'FinalDistance').values()), 3),
      _mean_std(list(finals(by_seed, 'SubsetFinalDistance').values()), 3),
      _mean_std(list(success.values()), 2),
      ' / '.join(f'{v:.2f}' for v in success.values()) or '–',
      _mean_std(list(bests(by_seed, 'SuccessRate').values()), 2),
      _mean_std(list(finals(by_seed, 'SparseReturn').values()), 1),
      _wall_clock(by_seed),
  ]
  return '| ' + ' | '.join(cells) + ' |'


def _wall_clock(by_seed):
  """Mean wall-clock of the finished runs, saying how many they are when not all."""
  seconds = [rows[-1]['wall_clock_s'] for rows in by_seed.values()
             if rows[-1]['finished'] and rows[-1]['wall_clock_s'] is not None]
  if not seconds:
    return '–'
  partial = f' ({len(seconds)} of {len(by_seed)} runs)' if len(seconds) < len(by_seed) else ''
  return _duration(np.mean(seconds)) + partial


_TABLE_HEADER = ('| task | agent | variant | seeds | env steps | final distance | '
                 'final object distance | final success | success per seed | best success | '
                 'final sparse return | wall-clock per run |\n' + '| --- ' * 4 + '| ---: ' * 8
                 + '|')


def markdown(groups, plots, runs_dir):
  """results.md: what the columns mean, the table, then the plots."""
  lines = [
      '# Learning benchmark', '',
      f'Runs: `{runs_dir}`. Each figure is from the last evaluation of each seed: mean ± sample '
      'std over seeds. Final distance: hand (or hand and object) to goal; final object '
      'distance: the task\'s log_subset (e.g. the window handle). Success per seed in seed '
      'order; best success: each seed\'s highest eval success rate, averaged; sparse return: '
      'steps of an eval episode within the success threshold (the WGCSL paper\'s metric). '
      'Offline runs (no env steps) count train steps. Wall-clock: '
      'mean over finished runs, summed over restarts. Env steps include the random initial '
      'steps.', '', _TABLE_HEADER]
  for task, task_groups in sorted(groups.items()):
    for (agent, variant), by_seed in sorted(task_groups.items()):
      lines.append(table_row(task, agent, variant, by_seed))
  lines.append('')
  for plot in plots:
    lines += [f'![{os.path.basename(plot)}]({os.path.basename(plot)})', '']
  return '\n'.join(lines)


def select_runs(runs, patterns):
  """The runs whose '<task>/<agent>[/<variant>]' matches one of the shell patterns (all if none)."""
  if not patterns:
    return runs
  return [run for run in runs
          if any(fnmatch.fnmatchcase(layout.run_name('tree', run.task, run.agent, run.variant,
                                                     run.seed).rsplit('/', 1)[0], pattern)
                 for pattern in patterns)]


def build_report(runs_dir, out_dir, variant_x=None, select=()):
  """Writes the CSV, the plots and results.md from runs_dir's (selected) runs; returns what it wrote."""
  runs = select_runs(discover_runs(runs_dir), select)
  rows_by_run = {run: run_rows(run, variant_x) for run in runs}
  rows = [row for run_rows_ in rows_by_run.values() for row in run_rows_]
  os.makedirs(out_dir, exist_ok=True)
  groups = group_rows(rows)
  plots = []
  for task, task_groups in sorted(groups.items()):
    plots.append(plot_curves(task, task_groups, os.path.join(out_dir, f'{task}_curves.png')))
    if variant_x:
      short = re.split(r'[./]', variant_x)[-1]
      plot = plot_final_vs_x(task, task_groups, variant_x,
                             os.path.join(out_dir, f'{task}_final_vs_{short}.png'))
      if plot:
        plots.append(plot)
  text = markdown(groups, plots, runs_dir)
  markdown_path = os.path.join(out_dir, MARKDOWN_NAME)
  with open(markdown_path, 'w') as f:
    f.write(text + '\n')
  return dict(csv=write_csv(rows, os.path.join(out_dir, CSV_NAME), variant_x),
              markdown=markdown_path, plots=plots, text=text, runs=len(runs),
              without_evals=[run.path for run, r in rows_by_run.items() if not r])


# ---------------------------------------------------------------------------


def main(argv=None):
  """Runs the sweep (unless --report_only), writes the reports; returns the exit status."""
  args = parse_args(argv)
  out_dir = os.path.abspath(os.path.expanduser(args.out))
  runs_dir = os.path.abspath(os.path.expanduser(args.runs_dir or os.path.join(out_dir, 'runs')))
  failed = []
  try:
    if not args.report_only:
      jobs = plan_jobs(args, runs_dir)
      failed = run_all(jobs, args.parallel)
    elif not os.path.isdir(runs_dir):
      raise UsageError(f'--report_only: {runs_dir} does not exist (give --out or --runs_dir).')
  except UsageError as error:
    sys.exit(f'learning.py: error: {error}')
  except KeyboardInterrupt:
    sys.exit(130)  # the runner has stopped the runs; the same command resumes them
  report = build_report(runs_dir, out_dir, args.variant_x, args.select)
  print(report.pop('text'), flush=True)
  for path in report['without_evals']:
    print(f'no evaluation yet: {path}')
  print(json.dumps(dict(report, failed=failed)))
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
