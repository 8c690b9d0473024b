"""Tests of the Google Cloud back-ends, all through --dry-run and the generated bash scripts."""
import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import types

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


def run_script(path, env, check=True, cwd=None):
  """Runs a generated script with bash; env adds to a clean PATH-only environment."""
  full = {'PATH': os.environ['PATH'], **env}
  result = subprocess.run(['bash', str(path)], capture_output=True, text=True, env=full,
                          timeout=60, cwd=cwd)
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
                 f'--metadata-from-file=startup-script={out}/startup.sh,'
                 f'shutdown-script={out}/shutdown.sh', '--project=my-proj'):
      assert flag in create
  for name, role in (('startup.sh', 'run'), ('shutdown.sh', 'stop')):
    script = (out / name).read_text()
    assert f"DEFAULT_REMOTE='{BUCKET}/quoting'" in script and f"SCRIPT_ROLE='{role}'" in script
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
  for path in (tmp_path / 'vm' / 'startup.sh', tmp_path / 'vm' / 'shutdown.sh',
               tmp_path / 'batch' / 'batch_task.sh'):
    result = subprocess.run(['shellcheck', str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# The fakes share FAKELIB, written beside them as fakelib.py: TF's checkpoint protocol, the
# property the bucket must keep, and the hooks that make the trainer save or the machine die
# at a chosen step of a sync.
FAKELIB = r'''
import glob, os, re, signal


def latest(state):
  """The checkpoint a state file names newest (model_checkpoint_path), its directory stripped."""
  return _values(state, 'model_checkpoint_path')[0]


def named(state):
  """Every checkpoint a state file names, sorted, directories stripped."""
  return sorted(set(_values(state, 'model_checkpoint_path')
                    + _values(state, 'all_model_checkpoint_paths')))


def _values(state, key):
  with open(state) as f:
    return [os.path.basename(line.split(':', 1)[1].strip().strip('"'))
            for line in f if line.split(':', 1)[0] == key]


def _number(name):
  return int(name.split('-')[1])


def whole(ckpt_dir, name):
  """Whether checkpoint `name` has its index and its data in ckpt_dir."""
  prefix = os.path.join(ckpt_dir, name)
  return os.path.isfile(prefix + '.index') and bool(glob.glob(prefix + '.data-*'))


def tf_save(ckpt_dir, number, keep, absolute=False):
  """Saves ckpt-<number> in CheckpointManager's order: a _temp folder, renames to the final
  names, the state file naming old and new, the old ones beyond `keep` deleted, the state
  file again."""
  name = f'ckpt-{number}'
  temp = os.path.join(ckpt_dir, name + '_temp')
  os.makedirs(temp, exist_ok=True)
  for suffix in ('.data-00000-of-00001', '.index'):
    part = os.path.join(temp, 'part-00000-of-00001' + suffix)
    with open(part, 'w') as f:
      f.write(f'{name}{suffix} ' * 50)
    os.replace(part, os.path.join(ckpt_dir, name + suffix))
  os.rmdir(temp)
  state = os.path.join(ckpt_dir, 'checkpoint')
  old = _values(state, 'all_model_checkpoint_paths') if os.path.exists(state) else []
  kept = [n for n in old if n != name] + [name]
  _write_state(state, kept, absolute)
  for gone in kept[:-keep]:
    for path in glob.glob(os.path.join(ckpt_dir, gone + '.*')):
      os.remove(path)
  _write_state(state, kept[-keep:], absolute)


def _write_state(state, names, absolute):
  folder = os.path.dirname(os.path.abspath(state)) + '/' if absolute else ''
  with open(state + '.tmp', 'w') as f:
    f.write(f'model_checkpoint_path: "{folder}{names[-1]}"\n')
    f.writelines(f'all_model_checkpoint_paths: "{folder}{n}"\n' for n in names)
  os.replace(state + '.tmp', state)


def violations(root):
  """What breaks the bucket's promise under root: a state file naming a checkpoint that is not
  whole there, a newer ckpt-N.index without its data (restore would try it), a _temp folder."""
  found = []
  for path, dirs, files in os.walk(root):
    found += [f'{path}/{d} uploaded' for d in dirs if d.endswith('_temp')]
    if os.path.basename(path) != 'checkpoints' or 'checkpoint' not in files:
      continue
    names = named(os.path.join(path, 'checkpoint'))
    found += [f'{path}: the state file names {n}, not whole' for n in names
              if not whole(path, n)]
    newest = max(map(_number, names), default=-1)
    found += [f'{path}: {f} without its data' for f in files
              if re.fullmatch(r'ckpt-\d+\.index', f) and _number(f[:-6]) > newest
              and not whole(path, f[:-6])]
  return found


def tick():
  """One step of a sync. The FAKE_HOOK_AT-th (counted in the file FAKE_OPS) first runs
  FAKE_HOOK: 'save' (the trainer saves, FAKE_SAVE=dir:number:keep) or 'kill' (the machine
  dies: SIGKILL to the sync's whole process group)."""
  counter = os.environ.get('FAKE_OPS')
  if not counter:
    return
  count = (int(open(counter).read()) if os.path.exists(counter) else 0) + 1
  with open(counter, 'w') as f:
    f.write(str(count))
  if str(count) != os.environ.get('FAKE_HOOK_AT'):
    return
  if os.environ['FAKE_HOOK'] == 'kill':
    os.killpg(os.getpgrp(), signal.SIGKILL)
  save_from_env()


def save_from_env():
  """The trainer saves FAKE_SAVE=dir:number:keep."""
  ckpt_dir, number, keep = os.environ['FAKE_SAVE'].rsplit(':', 2)
  tf_save(ckpt_dir, int(number), int(keep))


def check(step):
  """Appends what breaks the bucket's promise after `step` to the file FAKE_VIOLATIONS."""
  if os.environ.get('FAKE_BUCKET'):
    found = violations(os.environ['FAKE_BUCKET'])
    if found:
      with open(os.environ['FAKE_VIOLATIONS'], 'a') as f:
        f.writelines(f'after {step}: {line}\n' for line in found)


if __name__ == '__main__':  # for the cp and rsync wrappers: save, or check STEP
  import sys
  if sys.argv[1] == 'save':
    save_from_env()
  else:
    check(sys.argv[2])
'''
fakelib = types.ModuleType('fakelib')
exec(FAKELIB, fakelib.__dict__)  # pylint: disable=exec-used


def install(folder, **tools):
  """Writes fakelib.py and each tool (Python source) as an executable into folder."""
  folder.mkdir(exist_ok=True)
  (folder / 'fakelib.py').write_text(FAKELIB)
  for name, body in tools.items():
    (folder / name).write_text(f'#!{sys.executable} -S\n{body}')
    (folder / name).chmod(0o755)
  return folder


# Stands in for train_eval: records where it resumed from (and whether that checkpoint is
# whole), saves the next checkpoint as TF does (max_to_keep=2), waits until a periodic sync
# has put its first file in the remote, saves another, and fails on request.
FAKE_TRAIN = r'''
import os, sys, time
import fakelib
root = [a for a in sys.argv if a.startswith('--root_dir=')][0].split('=', 1)[1]
name = os.path.relpath(root, os.path.join(os.environ['SWEEP_WORK'], 'runs'))
ckpt_dir = os.path.join(root, 'train', 'checkpoints')
state = os.path.join(ckpt_dir, 'checkpoint')
resumed_from, whole = 'none', True
if os.path.exists(state):
  resumed_from = fakelib.latest(state)
  whole = all(fakelib.whole(ckpt_dir, n) for n in fakelib.named(state))
with open(os.environ['FAKE_CALLS'], 'a') as f:
  f.write(f'{name} resumed_from={resumed_from} whole={whole} '
          f'gin={os.path.exists("gin/sawyer_reach.gin")}\n')
step = 0 if resumed_from == 'none' else int(resumed_from.split('-')[1])
fakelib.tf_save(ckpt_dir, step + 1, keep=2)
open(os.path.join(root, 'started'), 'w').close()
remote = os.environ['SWEEP_REMOTE']
if remote.startswith('gs://'):  # the fake gsutil keeps gs://X in FAKE_GCS/X
  remote = os.path.join(os.environ['FAKE_GCS'], remote[len('gs://'):])
remote = os.path.join(remote, 'runs', name, 'started')
deadline = time.time() + 10
while not os.path.exists(remote) and time.time() < deadline:
  time.sleep(0.1)
fakelib.tf_save(ckpt_dir, step + 2, keep=2)  # while the syncs go on
print('synced while running:', os.path.exists(remote))
sys.exit(1 if os.environ.get('FAKE_FAIL') and os.environ['FAKE_FAIL'] in name else 0)
'''

needs_rsync = pytest.mark.skipif(shutil.which('rsync') is None,
                                 reason='rsync is not installed (Debian: apt-get install rsync)')


@needs_rsync
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
  fakelib.tf_save(str(remote / 'runs' / names[1] / 'train' / 'checkpoints'), 7, keep=2)
  fake = install(tmp_path / 'tools', fake_python=FAKE_TRAIN) / 'fake_python'
  env = {'SWEEP_SHARD': '0', 'SWEEP_REMOTE': str(remote), 'SWEEP_WORK': str(work),
         'SWEEP_PYTHON': str(fake), 'SWEEP_ON_DONE': 'none', 'SWEEP_SYNC_EVERY': '2',
         'FAKE_CALLS': str(calls), 'FAKE_FAIL': names[2]}
  result = run_script(script, env, check=False)
  assert result.returncode == 1, result.stderr
  assert calls.read_text().splitlines() == [
      f'{names[1]} resumed_from=ckpt-7 whole=True gin=True',
      f'{names[2]} resumed_from=none whole=True gin=True']
  resumed = remote / 'runs' / names[1]
  assert (resumed / 'DONE').exists()
  checkpoints = resumed / 'train' / 'checkpoints'
  assert fakelib.latest(checkpoints / 'checkpoint') == 'ckpt-9'
  assert sorted(os.listdir(checkpoints)) == [  # ckpt-7 deleted, no _temp folder
      'checkpoint', 'ckpt-8.data-00000-of-00001', 'ckpt-8.index',
      'ckpt-9.data-00000-of-00001', 'ckpt-9.index']
  assert 'synced while running: True' in (resumed / 'train_eval.log').read_text()
  failed = remote / 'runs' / names[2]
  assert not (failed / 'DONE').exists() and (failed / 'train_eval.log').exists()
  assert f'{names[2]}: failed with exit 1' in result.stderr
  # Started again (a VM's next boot): finished runs are skipped, the failed one retried.
  calls.unlink()
  env['FAKE_FAIL'] = ''
  run_script(script, env)
  assert calls.read_text().splitlines() == [f'{names[2]} resumed_from=ckpt-2 whole=True gin=True']
  assert all((remote / 'runs' / n / 'DONE').exists() for n in names)
  assert fakelib.violations(remote) == []


# Stands in for train_eval under a stop signal: a fresh run saves ckpt-<n+1>, then trains
# until SIGTERM (with FAKE_STOP_EXPECTED set), on which it saves ckpt-<n+5> and exits 75 as
# train_eval does; a resumed run, or any run without FAKE_STOP_EXPECTED, saves and finishes.
FAKE_PREEMPTIBLE_TRAIN = r"""
import os, signal, sys, time
import fakelib
root = [a for a in sys.argv if a.startswith('--root_dir=')][0].split('=', 1)[1]
name = os.path.basename(root)
ckpt_dir = os.path.join(root, 'train', 'checkpoints')
state = os.path.join(ckpt_dir, 'checkpoint')
resumed_from = fakelib.latest(state) if os.path.exists(state) else 'none'
step = 0 if resumed_from == 'none' else int(resumed_from.split('-')[1])


def note(text):
  with open(os.environ['FAKE_CALLS'], 'a') as f:
    f.write(f'{name} {text}\n')


def on_term(signum, frame):
  fakelib.tf_save(ckpt_dir, step + 5, keep=2)
  note(f'saved ckpt-{step + 5} on {signal.Signals(signum).name}')
  sys.exit(75)


signal.signal(signal.SIGTERM, on_term)
note(f'resumed_from={resumed_from} root_is_absolute={os.path.isabs(root)}')
fakelib.tf_save(ckpt_dir, step + 1, keep=2)
if resumed_from != 'none' or not os.environ.get('FAKE_STOP_EXPECTED'):
  sys.exit(0)
open(os.path.join(root, 'started'), 'w').close()
time.sleep(60)
note('never signalled')
sys.exit(1)
"""


@needs_rsync
@pytest.mark.parametrize('backend', ['vm', 'batch'])
def test_a_stop_signal_mid_run_saves_uploads_and_the_retry_resumes(tmp_path, backend):
  """VM: its shutdown-script signals the sweep; Batch: SIGTERM to the task's script (PID 1)."""
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [1, 2]}, default_name='stop')
  names = [r.name for r in sweep.runs]
  remote = tmp_path / 'remote'
  (remote / 'gin').mkdir(parents=True)
  shutil.copy(os.path.join(spec_lib.GIN_DIR, 'sawyer_reach.gin'), remote / 'gin')
  scripts = {}
  for role in ('run', 'stop'):
    scripts[role] = tmp_path / f'{role}.sh'
    scripts[role].write_text(gcloud.script(sweep, backend, str(remote), 'git+https://x/y',
                                           role=role))
  bin_dir = install(tmp_path / 'bin', fake_python=FAKE_PREEMPTIBLE_TRAIN)
  calls = tmp_path / 'calls'
  # A relative SWEEP_WORK, as a user may give it: the script makes it absolute.
  env = {'PATH': os.environ['PATH'], 'SWEEP_SHARD': '0', 'BATCH_TASK_INDEX': '0',
         'SWEEP_WORK': 'work', 'SWEEP_PYTHON': str(bin_dir / 'fake_python'),
         'SWEEP_ON_DONE': 'none', 'SWEEP_SYNC_EVERY': '600', 'FAKE_CALLS': str(calls),
         'FAKE_STOP_EXPECTED': '1'}
  sweeping = subprocess.Popen(['bash', str(scripts['run'])], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    started = tmp_path / 'work' / 'runs' / names[0] / 'started'
    deadline = time.time() + 30
    while not started.exists():
      assert time.time() < deadline and sweeping.poll() is None, sweeping.communicate()
      time.sleep(0.05)
    if backend == 'vm':
      stopper = subprocess.run(['bash', str(scripts['stop'])], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)
      assert stopper.returncode == 0, stopper.stderr
      assert 'has exited' in stopper.stderr
      assert sweeping.poll() is not None  # the stop waited for the save and the upload
    else:
      sweeping.send_signal(signal.SIGTERM)
    _, stderr = sweeping.communicate(timeout=60)
  finally:
    if sweeping.poll() is None:
      sweeping.kill()
  assert sweeping.returncode == 75, stderr
  assert calls.read_text().splitlines() == [
      f'{names[0]} resumed_from=none root_is_absolute=True',
      f'{names[0]} saved ckpt-5 on SIGTERM']
  uploaded = remote / 'runs' / names[0]
  assert fakelib.latest(uploaded / 'train' / 'checkpoints' / 'checkpoint') == 'ckpt-5'
  assert fakelib.whole(str(uploaded / 'train' / 'checkpoints'), 'ckpt-5')
  assert not (uploaded / 'DONE').exists()
  assert not (remote / 'runs' / names[1]).exists()  # no run started after the stop
  assert 'saved on a stop signal and uploaded' in stderr

  # The retry: a Batch task on a new machine (an empty work folder), a VM on its own disk.
  calls.unlink()
  del env['FAKE_STOP_EXPECTED']
  if backend == 'batch':
    env['SWEEP_WORK'] = 'new_machine'
  run_script(scripts['run'], env, cwd=tmp_path)
  assert calls.read_text().splitlines()[0] == (
      f'{names[0]} resumed_from=ckpt-5 root_is_absolute=True')
  assert (uploaded / 'DONE').exists()
  assert fakelib.latest(uploaded / 'train' / 'checkpoints' / 'checkpoint') == 'ckpt-6'


# Stands in for gsutil: gs://X is the folder FAKE_GCS/X; records each call's arguments in
# GSUTIL_CALLS; copies and deletes one object at a time (in path order, a state file before
# ckpt-* files), each a tick() and a check() of the bucket.
FAKE_GSUTIL = r'''
import os, re, shutil, sys
import fakelib
if os.environ.get('GSUTIL_CALLS'):
  with open(os.environ['GSUTIL_CALLS'], 'a') as f:
    f.write(' '.join(sys.argv[1:]) + '\n')


def local(p):
  return os.path.join(os.environ['FAKE_GCS'], p[len('gs://'):]) if p.startswith('gs://') else p


def files(root, exclude):
  found = {}
  for path, _, names in os.walk(root):
    for name in names:
      rel = os.path.relpath(os.path.join(path, name), root)
      if not (exclude and exclude.match(rel)):
        found[rel] = os.path.join(path, name)
  return found


def same(a, b):
  return os.path.getsize(a) == os.path.getsize(b) and int(os.path.getmtime(a)) == int(
      os.path.getmtime(b))


args = [a for a in sys.argv[1:] if a not in ('-m', '-q')]
if args[0] == 'stat':
  sys.exit(0 if os.path.exists(local(args[1])) else 1)
if args[0] == 'cp':
  fakelib.tick()
  os.makedirs(os.path.dirname(local(args[2])), exist_ok=True)
  shutil.copy2(local(args[1]), local(args[2]))
  fakelib.check(' '.join(args))
if args[0] == 'rsync':
  exclude = re.compile(args[args.index('-x') + 1]) if '-x' in args else None
  src, dst = local(args[-2]), local(args[-1])
  if not os.path.isdir(src):
    sys.exit('CommandException: no such bucket folder')
  want, have = files(src, exclude), files(dst, exclude)
  steps = [(rel, 'copy') for rel in want if rel not in have or not same(want[rel], have[rel])]
  if '-d' in args:
    steps += [(rel, 'delete') for rel in have if rel not in want]
  for rel, step in sorted(steps):
    fakelib.tick()
    if step == 'copy':
      os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
      shutil.copy2(want[rel], os.path.join(dst, rel))
    else:
      os.remove(os.path.join(dst, rel))
    fakelib.check(f'{step} {rel}')
'''


@needs_rsync
def test_script_with_a_gs_bucket_calls_gsutil_and_lands_done_last(tmp_path):
  """The VM script's gs:// branch, gsutil faked over a folder: a run resumes and finishes."""
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [5]}, default_name='gsflow')
  name = sweep.runs[0].name
  script = tmp_path / 'startup.sh'
  script.write_text(gcloud.script(sweep, 'vm', 'gs://bkt/pre/gsflow', 'git+https://x/y'))
  gcs, calls = tmp_path / 'gcs', tmp_path / 'calls'
  (gcs / 'bkt/pre/gsflow/gin').mkdir(parents=True)
  shutil.copy(os.path.join(spec_lib.GIN_DIR, 'sawyer_reach.gin'), gcs / 'bkt/pre/gsflow/gin')
  fakelib.tf_save(str(gcs / 'bkt/pre/gsflow/runs' / name / 'train' / 'checkpoints'), 7, keep=2)
  bin_dir = install(tmp_path / 'bin', gsutil=FAKE_GSUTIL, fake_python=FAKE_TRAIN)
  violations = tmp_path / 'violations'
  env = {'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'SWEEP_SHARD': '0',
         'SWEEP_WORK': str(tmp_path / 'work'), 'SWEEP_PYTHON': str(bin_dir / 'fake_python'),
         'SWEEP_ON_DONE': 'none', 'SWEEP_SYNC_EVERY': '1', 'FAKE_GCS': str(gcs),
         'FAKE_CALLS': str(tmp_path / 'train_calls'), 'GSUTIL_CALLS': str(calls),
         'SWEEP_REMOTE': 'gs://bkt/pre/gsflow', 'FAKE_BUCKET': str(gcs),
         'FAKE_VIOLATIONS': str(violations)}
  result = subprocess.run(['bash', str(script)], capture_output=True, text=True, env=env,
                          timeout=60)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / 'train_calls').read_text() == (
      f'{name} resumed_from=ckpt-7 whole=True gin=True\n')
  remote = f'gs://bkt/pre/gsflow/runs/{name}'
  local = f'{tmp_path}/work/runs/{name}'
  stage = f'{tmp_path}/work/runs/.sync-{name}'
  made = calls.read_text().splitlines()
  assert made[:4] == [f'-m -q rsync -r gs://bkt/pre/gsflow/gin {tmp_path}/work/gin',
                      f'-q stat {remote}/DONE',
                      f'-q stat {remote}/train/checkpoints/checkpoint',
                      f'-m -q rsync -r {remote} {local}']
  # The last upload, from the stage: data, index files, the state file, deletions; then DONE.
  assert made[-5:] == [
      f'-m -q rsync -r -x ^train/checkpoints/(checkpoint|[^/]*\\.index)$ {stage} {remote}',
      f'-m -q rsync -r -x ^train/checkpoints/checkpoint$ {stage} {remote}',
      f'-q cp {stage}/train/checkpoints/checkpoint {remote}/train/checkpoints/checkpoint',
      f'-m -q rsync -r -d {stage} {remote}',
      f'-q cp {local}/DONE {remote}/DONE']
  run_dir = gcs / 'bkt/pre/gsflow/runs' / name
  assert (run_dir / 'DONE').exists()
  assert fakelib.latest(run_dir / 'train' / 'checkpoints' / 'checkpoint') == 'ckpt-9'
  assert 'synced while running: True' in (run_dir / 'train_eval.log').read_text()
  assert not violations.exists(), violations.read_text()
  assert not os.path.exists(stage)


