"""Google Cloud launchers: Compute Engine VMs or one Cloud Batch job, from the same sweep."""
import json
import os
import re
import shlex
import shutil
import subprocess

from c_learning.sweep import spec as spec_lib

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'run_sweep.sh')
BATCH_MOUNT = '/mnt/disks/sweep'  # where a Batch task sees the sweep's bucket folder
LABEL = 'c-learning-sweep'
_BUCKET = re.compile(r'^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[A-Za-z0-9._=-]+)*/?$')
# Debian 12 VMs get Python 3.11 from apt; the Batch container image already has Python.
APT_PACKAGES = {'vm': ['python3-venv', 'python3-pip', 'git', 'rsync', 'curl'],
                'batch': ['git', 'rsync']}


class LaunchError(ValueError):
  """A cloud flag is missing or wrong; the message names it and what is allowed."""


def remote_root(bucket, sweep):
  """gs://bucket[/prefix]/<sweep name>: holds runs/, gin/, pkg/, scripts/."""
  if not bucket:
    raise LaunchError('--bucket is required for --gce and --batch (e.g. gs://my-bucket/sweeps).')
  if not _BUCKET.match(bucket):
    raise LaunchError(f'--bucket={bucket}: expected gs://BUCKET[/PREFIX] with a lowercase bucket '
                      'name and a prefix of letters, digits, ".", "_", "=", "-".')
  return f'{bucket.rstrip("/")}/{sweep.name}'


def package_name(package):
  """What the script installs: a wheel's file name (copied to REMOTE/pkg/) or a pip git URL."""
  if not package:
    raise LaunchError('--package is required for --gce and --batch: a pip git URL '
                      '(git+https://github.com/OWNER/REPO@REF) or a .whl (local path or gs://).')
  if package.endswith('.whl'):
    if not package.startswith('gs://') and not os.path.isfile(package):
      raise LaunchError(f'--package={package}: no such wheel file.')
    return os.path.basename(package)
  if package.startswith('git+'):
    return package
  raise LaunchError(f'--package={package}: expected git+https://... or a path/gs:// URL ending '
                    'in .whl.')


# How long a VM's shutdown-script waits for the sweep script's save and upload: a spot
# VM gets about 30 s from its preemption notice to its stop.
STOP_WAIT_SECONDS = 28


def script(sweep, backend, remote, package, shards=1, sync_every=600, on_done='none',
           role='run'):
  """The run_sweep.sh text for backend 'vm' or 'batch'; role 'stop' makes a VM's shutdown-script."""
  q = _quote
  config = '\n'.join([
      f'SWEEP_NAME={q(sweep.name)}',
      f'SCRIPT_ROLE={q(role)}',
      f'STOP_WAIT_SECONDS={STOP_WAIT_SECONDS}',
      f'BACKEND={q(backend)}',
      f'RUN_COUNT={len(sweep.runs)}',
      f'SHARD_COUNT={shards}',
      f'DEFAULT_REMOTE={q(remote)}',
      f'DEFAULT_SYNC_EVERY={int(sync_every)}',
      f'DEFAULT_ON_DONE={q(on_done)}',
      f'PACKAGE={q(package)}',
      'APT_PACKAGES=(' + ' '.join(APT_PACKAGES[backend]) + ')',
  ])
  names, argvs = [], []
  for i, run in enumerate(sweep.runs):
    # root_dir stays a shell expression: WORK may be overridden at run time.
    args = [f'"--root_dir=$WORK/runs/{run.name}"'] + [
        shlex.quote(a) for a in run.argv('', gin_dir='gin')[4:]]
    names.append(f'    {i}) echo {q(run.name)} ;;')
    argvs.append(f'    {i}) ARGV=({" ".join(args)}) ;;')
  table = '\n'.join(
      ['run_name() {  # run_name INDEX', '  case "$1" in'] + names
      + ['    *) return 1 ;;', '  esac', '}', '',
         '# Gin values are literal text: a $ or ` in one must not expand.',
         '# shellcheck disable=SC2016',
         'run_argv() {  # run_argv INDEX: sets ARGV to the train_eval flags of run INDEX',
         '  case "$1" in'] + argvs + ['    *) return 1 ;;', '  esac', '}'])
  with open(TEMPLATE) as f:
    text = f.read()
  return text.replace('@@CONFIG@@', config).replace('@@RUN_TABLE@@', table)


