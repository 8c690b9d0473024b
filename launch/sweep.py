"""Expands a sweep spec into train_eval runs and prints them, runs them here, or on Google Cloud.

  python launch/sweep.py --spec launch/examples/point_mass_tiny.yaml --print
  python launch/sweep.py --spec launch/examples/point_mass_tiny.yaml --local --workers 2
  python launch/sweep.py --spec launch/examples/paper.yaml --gce --bucket gs://B/sweeps \\
      --package git+https://github.com/OWNER/REPO@REF --spot --dry-run
  python launch/sweep.py --spec launch/examples/paper.yaml --batch --bucket gs://B/sweeps \\
      --package dist/c_learning-0.1.0-py3-none-any.whl --spot --dry-run
"""
import argparse
import os
import re
import shlex
import sys

from c_learning.sweep import gcloud
from c_learning.sweep import local
from c_learning.sweep import spec as spec_lib


def parse_args(argv):
  parser = argparse.ArgumentParser(
      prog='sweep.py', description=__doc__.split('\n')[0],
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument('--spec', required=True, help='sweep spec: .yaml, .yml or .py (SPEC = {...})')
  parser.add_argument('--filter', default=None,
                      help='only runs whose name matches this regular expression')
  mode = parser.add_mutually_exclusive_group(required=True)
  mode.add_argument('--print', action='store_true', help='print the command lines')
  mode.add_argument('--local', action='store_true', help='run here, --workers at a time')
  mode.add_argument('--gce', action='store_true', help='Compute Engine VMs, a shard each')
  mode.add_argument('--batch', action='store_true', help='one Cloud Batch job, a task a run')

  here = parser.add_argument_group('--print and --local')
  here.add_argument('--root', default=None, help='run directories: ROOT/<run name>, the '
                    'name in the spec\'s layout (default: sweeps/<sweep name>)')
  here.add_argument('--workers', type=int, default=1, help='runs at a time')
  here.add_argument('--python', default=None,
                    help='interpreter for --local (default: this one)')
  here.add_argument('--status_every', type=float, default=60.0,
                    help='seconds between summaries when nothing changes')

  cloud = parser.add_argument_group('--gce and --batch')
  cloud.add_argument('--bucket', help='gs://BUCKET[/PREFIX]; the sweep lives in '
                     'PREFIX/<sweep name>/ (runs/, gin/, pkg/, scripts/)')
  cloud.add_argument('--package', help='what the machines install: git+https://... (pip) or '
                     'a .whl (local path or gs://; copied to the bucket)')
  cloud.add_argument('--dry-run', action='store_true',
                     help='write the scripts and job config, print the commands, call nothing')
  cloud.add_argument('--out', default=None,
                     help='where generated files go (default: sweep_out/<sweep name>)')
  cloud.add_argument('--project', default=None, help='gcloud --project (default: gcloud\'s)')
  cloud.add_argument('--machine-type', default='e2-standard-2')
  preempt = cloud.add_mutually_exclusive_group()
  preempt.add_argument('--spot', action='store_true', help='Spot VMs (cheaper, preemptible)')
  preempt.add_argument('--preemptible', action='store_true', help='legacy preemptible VMs')
  cloud.add_argument('--boot-disk-gb', type=int, default=50)
  cloud.add_argument('--sync-minutes', type=int, default=10,
                     help='minutes between uploads of a running run\'s directory')
  gce = parser.add_argument_group('--gce')
  gce.add_argument('--vms', type=int, default=None, help='number of VMs (default: one a run)')
  gce.add_argument('--zone', default='us-central1-a')
  gce.add_argument('--image-family', default='debian-12')
  gce.add_argument('--image-project', default='debian-cloud')
  gce.add_argument('--vm-prefix', default=None, help='VM names PREFIX-<shard> '
                   '(default: cl-<sweep name>)')
  gce.add_argument('--on-done', choices=['delete', 'stop', 'none'], default='delete',
                   help='what a VM does when its shard is over')
  batch = parser.add_argument_group('--batch')
  batch.add_argument('--region', default='us-central1', help='Batch job location')
  batch.add_argument('--job-name', default=None, help='default: cl-<sweep name>; a job name '
                     'is unique in a project: pick a new one to resubmit')
  batch.add_argument('--batch-image', default='python:3.11-slim',
                     help='container image the tasks run in')
  batch.add_argument('--task-cpus', type=int, default=2)
  batch.add_argument('--task-memory-gb', type=int, default=6)
  batch.add_argument('--max-retries', type=int, default=3,
                     help='retries of a failed or preempted task (Batch allows 0..10)')
  batch.add_argument('--parallelism', type=int, default=None,
                     help='tasks at a time (default: Batch\'s, all)')
  return parser, parser.parse_args(argv)


def select(sweep, pattern):
  """The sweep cut to runs whose names match pattern."""
  if pattern is None:
    return sweep
  try:
    regex = re.compile(pattern)
  except re.error as error:
    raise spec_lib.SpecError(f'--filter={pattern}: not a regular expression ({error}).')
  runs = tuple(r for r in sweep.runs if regex.search(r.name))
  if not runs:
    raise spec_lib.SpecError(f'--filter={pattern} matches none of the {len(sweep.runs)} runs.')
  return spec_lib.Sweep(sweep.name, runs)


def main(argv=None):
  parser, args = parse_args(argv)
  try:
    sweep = select(spec_lib.load(args.spec), args.filter)
    root = args.root or os.path.join('sweeps', sweep.name)
    if args.print:
      for run in sweep.runs:
        print(shlex.join(run.argv(run.run_dir(root))))
      return 0
    if args.local:
      if args.workers < 1:
        raise spec_lib.SpecError(f'--workers={args.workers}: need at least 1.')
      failed = local.run_jobs(local.jobs_for(sweep, root, args.python), args.workers,
                              cwd=spec_lib.ROOT, status_every=args.status_every)
      return 1 if failed else 0
    for flag in ('max_retries', 'task_cpus', 'task_memory_gb', 'boot_disk_gb', 'sync_minutes'):
      if getattr(args, flag) < (0 if flag == 'max_retries' else 1):
        raise gcloud.LaunchError(f'--{flag.replace("_", "-")}={getattr(args, flag)}: too small.')
    if args.max_retries > 10:
      raise gcloud.LaunchError(f'--max-retries={args.max_retries}: Batch allows 0..10.')
    args.out = args.out or os.path.join('sweep_out', sweep.name)
    plan = gcloud.gce_plan if args.gce else gcloud.batch_plan
    gcloud.execute(*plan(sweep, args), dry_run=args.dry_run, out=sys.stdout)
    return 0
  except (spec_lib.SpecError, gcloud.LaunchError) as error:
    parser.exit(2, f'sweep.py: error: {error}\n')
  except KeyboardInterrupt:
    return 130


if __name__ == '__main__':
  sys.exit(main())
