"""A study's report: every eval of every run of its specs as one CSV, its curves, its specs and the commits it ran.

launch/report.py is the command; a study is one or more specs run into one root
(launch/sweep.py), and its report folder (docs/results/<study>/) holds:
  learning.csv  one row per eval of every run (the last eval at each train step of
                the run's current history, c_learning.records.evals_by_step), with
                the run's wall-clock so far and whether it finished;
  runs.csv      one row per run: how far it got, its wall-clock, the commits it ran at;
  <spec files>  copies of the specs, as run;
  curves.png    success and final distance against env steps, per task: the mean over
                seeds of each (agent, variant), each seed's curve faint behind it.
"""
import csv
import os
import shutil

from c_learning import records as records_lib

RUN_COLUMNS = ('run', 'task', 'agent', 'variant', 'seed')
# The curves' panels: the metrics every goal-reaching eval reports.
CURVE_METRICS = ('SuccessRate', 'FinalDistance')


def wall_clock_seconds(records):
  """Seconds the run's processes ran: each from its start record to its last record."""
  total, started, last = 0.0, None, None
  for record in records:
    if record['kind'] == 'start':
      if started is not None:
        total += last - started
      started = record['time']
    last = record['time']
  if started is not None:
    total += last - started
  return round(total, 1)


def commits(records):
  """The distinct commits the run's processes started at, in order (None for records without one)."""
  seen = []
  for record in records:
    if record['kind'] == 'start' and record.get('commit') not in seen:
      seen.append(record.get('commit'))
  return seen


def _run_fields(run):
  return {'run': run.name, 'task': run.task, 'agent': run.agent, 'variant': run.variant,
          'seed': run.seed}


def eval_rows(sweeps, root):
  """(metric names, rows): every eval of every run of `sweeps` under `root`, as dicts."""
  rows, metrics = [], set()
  for sweep in sweeps:
    for run in sweep.runs:
      records = records_lib.read(run.run_dir(root))
      finished = any(r['kind'] == 'end' for r in records)
      wall_clock = wall_clock_seconds(records)
      for step, record in records_lib.evals_by_step(records).items():
        metrics.update(record['metrics'])
        rows.append({**_run_fields(run), 'train_step': step, 'env_steps': record['env_steps'],
                     **record['metrics'], 'wall_clock_s': wall_clock, 'finished': finished})
  return sorted(metrics), rows


def run_rows(sweeps, root):
  """One dict per run: where it got to (train step, env steps), its wall-clock, finished, commits."""
  rows = []
  for sweep in sweeps:
    for run in sweep.runs:
      records = records_lib.read(run.run_dir(root))
      latest = records_lib.latest_progress(records) or {}
      rows.append({**_run_fields(run), 'train_step': latest.get('train_step'),
                   'env_steps': latest.get('env_steps'),
                   'wall_clock_s': wall_clock_seconds(records),
                   'finished': any(r['kind'] == 'end' for r in records),
                   'commits': ' '.join(str(c) for c in commits(records))})
  return rows


def _write_csv(path, columns, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction='ignore')
    writer.writeheader()
    writer.writerows(rows)


def plot_curves(rows, path):
  """curves.png: per task (a row of panels), each CURVE_METRICS panel's curves against env steps."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')  # files only; never a display
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  tasks = sorted({row['task'] for row in rows})
  figure, axes = plt.subplots(len(tasks), len(CURVE_METRICS), squeeze=False,
                              figsize=(5 * len(CURVE_METRICS), 3.5 * len(tasks)))
  for task_axes, task in zip(axes, tasks):
    groups = {}
    for row in rows:
      if row['task'] == task:
        groups.setdefault((row['agent'], row['variant']), {}).setdefault(row['seed'], []).append(row)
    for axis, metric in zip(task_axes, CURVE_METRICS):
      for index, ((agent, variant), by_seed) in enumerate(sorted(groups.items())):
        color = f'C{index}'
        for seed_rows in by_seed.values():
          axis.plot([r['env_steps'] for r in seed_rows], [r.get(metric) for r in seed_rows],
                    color=color, alpha=0.25, linewidth=1)
        steps = sorted({r['env_steps'] for seed_rows in by_seed.values() for r in seed_rows})
        means = []
        for step in steps:
          values = [r[metric] for seed_rows in by_seed.values() for r in seed_rows
                    if r['env_steps'] == step and r.get(metric) is not None]
          means.append(sum(values) / len(values) if values else None)
        label = agent + (f' ({variant})' if variant else '') + f', {len(by_seed)} seeds'
        axis.plot(steps, means, color=color, linewidth=2, label=label)
      axis.set_title(f'{task}: {metric}')
      axis.set_xlabel('env steps')
      axis.legend(fontsize=7)
  figure.tight_layout()
  figure.savefig(path, dpi=80)
  plt.close(figure)


def write(spec_paths, sweeps, root, out_dir):
  """Writes the report of `sweeps` (loaded from spec_paths) run under `root` into out_dir; returns the eval rows."""
  os.makedirs(out_dir, exist_ok=True)
  for spec_path in spec_paths:
    shutil.copyfile(spec_path, os.path.join(out_dir, os.path.basename(spec_path)))
  metrics, rows = eval_rows(sweeps, root)
  _write_csv(os.path.join(out_dir, 'learning.csv'),
             RUN_COLUMNS + ('train_step', 'env_steps') + tuple(metrics)
             + ('wall_clock_s', 'finished'), rows)
  _write_csv(os.path.join(out_dir, 'runs.csv'),
             RUN_COLUMNS + ('train_step', 'env_steps', 'wall_clock_s', 'finished', 'commits'),
             run_rows(sweeps, root))
  if rows:
    plot_curves(rows, os.path.join(out_dir, 'curves.png'))
  return rows
