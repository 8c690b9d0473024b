"""Tests of the Google Cloud back-ends, all through --dry-run and the generated bash scripts."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

from c_learning.sweep import gcloud
from c_learning.sweep import spec as spec_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SWEEP_PY = os.path.join(REPO, 'launch', 'sweep.py')
BUCKET = 'gs://my-bucket/c_learning/sweep'
# Bindings with double quotes, a tuple with a space, and a value that a careless shell would
# expand ($HOME, backticks) or cut (an apostrophe).
SPEC = textwrap.dedent('''\
    name: quoting
    tasks:
      - sawyer_reach
      - name: push
        gin_files: [gin/sawyer_push.gin]
        bindings:
          - train_eval.env_name="sawyer_push"
          - SawyerPush.reset.arm_goal_type="goal"
    seeds: [1, 2, 3]
    bindings: ['train_eval.log_subset=(3, None)']
    sweep:
      train_eval.actor_fc_layers: [[256, 256], [64, 64]]
      SawyerPush.reset.fix_z: ['"it''s $HOME `x`"']
    ''')
VENV_PYTHON = '/opt/c_learning_venv/bin/python'


@pytest.fixture
def spec(tmp_path):
  path = tmp_path / 'quoting.yaml'
  path.write_text(SPEC)
  return str(path)


def launch(spec, backend, out, *extra):
  command = [sys.executable, SWEEP_PY, '--spec', spec, backend, '--bucket', BUCKET,
             '--package', 'git+https://github.com/example/c_learning@v1', '--dry-run',
             '--out', str(out), *extra]
  result = subprocess.run(command, capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr
  return [line for line in result.stdout.splitlines() if not line.startswith('#')]


def run_script(path, env, check=True):
  """Runs a generated script with bash; env adds to a clean PATH-only environment."""
  full = {'PATH': os.environ['PATH'], **env}
  result = subprocess.run(['bash', str(path)], capture_output=True, text=True, env=full,
                          timeout=60)
  if check:
    assert result.returncode == 0, result.stderr
  return result


def echoed_runs(output):
  """{index: (name, argv)} from SWEEP_DRY_RUN=1 output (RUN lines, then ARG lines)."""
  runs, current = {}, None
  for line in output.splitlines():
    kind, _, rest = line.partition(' ')
    if kind == 'RUN':
      index, name = rest.split(' ', 1)
      assert int(index) not in runs, f'run {index} twice'
      current = runs[int(index)] = (name, [])
    elif kind == 'ARG':
      current[1].append(rest)
  return runs


def expected_argv(run, work):
  return run.argv(f'{work}/runs/{run.name}', python=VENV_PYTHON, gin_dir='gin')


def test_vm_shards_run_each_run_exactly_once_with_exact_argv(spec, tmp_path):
  sweep = spec_lib.load(spec)
  assert len(sweep.runs) == 2 * 2 * 3
  launch(spec, '--gce', tmp_path / 'out', '--vms', '5')
  startup = tmp_path / 'out' / 'startup.sh'
  seen = {}
  for shard in range(5):
    result = run_script(startup, {'SWEEP_DRY_RUN': '1', 'SWEEP_SHARD': str(shard),
                                  'SWEEP_WORK': '/w'})
    for index, (name, argv) in echoed_runs(result.stdout).items():
      assert index not in seen, f'run {index} is in shards {seen[index]} and {shard}'
      seen[index] = shard
      run = sweep.runs[index]
      assert name == run.name
      assert argv == expected_argv(run, '/w')
  assert sorted(seen) == list(range(len(sweep.runs)))
  # The quoted bindings reached argv intact.
  push = [r for r in sweep.runs if r.task == 'push'][0]
  argv = expected_argv(push, '/w')
  for binding in ('train_eval.env_name="sawyer_push"', 'SawyerPush.reset.arm_goal_type="goal"',
                  'train_eval.log_subset=(3, None)', 'SawyerPush.reset.fix_z="it\'s $HOME `x`"'):
    assert f'--gin_bindings={binding}' in argv
  bad = run_script(startup, {'SWEEP_DRY_RUN': '1', 'SWEEP_SHARD': '5'}, check=False)
  assert bad.returncode != 0 and "shard '5' is not 0..4" in bad.stderr


def test_gce_commands_are_valid_shell_and_name_the_bucket(spec, tmp_path):
  out = tmp_path / 'out'
  lines = launch(spec, '--gce', out, '--vms', '3', '--spot', '--zone', 'europe-west4-a',
                 '--machine-type', 'n2-standard-2', '--project', 'my-proj')
  calls = run_with_fake_gcloud(lines, tmp_path)
  assert calls == [shlex.split(line) for line in lines]
  upload, *creates = calls
  assert upload[:3] == ['gsutil', '-m', 'cp'] and upload[-1] == f'{BUCKET}/quoting/gin/'
  uploaded = {os.path.basename(p) for p in upload[3:-1]}
  assert {'base.gin', 'sawyer_push.gin', 'sawyer_reach.gin'} <= uploaded
  assert all(os.path.isfile(p) for p in upload[3:-1])
  assert [c[4] for c in creates] == ['cl-quoting-0', 'cl-quoting-1', 'cl-quoting-2']
  for shard, create in enumerate(creates):
    assert create[:4] == ['gcloud', 'compute', 'instances', 'create']
    for flag in ('--zone=europe-west4-a', '--machine-type=n2-standard-2',
                 '--provisioning-model=SPOT', '--instance-termination-action=STOP',
                 '--scopes=cloud-platform', f'--metadata=sweep-shard={shard}',
                 f'--metadata-from-file=startup-script={out}/startup.sh', '--project=my-proj'):
      assert flag in create
  script = (out / 'startup.sh').read_text()
  assert f"DEFAULT_REMOTE='{BUCKET}/quoting'" in script
  assert "DEFAULT_ON_DONE='delete'" in script and 'SHARD_COUNT=3' in script


def test_batch_job_maps_each_task_index_to_one_run(spec, tmp_path):
  out = tmp_path / 'out'
  sweep = spec_lib.load(spec)
  lines = launch(spec, '--batch', out, '--spot', '--region', 'us-east1', '--job-name', 'q-1')
  job = json.loads((out / 'batch_job.json').read_text())
  group = job['taskGroups'][0]
  assert group['taskCount'] == len(sweep.runs)
  task = group['taskSpec']
  assert task['volumes'] == [{'gcs': {'remotePath': 'my-bucket/c_learning/sweep/quoting'},
                              'mountPath': gcloud.BATCH_MOUNT}]
  script_in_bucket = f'{BUCKET}/quoting/scripts/batch_task.sh'
  assert task['runnables'][0]['container']['commands'] == [
      script_in_bucket.replace(f'{BUCKET}/quoting', gcloud.BATCH_MOUNT)]
  assert job['allocationPolicy']['instances'][0]['policy']['provisioningModel'] == 'SPOT'
  calls = run_with_fake_gcloud(lines, tmp_path)
  assert ['gsutil', 'cp', str(out / 'batch_task.sh'), script_in_bucket] in calls
  assert calls[-1] == ['gcloud', 'batch', 'jobs', 'submit', 'q-1', '--location=us-east1',
                       f'--config={out}/batch_job.json']
  for index, run in enumerate(sweep.runs):
    result = run_script(out / 'batch_task.sh', {'SWEEP_DRY_RUN': '1', 'SWEEP_WORK': '/b',
                                                'BATCH_TASK_INDEX': str(index)})
    assert echoed_runs(result.stdout) == {index: (run.name, expected_argv(run, '/b'))}
  for index in (str(len(sweep.runs)), '', 'x'):
    bad = run_script(out / 'batch_task.sh', {'SWEEP_DRY_RUN': '1', 'BATCH_TASK_INDEX': index},
                     check=False)
    assert bad.returncode != 0 and 'is not a run index' in bad.stderr


@pytest.mark.skipif(shutil.which('shellcheck') is None,
                    reason='shellcheck is not installed (Debian: apt-get install shellcheck)')
def test_generated_scripts_pass_shellcheck(spec, tmp_path):
  launch(spec, '--gce', tmp_path / 'vm')
  launch(spec, '--batch', tmp_path / 'batch')
  for path in (tmp_path / 'vm' / 'startup.sh', tmp_path / 'batch' / 'batch_task.sh'):
    result = subprocess.run(['shellcheck', str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# Stands in for train_eval: records its start, writes a checkpoint like max_to_keep=1 does,
# waits until a periodic sync has put its first file in the remote, and fails on request.
FAKE_TRAIN = '''#!{python}
import glob, os, sys, time
root = [a for a in sys.argv if a.startswith('--root_dir=')][0].split('=', 1)[1]
name = os.path.relpath(root, os.path.join(os.environ['SWEEP_WORK'], 'runs'))
ckpt_dir = os.path.join(root, 'train', 'checkpoints')
index = os.path.join(ckpt_dir, 'checkpoint')
resumed_from = open(index).read().strip() if os.path.exists(index) else 'none'
with open(os.environ['FAKE_CALLS'], 'a') as f:
  f.write(f'{{name}} resumed_from={{resumed_from}} gin={{os.path.exists("gin/sawyer_reach.gin")}}\\n')
os.makedirs(ckpt_dir, exist_ok=True)
open(os.path.join(root, 'started'), 'w').close()
for old in glob.glob(os.path.join(ckpt_dir, 'ckpt-*')):
  os.remove(old)
open(os.path.join(ckpt_dir, 'ckpt-8.index'), 'w').close()
with open(index, 'w') as f:
  f.write('ckpt-8')
remote = os.environ['SWEEP_REMOTE']
if remote.startswith('gs://'):  # the fake gsutil keeps gs://X in FAKE_GCS/X
  remote = os.path.join(os.environ['FAKE_GCS'], remote[len('gs://'):])
remote = os.path.join(remote, 'runs', name, 'started')
deadline = time.time() + 10
while not os.path.exists(remote) and time.time() < deadline:
  time.sleep(0.1)
print('synced while running:', os.path.exists(remote))
sys.exit(1 if os.environ.get('FAKE_FAIL') and os.environ['FAKE_FAIL'] in name else 0)
'''


@pytest.mark.skipif(shutil.which('rsync') is None,
                    reason='rsync is not installed (Debian: apt-get install rsync)')
@pytest.mark.parametrize('layout', ['flat', 'tree'])
def test_script_skips_resumes_syncs_and_reports_failures(tmp_path, layout):
  """The VM script with a folder as its bucket: the whole flow, train_eval faked."""
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [1, 2, 3], 'layout': layout},
                          default_name='flow')
  names = [r.name for r in sweep.runs]
  script = tmp_path / 'startup.sh'
  script.write_text(gcloud.script(sweep, 'vm', 'gs://unused/flow', 'git+https://x/y'))
  remote, work, calls = tmp_path / 'remote', tmp_path / 'work', tmp_path / 'calls'
  (remote / 'gin').mkdir(parents=True)
  shutil.copy(os.path.join(spec_lib.GIN_DIR, 'sawyer_reach.gin'), remote / 'gin')
  # Run 0 finished before; run 1 was preempted after its checkpoint 7.
  (remote / 'runs' / names[0]).mkdir(parents=True)
  (remote / 'runs' / names[0] / 'DONE').write_text('earlier\n')
  old = remote / 'runs' / names[1] / 'train' / 'checkpoints'
  old.mkdir(parents=True)
  (old / 'checkpoint').write_text('ckpt-7')
  (old / 'ckpt-7.index').write_text('')
  fake = tmp_path / 'fake_python'
  fake.write_text(FAKE_TRAIN.format(python=sys.executable))
  fake.chmod(0o755)
  env = {'SWEEP_SHARD': '0', 'SWEEP_REMOTE': str(remote), 'SWEEP_WORK': str(work),
         'SWEEP_PYTHON': str(fake), 'SWEEP_ON_DONE': 'none', 'SWEEP_SYNC_EVERY': '2',
         'FAKE_CALLS': str(calls), 'FAKE_FAIL': names[2]}
  result = run_script(script, env, check=False)
  assert result.returncode == 1, result.stderr
  assert calls.read_text().splitlines() == [
      f'{names[1]} resumed_from=ckpt-7 gin=True', f'{names[2]} resumed_from=none gin=True']
  resumed = remote / 'runs' / names[1]
  assert (resumed / 'DONE').exists()
  assert (resumed / 'train' / 'checkpoints' / 'checkpoint').read_text() == 'ckpt-8'
  assert not (resumed / 'train' / 'checkpoints' / 'ckpt-7.index').exists()  # deletions sync
  assert 'synced while running: True' in (resumed / 'train_eval.log').read_text()
  failed = remote / 'runs' / names[2]
  assert not (failed / 'DONE').exists() and (failed / 'train_eval.log').exists()
  assert f'{names[2]}: failed with exit 1' in result.stderr
  # Started again (a VM's next boot): finished runs are skipped, the failed one retried.
  calls.unlink()
  env['FAKE_FAIL'] = ''
  run_script(script, env)
  assert calls.read_text().splitlines() == [f'{names[2]} resumed_from=ckpt-8 gin=True']
  assert all((remote / 'runs' / n / 'DONE').exists() for n in names)


# Stands in for gsutil: gs://X is the folder FAKE_GCS/X; records each call's arguments.
FAKE_GSUTIL = '''#!{python}
import os, shutil, subprocess, sys
with open(os.environ['GSUTIL_CALLS'], 'a') as f:
  f.write(' '.join(sys.argv[1:]) + '\\n')
def local(p):
  return os.path.join(os.environ['FAKE_GCS'], p[len('gs://'):]) if p.startswith('gs://') else p
args = [a for a in sys.argv[1:] if a not in ('-m', '-q')]
if args[0] == 'stat':
  sys.exit(0 if os.path.exists(local(args[1])) else 1)
if args[0] == 'cp':
  os.makedirs(os.path.dirname(local(args[2])), exist_ok=True)
  shutil.copy(local(args[1]), local(args[2]))
if args[0] == 'rsync':
  flags = ['-rt'] + (['--delete'] if '-d' in args else [])
  if '-x' in args:
    assert args[args.index('-x') + 1] == '^train/checkpoints/checkpoint$'
    flags.append('--exclude=/train/checkpoints/checkpoint')
  src, dst = local(args[-2]), local(args[-1])
  if not os.path.isdir(src):
    sys.exit('CommandException: no such bucket folder')
  os.makedirs(dst, exist_ok=True)
  subprocess.run(['rsync', *flags, src + '/', dst + '/'], check=True)
'''


@pytest.mark.skipif(shutil.which('rsync') is None,
                    reason='rsync is not installed (Debian: apt-get install rsync)')
def test_script_with_a_gs_bucket_calls_gsutil_and_lands_done_last(tmp_path):
  """The VM script's gs:// branch, gsutil faked over a folder: a run resumes and finishes."""
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [5]}, default_name='gsflow')
  name = sweep.runs[0].name
  script = tmp_path / 'startup.sh'
  script.write_text(gcloud.script(sweep, 'vm', 'gs://bkt/pre/gsflow', 'git+https://x/y'))
  gcs, calls = tmp_path / 'gcs', tmp_path / 'calls'
  (gcs / 'bkt/pre/gsflow/gin').mkdir(parents=True)
  shutil.copy(os.path.join(spec_lib.GIN_DIR, 'sawyer_reach.gin'), gcs / 'bkt/pre/gsflow/gin')
  old = gcs / 'bkt/pre/gsflow/runs' / name / 'train' / 'checkpoints'
  old.mkdir(parents=True)
  (old / 'checkpoint').write_text('ckpt-7')
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  for tool, text in (('gsutil', FAKE_GSUTIL), ('fake_python', FAKE_TRAIN)):
    (bin_dir / tool).write_text(text.format(python=sys.executable))
    (bin_dir / tool).chmod(0o755)
  env = {'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'SWEEP_SHARD': '0',
         'SWEEP_WORK': str(tmp_path / 'work'), 'SWEEP_PYTHON': str(bin_dir / 'fake_python'),
         'SWEEP_ON_DONE': 'none', 'SWEEP_SYNC_EVERY': '1', 'FAKE_GCS': str(gcs),
         'FAKE_CALLS': str(tmp_path / 'train_calls'), 'GSUTIL_CALLS': str(calls),
         'SWEEP_REMOTE': 'gs://bkt/pre/gsflow'}
  result = subprocess.run(['bash', str(script)], capture_output=True, text=True, env=env,
                          timeout=60)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / 'train_calls').read_text() == f'{name} resumed_from=ckpt-7 gin=True\n'
  remote = f'gs://bkt/pre/gsflow/runs/{name}'
  local = f'{tmp_path}/work/runs/{name}'
  made = calls.read_text().splitlines()
  assert made[:4] == [f'-m -q rsync -r gs://bkt/pre/gsflow/gin {tmp_path}/work/gin',
                      f'-q stat {remote}/DONE',
                      f'-q stat {remote}/train/checkpoints/checkpoint',
                      f'-m -q rsync -r {remote} {local}']
  # The last upload: data, the checkpoint index, deletions, then DONE.
  assert made[-4:] == [
      f'-m -q rsync -r -x ^train/checkpoints/checkpoint$ {local} {remote}',
      f'-q cp {local}/train/checkpoints/checkpoint {remote}/train/checkpoints/checkpoint',
      f'-m -q rsync -r -d {local} {remote}',
      f'-q cp {local}/DONE {remote}/DONE']
  assert (gcs / 'bkt/pre/gsflow/runs' / name / 'DONE').exists()
  assert 'synced while running: True' in (
      gcs / 'bkt/pre/gsflow/runs' / name / 'train_eval.log').read_text()