# sync_up alone, on both branches: 'folder' (the bucket mounted by Batch: rsync and cp) and
# 'gs' (the fake gsutil). cp and rsync are wrapped on both, so that each call is a step too;
# in bash, for speed: a step as fakelib.tick() counts it, a check when one wrote to the bucket.
WRAPPER = r"""#!/bin/bash
if [ -n "${FAKE_OPS:-}" ]; then
  count=$(($(cat "$FAKE_OPS" 2>/dev/null || echo 0) + 1))
  echo "$count" >"$FAKE_OPS"
  if [ "$count" = "${FAKE_HOOK_AT:-}" ]; then
    if [ "$FAKE_HOOK" = kill ]; then kill -9 0; fi
    @PYTHON@ -S "${0%/*}/fakelib.py" save || exit 1
  fi
fi
@REAL@ "$@"
code=$?
if [ -n "${FAKE_BUCKET:-}" ] && [[ "${*: -1}" == "$FAKE_BUCKET"* ]]; then
  @PYTHON@ -S "${0%/*}/fakelib.py" check "${0##*/} $*"
fi
exit "$code"
"""


def sync_setup(tmp_path, branch):
  """A one-run sweep: its script, its local run directory, its bucket folder, fakes on PATH."""
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [1]}, default_name='sw')
  name = sweep.runs[0].name
  script = tmp_path / 'startup.sh'
  script.write_text(gcloud.script(sweep, 'vm', 'gs://unused/sw', 'git+https://x/y'))
  functions = tmp_path / 'functions.sh'  # the script without its last line, main "$@"
  functions.write_text(script.read_text().replace('\nmain "$@"\n', '\n'))
  assert 'main "$@"' not in functions.read_text()
  bucket = tmp_path / 'bucket'  # gs://X is bucket/X
  (bucket / 'sw' / 'gin').mkdir(parents=True)
  shutil.copy(os.path.join(spec_lib.GIN_DIR, 'sawyer_reach.gin'), bucket / 'sw' / 'gin')
  tools = {'gsutil': FAKE_GSUTIL} if branch == 'gs' else {}
  bin_dir = install(tmp_path / 'bin', fake_python=FAKE_TRAIN, **tools)
  for tool in ('cp', 'rsync'):
    (bin_dir / tool).write_text(WRAPPER.replace('@REAL@', shlex.quote(shutil.which(tool))).replace(
        '@PYTHON@', shlex.quote(sys.executable)))
    (bin_dir / tool).chmod(0o755)
  root = 'gs://sw' if branch == 'gs' else str(bucket / 'sw')
  local = tmp_path / 'work' / 'runs' / name
  return types.SimpleNamespace(
      name=name, script=script, functions=functions, bucket=bucket, root=root, local=local,
      ckpt=local / 'train' / 'checkpoints', stage=local.parent / f'.sync-{name}',
      remote=f'{root}/runs/{name}', remote_dir=bucket / 'sw' / 'runs' / name,
      bin_dir=bin_dir, violations=tmp_path / 'violations', ops=tmp_path / 'ops',
      env={'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'FAKE_GCS': str(bucket),
           'FAKE_BUCKET': str(bucket), 'FAKE_VIOLATIONS': str(tmp_path / 'violations')})


