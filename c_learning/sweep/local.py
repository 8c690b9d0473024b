"""Runs a sweep's runs on this machine, K at a time, with a live summary and a log per run."""
import ctypes
import ctypes.util
import dataclasses
import os
import signal
import subprocess
import sys
import time

from c_learning import records
from c_learning import run_lock
from c_learning import stopping

DONE = 'DONE'  # written into a run's directory when its command exits 0
LOG = 'train_eval.log'
# How long an interrupted runner waits for each run to save (a 1M-transition replay: ~4 s).
SAVE_WAIT_SECONDS = 60


@dataclasses.dataclass
class Job:
  """A command whose success is recorded as run_dir/DONE."""
  name: str
  argv: list
  run_dir: str
  process: subprocess.Popen = None
  returncode: int = None
  # time.time() when its process started, and when its end was seen (for wall-clock records).
  started: float = None
  ended: float = None


def jobs_for(sweep, root, python=None):
  """One Job a run, in the run's directory under root (its name in the sweep's layout)."""
  python = python or sys.executable
  root = os.path.abspath(root)
  return [Job(run.name, run.argv(run.run_dir(root), python), run.run_dir(root))
          for run in sweep.runs]


def run_jobs(jobs, workers, cwd=None, status_every=30.0, poll=0.2, out=None, on_exit=None,
             on_progress=None):
  """Runs unfinished jobs `workers` at a time; returns the failed ones.

  A job whose run_dir has DONE is skipped; any other job is (re)started with the
  same command, which is how train_eval resumes from its checkpoint. on_exit(job),
  if given, is called each time a started job's process ends (returncode, started
  and ended set), also when an interrupt stops it, and before DONE is written.
  on_progress(job), if given, is called for each running job at each status line
  (printed whenever a job starts or ends, and every status_every seconds; ended and
  returncode still None): what it records survives a runner killed without a chance to
  call on_exit.
  """
  if workers < 1:
    raise ValueError(f'--workers={workers}: need at least 1.')
  out = out or sys.stdout
  pending = []
  done = 0
  for job in jobs:
    if os.path.exists(os.path.join(job.run_dir, DONE)):
      done += 1
    else:
      pending.append(job)
  print(f'{len(jobs)} runs: {done} already finished, {len(pending)} to run, '
        f'{workers} at a time; logs in <run dir>/{LOG}', file=out, flush=True)
  running, failed = [], []
  last_line, last_time = None, 0.0
  try:
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the runs like Ctrl-C
  except ValueError:  # not the main thread: leave SIGTERM alone
    previous = None
  try:
    while pending or running:
      for job in list(running):
        if job.process.poll() is None:
          continue
        running.remove(job)
        _ended(job, on_exit)
        if job.returncode == 0:
          with open(os.path.join(job.run_dir, DONE), 'w') as f:
            f.write(time.strftime('%Y-%m-%dT%H:%M:%S\n'))
          done += 1
        elif job.returncode == stopping.EXIT_STATUS:
          failed.append(job)
          print(f'STOPPED {job.name} (exit {job.returncode}: it saved on a signal; the same '
                'command resumes it)', file=out, flush=True)
        else:
          failed.append(job)
          print(f'FAILED {job.name} (exit {job.returncode}); log: '
                f'{os.path.join(job.run_dir, LOG)}', file=out, flush=True)
      while pending and len(running) < workers:
        job = pending.pop(0)
        held_by = run_lock.holder(job.run_dir)
        if held_by:  # a run started by hand, or by another sweep on the same folder
          failed.append(job)
          print(f'NOT STARTED {job.name}: its folder {job.run_dir} is in use by {held_by}',
                file=out, flush=True)
          continue
        running.append(_start(job, cwd))
      line = _summary(len(jobs), done, running, failed, pending)
      # Print on every change, and now and then so a long quiet run shows progress.
      if line != last_line or time.time() - last_time >= status_every:
        print(time.strftime('[%H:%M:%S] ') + line + _progress(running), file=out, flush=True)
        last_line, last_time = line, time.time()
        if on_progress is not None:
          for job in running:
            on_progress(job)
      if running:
        time.sleep(poll)
  except KeyboardInterrupt:
    # Each run saves a checkpoint on SIGTERM before it exits (c_learning.stopping).
    for job in running:
      job.process.send_signal(signal.SIGTERM)
    for job in running:
      try:
        job.process.wait(timeout=SAVE_WAIT_SECONDS)
      except subprocess.TimeoutExpired:
        job.process.kill()
        job.process.wait()
      _ended(job, on_exit)
    print('interrupted: start the same command again to resume.', file=out, flush=True)
    raise
  finally:
    if previous is not None:
      signal.signal(signal.SIGTERM, previous)
  for job in failed:
    if job.process is None:
      print(f'failed: {job.name} (not started: its folder is in use)', file=out, flush=True)
      continue
    print(f'failed: {job.name} (exit {job.returncode}); last lines of its log:', file=out)
    print(_tail(os.path.join(job.run_dir, LOG)), file=out, flush=True)
  return failed


def _ended(job, on_exit):
  """Records that a job's process has ended and tells on_exit."""
  job.returncode = job.process.returncode
  job.ended = time.time()
  if on_exit is not None:
    on_exit(job)


def _interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def _start(job, cwd):
  os.makedirs(job.run_dir, exist_ok=True)
  log = open(os.path.join(job.run_dir, LOG), 'ab')  # appended: a resumed run keeps its history
  log.write(time.strftime('\n=== %Y-%m-%d %H:%M:%S start: ').encode()
            + ' '.join(job.argv).encode() + b'\n')
  log.flush()
  job.started = time.time()
  job.process = subprocess.Popen(job.argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                 stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
  log.close()  # the child holds its own descriptor
  return job


def _die_with_parent():
  """In the child: SIGTERM when the runner dies, even by SIGKILL (Linux; elsewhere a no-op)."""
  # Without it a killed runner leaves its runs going, and a restarted runner would start a
  # second process on the same run directory.
  libc = ctypes.util.find_library('c')
  if libc and sys.platform.startswith('linux'):
    ctypes.CDLL(libc).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _summary(total, done, running, failed, pending):
  return (f'done {done}/{total}  running {len(running)}  failed {len(failed)}  '
          f'pending {len(pending)}')


def _progress(running):
  """'  | name 1200/3000000, ...': where each running run has got to, from its records."""
  parts = []
  for job in running:
    latest = records.latest_progress(records.read(job.run_dir))
    parts.append(job.name + (f' {latest["iteration"]}/{latest["num_iterations"]}'
                             if latest else ''))
  return ('  | ' + ', '.join(parts)) if parts else ''


def _tail_bytes(path, size=4096):
  try:
    with open(path, 'rb') as f:
      f.seek(max(0, os.path.getsize(path) - size))
      return f.read()
  except OSError:
    return b''


def _tail(path, lines=5):
  text = _tail_bytes(path).decode(errors='replace').rstrip().splitlines()[-lines:]
  return '\n'.join('    ' + line for line in text)
