"""Run records: JSON lines in <root_dir>/records.jsonl, appended by train_eval, read by sweeps.

Kinds (every record also has "kind" and "time", unix seconds):
  start     iteration (where the run starts or resumes), num_iterations, train_step,
            env_steps, resumed, commit (the package's git commit, '+dirty' after it where
            its files differ from it; null outside a git checkout)
  progress  iteration, num_iterations, train_step, env_steps, steps_per_sec (iterations a
            second, as the progress line's steps/s), losses {name: float}
  eval      iteration, train_step, env_steps, metrics {name: float}
  end       iteration, num_iterations, train_step, env_steps, metrics (the last eval's)
  preempted iteration, num_iterations, train_step, env_steps, signal ('SIGTERM' or
            'SIGINT'), checkpoint (the one saved on it, 'ckpt-N', or null where nothing
            was done yet), seconds (from the signal to this record); the run then exits
            with status c_learning.stopping.EXIT_STATUS
  diverged  iteration, num_iterations, train_step, env_steps, what (the loss or weight that
            was not finite, and the train step), checkpoint (the last finite one, or null)
"""
import json
import os
import subprocess
import time

FILE_NAME = 'records.jsonl'
KINDS = ('start', 'progress', 'eval', 'end', 'preempted', 'diverged')


def path(root_dir):
  """root_dir/records.jsonl."""
  return os.path.join(os.path.expanduser(root_dir), FILE_NAME)


class Writer:
  """Appends records to root_dir/records.jsonl, one line a record."""

  def __init__(self, root_dir):
    self._path = path(root_dir)
    os.makedirs(os.path.dirname(self._path), exist_ok=True)
    # A file copied while a killed run was writing (a cloud sync) may end mid-line;
    # the next record starts on a line of its own so that only the torn one is lost.
    self._newline_first = _ends_mid_line(self._path)

  def start(self, iteration, num_iterations, train_step, env_steps):
    self.write('start', iteration=int(iteration), num_iterations=int(num_iterations),
               train_step=int(train_step), env_steps=int(env_steps),
               resumed=int(train_step) > 0, commit=source_commit())

  def progress(self, iteration, num_iterations, train_step, env_steps, steps_per_sec, losses):
    self.write('progress', iteration=int(iteration), num_iterations=int(num_iterations),
               train_step=int(train_step), env_steps=int(env_steps),
               steps_per_sec=float(steps_per_sec), losses=_floats(losses))

  def evaluation(self, iteration, train_step, env_steps, metrics):
    self.write('eval', iteration=int(iteration), train_step=int(train_step),
               env_steps=int(env_steps), metrics=_floats(metrics))

  def end(self, iteration, num_iterations, train_step, env_steps, metrics):
    self.write('end', iteration=int(iteration), num_iterations=int(num_iterations),
               train_step=int(train_step), env_steps=int(env_steps), metrics=_floats(metrics))

  def preempted(self, iteration, num_iterations, train_step, env_steps, signal_name,
                checkpoint, seconds):
    self.write('preempted', iteration=int(iteration), num_iterations=int(num_iterations),
               train_step=int(train_step), env_steps=int(env_steps), signal=signal_name,
               checkpoint=checkpoint, seconds=float(seconds))

  def diverged(self, iteration, num_iterations, train_step, env_steps, what, checkpoint):
    self.write('diverged', iteration=int(iteration), num_iterations=int(num_iterations),
               train_step=int(train_step), env_steps=int(env_steps), what=str(what),
               checkpoint=checkpoint)

  def write(self, kind, **fields):
    """Appends {"kind": kind, **fields, "time": now} as one line."""
    if kind not in KINDS:
      raise ValueError(f'record kind {kind!r} is unknown; allowed: {", ".join(KINDS)}.')
    data = (json.dumps({'kind': kind, **fields, 'time': time.time()}) + '\n').encode()
    if self._newline_first:
      data = b'\n' + data
    # One write call on an O_APPEND descriptor: a reader or a second writer never sees
    # half of this line followed by another.
    fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
      os.write(fd, data)
    finally:
      os.close(fd)
    self._newline_first = False


def source_commit():
  """The git commit of the package's checkout ('+dirty' where its tracked files differ), or None outside one."""
  checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  def git(*args):
    return subprocess.run(['git', '-C', checkout, *args], capture_output=True, text=True,
                          timeout=10, check=True).stdout.strip()

  try:
    commit = git('rev-parse', 'HEAD')
    dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'c_learning', 'gin')
  except (OSError, subprocess.SubprocessError):
    return None  # no git, or an installed package outside a checkout
  return commit + ('+dirty' if dirty else '')


def read(root_dir):
  """Every record in root_dir/records.jsonl, in the order written; [] where there is none."""
  try:
    with open(path(root_dir), 'rb') as f:
      data = f.read()
  except FileNotFoundError:
    return []
  records = []
  for line in data.splitlines():
    try:
      record = json.loads(line)
    except ValueError:
      continue  # the torn last line of a killed run (or an empty one)
    if isinstance(record, dict) and 'kind' in record:
      records.append(record)
  return records


def timeline(records):
  """The records of the run's current history: a start at train step S drops older ones past S."""
  # A run resumed from an earlier checkpoint does the steps after it again; what the
  # killed process wrote past that checkpoint belongs to a history that was undone.
  kept = []
  for record in records:
    if record['kind'] == 'start':
      kept = [r for r in kept if r.get('train_step', 0) <= record.get('train_step', 0)]
    kept.append(record)
  return kept


def evals_by_step(records):
  """{train_step: eval record} in train step order; a repeated step keeps the last one written."""
  by_step = {}
  for record in timeline(records):
    if record['kind'] == 'eval':
      by_step[record['train_step']] = record
  return {step: by_step[step] for step in sorted(by_step)}


def latest_progress(records):
  """The last start, progress, end, preempted or diverged record (where the run has got to), or None."""
  for record in reversed(records):
    if record['kind'] in ('start', 'progress', 'end', 'preempted', 'diverged'):
      return record
  return None


def _floats(values):
  return {str(name): float(value) for name, value in (values or {}).items()}


def _ends_mid_line(file_path):
  """Whether the file exists, is not empty and does not end with a newline."""
  try:
    with open(file_path, 'rb') as f:
      f.seek(0, os.SEEK_END)
      if f.tell() == 0:
        return False
      f.seek(-1, os.SEEK_END)
      return f.read(1) != b'\n'
  except FileNotFoundError:
    return False