def upload_commands(sweep, remote, package, script_path=None):
  """gsutil commands that put the gin files, the wheel and the script in the bucket."""
  files = gin_files_to_upload(sweep)
  commands = [['gsutil', '-m', 'cp'] + files + [f'{remote}/gin/']]
  if package.endswith('.whl'):
    commands.append(['gsutil', 'cp', package, f'{remote}/pkg/{os.path.basename(package)}'])
  if script_path:
    commands.append(['gsutil', 'cp', script_path,
                     f'{remote}/scripts/{os.path.basename(script_path)}'])
  return commands


def gin_files_to_upload(sweep):
  """The sweep's gin files and every shipped one (task files include base.gin), by path."""
  shipped = sorted(os.path.join('gin', f) for f in os.listdir(spec_lib.GIN_DIR)
                   if f.endswith('.gin'))
  files = list(dict.fromkeys(shipped + sweep.gin_files()))
  by_name = {}
  for path in files:
    other = by_name.setdefault(os.path.basename(path), path)
    if other != path:
      raise LaunchError(f'gin files {other} and {path} share a name; the cloud copies put all '
                        'gin files in one folder: rename one.')
  # Paths relative to the checkout are given relative to it, whatever the working directory.
  return [p if os.path.isabs(p) else os.path.join(spec_lib.ROOT, p) for p in files]


def gce_plan(sweep, args):
  """(files to write, commands) for N Compute Engine VMs, each running a shard of the runs."""
  remote = remote_root(args.bucket, sweep)
  package = package_name(args.package)
  vms = args.vms or len(sweep.runs)
  if not 1 <= vms <= len(sweep.runs):
    raise LaunchError(f'--vms={vms}: need 1..{len(sweep.runs)} (the number of runs).')
  startup = os.path.join(args.out, 'startup.sh')
  shutdown = os.path.join(args.out, 'shutdown.sh')
  settings = dict(shards=vms, sync_every=args.sync_minutes * 60, on_done=args.on_done)
  text = script(sweep, 'vm', remote, package, **settings)
  stop_text = script(sweep, 'vm', remote, package, role='stop', **settings)
  commands = upload_commands(sweep, remote, args.package)
  prefix = vm_prefix(sweep, args.vm_prefix)
  for shard in range(vms):
    command = ['gcloud', 'compute', 'instances', 'create', f'{prefix}-{shard}',
               f'--zone={args.zone}', f'--machine-type={args.machine_type}',
               f'--image-family={args.image_family}', f'--image-project={args.image_project}',
               f'--boot-disk-size={args.boot_disk_gb}GB', '--scopes=cloud-platform',
               f'--labels={LABEL}={_label(sweep.name)}',
               f'--metadata=sweep-shard={shard}',
               # The shutdown-script signals the startup script's sweep, which saves
               # and uploads its run before the VM stops.
               f'--metadata-from-file=startup-script={startup},shutdown-script={shutdown}']
    if args.spot:
      # STOP keeps the disk: `gcloud compute instances start` resumes the shard.
      command += ['--provisioning-model=SPOT', '--instance-termination-action=STOP']
    if args.preemptible:
      command += ['--preemptible']
    commands.append(command + _project(args))
  notes = [
      f'runs: {len(sweep.runs)} on {vms} VMs; run directories: {remote}/runs/<run>/',
      f'progress: gsutil ls {remote}/runs/*/DONE',
      f'startup log of a VM: gcloud compute instances get-serial-port-output {prefix}-0 '
      f'--zone={args.zone}',
      'resume preempted VMs: gcloud compute instances start $(gcloud compute instances list '
      f'--filter=labels.{LABEL}={_label(sweep.name)} --format="value(name)") --zone={args.zone}',
  ]
  return {startup: text, shutdown: stop_text}, commands, notes