def sync_up(s, **env):
  """Runs sync_up LOCAL REMOTE in its own process group (a 'kill' hook kills all of it)."""
  return subprocess.run(['bash', '-c', 'source "$0" && sync_up "$1" "$2"', str(s.functions),
                         str(s.local), s.remote], env={**s.env, **env}, capture_output=True,
                        text=True, timeout=60, start_new_session=True)


def sync_up_with_hook(s, hook, at, **env):
  """sync_up with hook 'save' or 'kill' at its step `at`; returns the result, and whether the
  sync had that many steps."""
  if s.ops.exists():
    s.ops.unlink()
  result = sync_up(s, FAKE_OPS=str(s.ops), FAKE_HOOK=hook, FAKE_HOOK_AT=str(at), **env)
  return result, int(s.ops.read_text()) >= at


def make_run(local, keep):
  """A run directory in training: ckpt-1 whole (its state file with absolute paths), a save of
  ckpt-5 under way, a damaged checkpoint set aside, a log, records, a policy half exported."""
  ckpt = local / 'train' / 'checkpoints'
  fakelib.tf_save(str(ckpt), 1, keep, absolute=True)
  (ckpt / 'ckpt-5_temp').mkdir()
  (ckpt / 'ckpt-5_temp' / 'part-00000-of-00001.index').write_text('half')
  (ckpt / 'damaged').mkdir()
  (ckpt / 'damaged' / 'ckpt-0.index').write_text('set aside')
  (local / 'train_eval.log').write_text('iteration 1\n')
  (local / 'records.jsonl').write_text('{"kind": "start"}\n')
  (local / 'policy' / 'variables' / 'variables_temp').mkdir(parents=True)
  (local / 'policy' / 'variables' / 'variables_temp' / 'part-00000-of-00001.index').write_text('x')
  (local / 'policy' / 'variables' / 'variables.index').write_text('policy')