def run_with_fake_gcloud(lines, tmp_path):
  """Runs printed command lines with bash, gcloud and gsutil replaced by argv recorders."""
  bin_dir = tmp_path / 'fakebin'
  bin_dir.mkdir(exist_ok=True)
  log = tmp_path / 'gcloud_calls'
  for tool in ('gcloud', 'gsutil'):
    (bin_dir / tool).write_text(
        f'#!/bin/bash\nprintf "%s\\0" {tool} "$@" >> {shlex.quote(str(log))}\n'
        f'printf "\\36\\0" >> {shlex.quote(str(log))}\n')
    (bin_dir / tool).chmod(0o755)
  subprocess.run(['bash', '-euc', '\n'.join(lines)], check=True,
                 env={'PATH': f'{bin_dir}:{os.environ["PATH"]}'})
  calls = [[]]
  for arg in log.read_text().split('\0')[:-1]:
    if arg == '\x1e':
      calls.append([])
    else:
      calls[-1].append(arg)
  return calls[:-1]


@pytest.mark.parametrize('args, message', [
    (['--gce', '--package', 'git+https://x/y'], '--bucket is required for --gce and --batch'),
    (['--batch', '--bucket', 'my-bucket', '--package', 'git+https://x/y'],
     '--bucket=my-bucket: expected gs://BUCKET[/PREFIX]'),
    (['--batch', '--bucket', BUCKET], '--package is required'),
    (['--gce', '--bucket', BUCKET, '--package', 'missing.whl'], '--package=missing.whl: no such'),
    (['--gce', '--bucket', BUCKET, '--package', 'git+https://x/y', '--vms', '13'],
     '--vms=13: need 1..12'),
    (['--batch', '--bucket', BUCKET, '--package', 'git+https://x/y', '--job-name', 'Bad_Name'],
     '--job-name=Bad_Name'),
])
def test_cloud_flags_fail_fast(args, message, tmp_path):
  command = [sys.executable, SWEEP_PY, '--spec', 'launch/examples/paper.yaml', '--dry-run',
             '--out', str(tmp_path), *args]
  result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
  assert result.returncode == 2 and message in result.stderr, result.stderr


def test_without_dry_run_a_missing_gcloud_fails_before_any_call(tmp_path):
  empty = tmp_path / 'empty_bin'
  empty.mkdir()
  command = [sys.executable, SWEEP_PY, '--spec', 'launch/examples/paper.yaml', '--gce',
             '--bucket', BUCKET, '--package', 'git+https://x/y', '--out', str(tmp_path)]
  result = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                          env={'PATH': str(empty)})
  assert result.returncode == 2
  assert 'gcloud, gsutil not found on PATH' in result.stderr
  assert 'instances create' not in result.stdout