def batch_plan(sweep, args):
  """(files to write, commands) for one Cloud Batch job with a task a run."""
  remote = remote_root(args.bucket, sweep)
  package = package_name(args.package)
  task_script = os.path.join(args.out, 'batch_task.sh')
  config_path = os.path.join(args.out, 'batch_job.json')
  text = script(sweep, 'batch', BATCH_MOUNT, package, sync_every=args.sync_minutes * 60)
  job = batch_job(sweep, remote, args)
  commands = upload_commands(sweep, remote, args.package, task_script)
  name = args.job_name or _label(f'cl-{sweep.name}')[:63].rstrip('-')
  if not re.match(r'^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$', name):
    raise LaunchError(f'--job-name={name}: a Batch job name is 1-63 lowercase letters, digits '
                      'and "-", starting with a letter.')
  commands.append(['gcloud', 'batch', 'jobs', 'submit', name, f'--location={args.region}',
                   f'--config={config_path}'] + _project(args))
  notes = [
      f'runs: {len(sweep.runs)} Batch tasks; run directories: {remote}/runs/<run>/',
      f'status: gcloud batch jobs describe {name} --location={args.region}',
      'a resubmitted job (new --job-name) skips finished runs and resumes the others',
  ]
  return {task_script: text, config_path: json.dumps(job, indent=2) + '\n'}, commands, notes


def batch_job(sweep, remote, args):
  """The Batch job config: task i runs run i, the bucket folder mounted at BATCH_MOUNT."""
  model = 'SPOT' if args.spot else 'PREEMPTIBLE' if args.preemptible else 'STANDARD'
  group = {
      'taskCount': len(sweep.runs),
      'taskSpec': {
          'runnables': [{'container': {
              'imageUri': args.batch_image,
              'entrypoint': '/bin/bash',
              'commands': [f'{BATCH_MOUNT}/scripts/batch_task.sh'],
              'volumes': [f'{BATCH_MOUNT}:{BATCH_MOUNT}:rw'],
          }}],
          'volumes': [{'gcs': {'remotePath': remote[len('gs://'):]},
                       'mountPath': BATCH_MOUNT}],
          'computeResource': {'cpuMilli': args.task_cpus * 1000,
                              'memoryMib': args.task_memory_gb * 1024},
          # Retries are how a preempted task comes back; it resumes from the bucket.
          'maxRetryCount': args.max_retries,
      },
  }
  if args.parallelism:
    group['parallelism'] = args.parallelism
  return {
      'taskGroups': [group],
      'allocationPolicy': {'instances': [{'policy': {
          'machineType': args.machine_type, 'provisioningModel': model,
          'bootDisk': {'sizeGb': args.boot_disk_gb}}}]},
      'labels': {LABEL: _label(sweep.name)},
      'logsPolicy': {'destination': 'CLOUD_LOGGING'},
  }


def execute(files, commands, notes, dry_run, out):
  """Writes the files, then prints (dry run) or runs the commands."""
  for path, text in files.items():
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
      f.write(text)
    if path.endswith('.sh'):
      os.chmod(path, 0o755)
    print(f'# wrote {path}', file=out)
  if not dry_run:
    missing = sorted({c[0] for c in commands if shutil.which(c[0]) is None})
    if missing:
      raise LaunchError(f'{", ".join(missing)} not found on PATH: install the Google Cloud CLI '
                        '(https://cloud.google.com/sdk/docs/install), or use --dry-run.')
  for command in commands:
    print(shlex.join(command), file=out, flush=True)
    if not dry_run:
      subprocess.run(command, check=True)
  for note in notes:
    print(f'# {note}', file=out)


def vm_prefix(sweep, prefix):
  prefix = prefix or _label(f'cl-{sweep.name}')[:50].rstrip('-')
  if not re.match(r'^[a-z]([a-z0-9-]{0,50}[a-z0-9])?$', prefix):
    raise LaunchError(f'--vm-prefix={prefix}: 1-52 lowercase letters, digits and "-", '
                      'starting with a letter.')
  return prefix


def _quote(text):
  """Always single-quoted shell text (shlex.quote leaves plain words bare; shellcheck objects)."""
  return "'" + str(text).replace("'", "'\"'\"'") + "'"


def _label(text):
  """Lowercase letters, digits and '-' (GCE names and label values)."""
  return re.sub(r'[^a-z0-9-]+', '-', text.lower()).strip('-')[:63] or 'sweep'


def _project(args):
  return [f'--project={args.project}'] if args.project else []