def tree(folder):
  """{relative path: content} of every file under folder."""
  return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob('*') if p.is_file()}


def synced(*checkpoints):
  """The files of a bucket's run folder after a whole sync, its state file naming checkpoints."""
  return {'train_eval.log', 'records.jsonl', 'policy/variables/variables.index',
          'train/checkpoints/checkpoint'} | {
              f'train/checkpoints/{c}{suffix}' for c in checkpoints
              for suffix in ('.index', '.data-00000-of-00001')}


def restore(source, target):
  shutil.rmtree(target, ignore_errors=True)
  shutil.copytree(source, target)


@needs_rsync
@pytest.mark.parametrize('branch', ['folder', 'gs'])
def test_sync_up_uploads_a_checkpoint_only_once_whole(tmp_path, branch):
  """ckpt-2 is new on the disk, ckpt-1 in the bucket; the trainer saves ckpt-3 and deletes
  ckpt-2 (max_to_keep=1) before each step of a sync in turn: the bucket's state file only ever
  names checkpoints that the bucket holds whole, no _temp folder goes up, and the next sync
  brings the bucket to ckpt-3."""
  s = sync_setup(tmp_path, branch)
  make_run(s.local, keep=1)
  result = sync_up(s)
  assert result.returncode == 0, result.stderr
  assert set(tree(s.remote_dir)) == synced('ckpt-1')  # no _temp, damaged/ stays local
  fakelib.tf_save(str(s.ckpt), 2, keep=1)
  restore(s.local, tmp_path / 'local_before')
  restore(s.remote_dir, tmp_path / 'bucket_before')
  named_after_save = set()
  for at in itertools.count(1):
    restore(tmp_path / 'local_before', s.local)
    restore(tmp_path / 'bucket_before', s.remote_dir)
    result, hooked = sync_up_with_hook(s, 'save', at, FAKE_SAVE=f'{s.ckpt}:3:1')
    # A save meanwhile fails no sync: the stage holds hard links to what it read.
    assert result.returncode == 0, result.stderr
    if not hooked:
      break
    named = fakelib.latest(s.remote_dir / 'train' / 'checkpoints' / 'checkpoint')
    named_after_save.add(named)
    if named == 'ckpt-2':
      result = sync_up(s, FAKE_BUCKET='')  # the next one
      assert result.returncode == 0, result.stderr
    assert set(tree(s.remote_dir)) == synced('ckpt-3'), f'saved at step {at}'
    assert not s.stage.exists()
  assert at > 6  # stage, data, index files, state file, deletions
  # Saved before the sync read the state file, and after.
  assert named_after_save == {'ckpt-2', 'ckpt-3'}
  assert not s.violations.exists(), s.violations.read_text()


@needs_rsync
@pytest.mark.parametrize('branch', ['folder', 'gs'])
def test_sync_up_fails_and_leaves_the_bucket_when_a_named_checkpoint_is_gone(tmp_path, branch):
  """TF writes the state file naming the checkpoints it then deletes: a sync that reads it then,
  and finds one of them half deleted, fails without changing the bucket; the next one works."""
  s = sync_setup(tmp_path, branch)
  make_run(s.local, keep=2)
  fakelib.tf_save(str(s.ckpt), 2, keep=2)
  assert sync_up(s).returncode == 0
  fakelib.tf_save(str(s.ckpt), 3, keep=3)  # names ckpt-1, 2, 3
  (s.ckpt / 'ckpt-1.index').unlink()  # keep=2 deletes ckpt-1, and the sync reads now
  before = tree(s.bucket)
  result = sync_up(s)
  assert result.returncode == 1
  assert 'ckpt-1, named by its state file, is gone' in result.stderr
  assert tree(s.bucket) == before
  assert not s.stage.exists()
  fakelib.tf_save(str(s.ckpt), 3, keep=2)  # the save finishes: ckpt-1 gone, ckpt-2 and 3 kept
  result = sync_up(s)
  assert result.returncode == 0, result.stderr
  assert set(tree(s.remote_dir)) == synced('ckpt-2', 'ckpt-3')
  assert not s.violations.exists(), s.violations.read_text()


@needs_rsync
@pytest.mark.parametrize('branch', ['folder', 'gs'])
def test_a_sync_killed_midway_leaves_a_whole_checkpoint_and_the_run_resumes(tmp_path, branch):
  """The machine dies (SIGKILL) at each step of a sync in turn, ckpt-2 new on its disk and
  ckpt-1 in the bucket: the bucket's state file still names a whole checkpoint; the next sync
  (the machine back with its disk) brings the bucket to ckpt-2; a new machine resumes from
  the bucket as the kill left it."""
  s = sync_setup(tmp_path, branch)
  make_run(s.local, keep=1)
  assert sync_up(s).returncode == 0
  fakelib.tf_save(str(s.ckpt), 2, keep=1)  # the trainer goes on: ckpt-2, ckpt-1 deleted
  with open(s.local / 'train_eval.log', 'a') as log:
    log.write('iteration 2\n')
  restore(s.local, tmp_path / 'local_before')
  restore(s.remote_dir, tmp_path / 'bucket_before')
  state = s.remote_dir / 'train' / 'checkpoints' / 'checkpoint'
  named_after_kill, half = set(), None
  for at in itertools.count(1):
    restore(tmp_path / 'local_before', s.local)
    restore(tmp_path / 'bucket_before', s.remote_dir)
    # No check at each step: the bucket a kill leaves is checked below.
    result, hooked = sync_up_with_hook(s, 'kill', at, FAKE_BUCKET='')
    if not hooked:
      assert result.returncode == 0, result.stderr
      break
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert fakelib.violations(s.bucket) == []
    named_after_kill.add(fakelib.latest(state))
    if half is None and fakelib.latest(state) == 'ckpt-1' and any(
        s.remote_dir.glob('train/checkpoints/ckpt-2.*')):
      half = tmp_path / 'bucket_half'  # ckpt-2 on its way up
      restore(s.remote_dir, half)
    assert s.stage.exists()  # left behind; the next sync starts afresh
    result = sync_up(s, FAKE_BUCKET='')
    assert result.returncode == 0, result.stderr
    assert set(tree(s.remote_dir)) == synced('ckpt-2'), f'killed at step {at}'
    assert not s.stage.exists()
  assert named_after_kill == {'ckpt-1', 'ckpt-2'}  # killed before and after the state file
  assert half is not None
  assert not s.violations.exists(), s.violations.read_text()
  # A new machine (a fresh work folder) resumes from the bucket as the kill left it.
  restore(half, s.remote_dir)
  calls = tmp_path / 'train_calls'
  result = run_script(s.script, {
      **s.env, 'SWEEP_SHARD': '0', 'SWEEP_REMOTE': s.root, 'SWEEP_WORK': str(tmp_path / 'new'),
      'SWEEP_PYTHON': str(s.bin_dir / 'fake_python'), 'SWEEP_ON_DONE': 'none',
      'SWEEP_SYNC_EVERY': '1', 'FAKE_CALLS': str(calls)})
  assert calls.read_text() == f'{s.name} resumed_from=ckpt-1 whole=True gin=True\n'
  assert (s.remote_dir / 'DONE').exists()
  assert fakelib.latest(state) == 'ckpt-3'
  assert set(tree(s.remote_dir)) == synced('ckpt-2', 'ckpt-3') | {'DONE', 'started'}
  assert not s.violations.exists(), s.violations.read_text()
  assert 'resuming from' in result.stderr


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
