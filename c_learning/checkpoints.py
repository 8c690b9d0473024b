"""A run's checkpoints: resume from the newest one that restores, keep the last N, stop cleanly on a full disk."""
import errno
import glob
import os
import re
import shutil

from absl import logging
import tensorflow as tf

from c_learning import config

DAMAGED_DIRNAME = 'damaged'
_NUMBERED = re.compile(r'^ckpt-(\d+)\.index$')


class NoUsableCheckpoint(config.RunError):
  """Checkpoints exist, but none of them restores."""


class DiskFull(config.RunError):
  """A checkpoint could not be written for lack of space."""


def _number(prefix):
  return int(prefix.rsplit('-', 1)[1])


def _files(prefix):
  """The files of the checkpoint at prefix (its index and data shards)."""
  return sorted(glob.glob(glob.escape(prefix) + '.*'))


def _size(num_bytes):
  """'117 KB', '12.3 MB', '1.2 GB'."""
  if num_bytes < 2**20:
    return f'{num_bytes / 2**10:.0f} KB'
  if num_bytes < 2**30:
    return f'{num_bytes / 2**20:.1f} MB'
  return f'{num_bytes / 2**30:.1f} GB'


def unreadable(prefix):
  """Why the checkpoint at prefix cannot be read whole ('IndexError: ...'), or None if it can.

  Reading every tensor checks each one against the checksum in the index, so
  a truncated, corrupted or missing index or data file is found before any
  object is restored: a run never holds one checkpoint's agent and another's
  replay buffer.
  """
  try:
    reader = tf.train.load_checkpoint(prefix)
    for key in reader.get_variable_to_dtype_map():
      reader.get_tensor(key)
  except (tf.errors.OpError, IndexError, ValueError) as error:
    return f'{type(error).__name__}: {config.first_line(error)}'
  return None


def is_out_of_space(error):
  """Whether an error from writing a file means the disk is full."""
  if isinstance(error, OSError):
    return error.errno == errno.ENOSPC
  return isinstance(error, tf.errors.OpError) and 'No space left on device' in str(error)


def estimated_bytes(checkpoint):
  """About how many bytes a save of `checkpoint` writes: the tensors of every object it reaches."""
  total = 0
  for trackable in tf.train.TrackableView(checkpoint).descendants():
    if isinstance(trackable, tf.Variable):
      total += trackable.shape.num_elements() * trackable.dtype.size
      continue
    try:
      tensors = trackable._serialize_to_tensors()  # pylint: disable=protected-access
    except NotImplementedError:
      continue
    for tensor in tf.nest.flatten(tensors):
      if isinstance(tensor, tf.Tensor) and tensor.dtype != tf.string:
        total += tensor.shape.num_elements() * tensor.dtype.size
  return total


class RunCheckpoints:
  """The checkpoints of one run in `directory`, each holding all of `parts` (agent, replay buffer, ...)."""

  def __init__(self, directory, keep, **parts):
    self._directory = directory
    self._keep = keep
    self._checkpoint = tf.train.Checkpoint(**parts)
    self._manager = None

  def restore(self):
    """Restores the newest checkpoint that reads whole; returns its step, or None if there is none.

    A damaged newer one is reported in one warning and its files are moved
    to `damaged/` beside the others, so that no later start tries it again.

    Raises:
      NoUsableCheckpoint: there are checkpoints, but none reads whole.
    """
    os.makedirs(self._directory, exist_ok=True)
    self._remove_unfinished_saves()
    failures = []
    chosen = None
    candidates = self._candidates()
    for prefix in candidates:
      problem = unreadable(prefix)
      if problem is None:
        chosen = prefix
        break
      failures.append((prefix, problem))
    if failures and chosen is None:
      listed = '; '.join(f'{os.path.basename(p)} ({problem})' for p, problem in failures)
      raise NoUsableCheckpoint(
          f'no checkpoint in {self._directory} restores: {listed}. To start the run over '
          f'from step 0, move {self._directory} aside (or choose another --root_dir).')
    for prefix, problem in failures:
      self._set_aside(prefix, problem, os.path.basename(chosen))
    if chosen is not None:
      # The state file, which CheckpointManager reads, then names the chosen
      # checkpoint as the newest, and the older ones.
      self._write_state(reversed(candidates[len(failures):]))
    self._manager = tf.train.CheckpointManager(
        self._checkpoint, self._directory, max_to_keep=self._keep)
    if chosen is None:
      logging.info('No checkpoint in %s: the run starts at step 0.', self._directory)
      return None
    # expect_partial: a run resumed without its replay buffer restores none of it.
    self._checkpoint.restore(chosen).expect_partial()
    logging.info('Restored %s.', chosen)
    return _number(chosen)

  @property
  def directory(self):
    return self._directory

  def latest_name(self):
    """The newest checkpoint's name ('ckpt-40'), or None if there is none."""
    latest = self._manager.latest_checkpoint if self._manager else None
    return os.path.basename(latest) if latest else None

  def save(self, step):
    """Writes checkpoint ckpt-<step> and drops the oldest beyond `keep`.

    Raises:
      DiskFull: the disk filled up; the partial files are removed and the
        previous checkpoint is left as it was, so the same command resumes
        from it once there is space.
    """
    try:
      self._manager.save(checkpoint_number=step)
    except (OSError, tf.errors.OpError) as error:
      if not is_out_of_space(error):
        raise
      prefix = os.path.join(self._directory, f'ckpt-{step}')
      shutil.rmtree(prefix + '_temp', ignore_errors=True)
      for path in _files(prefix):
        os.remove(path)
      previous = self._manager.latest_checkpoint
      raise DiskFull(
          f'no space left in {self._directory} for checkpoint ckpt-{step}: it needs about '
          f'{_size(estimated_bytes(self._checkpoint))}, '
          f'{_size(shutil.disk_usage(self._directory).free)} are free. '
          + (f'{os.path.basename(previous)} is intact: free some space and run the same '
             'command to resume from it.' if previous else
             'There is no earlier checkpoint: free some space and run the same command.')
      ) from None

  def _candidates(self):
    """The checkpoints in the directory, newest first: those the state file names and any other ckpt-N.index."""
    named = set()
    # TensorFlow logs a state file that does not parse and returns None.
    state = tf.train.get_checkpoint_state(self._directory)
    if state is None and os.path.exists(os.path.join(self._directory, 'checkpoint')):
      logging.warning('The checkpoint state file in %s does not parse; looking for '
                      'ckpt-N.index files instead.', self._directory)
    if state is not None:
      named.update(os.path.join(self._directory, os.path.basename(p))
                   for p in state.all_model_checkpoint_paths)
      if state.model_checkpoint_path:
        named.add(os.path.join(self._directory, os.path.basename(state.model_checkpoint_path)))
    for name in os.listdir(self._directory):
      match = _NUMBERED.match(name)
      if match:
        named.add(os.path.join(self._directory, f'ckpt-{match.group(1)}'))
    return sorted(named, key=_number, reverse=True)

  def _write_state(self, prefixes):
    """Rewrites the state file to name `prefixes` (oldest first), relative to the directory, as CheckpointManager does."""
    prefixes = list(prefixes)
    names = [os.path.basename(p) for p in prefixes]
    # CheckpointManager deletes old checkpoints only where their timestamp is
    # after last_preserved_timestamp: the files' own times, and one before.
    times = [max([os.path.getmtime(f) for f in _files(p)] or [0.0]) for p in prefixes]
    lines = [f'model_checkpoint_path: "{names[-1]}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
    lines += [f'all_model_checkpoint_timestamps: {t!r}' for t in times]
    lines += [f'last_preserved_timestamp: {min(times) - 1.0!r}']
    path = os.path.join(self._directory, 'checkpoint')
    with open(path + '.tmp', 'w', encoding='utf-8') as state:
      state.write('\n'.join(lines) + '\n')
    os.replace(path + '.tmp', path)  # a kill never leaves half a state file

  def _set_aside(self, prefix, problem, instead):
    damaged_dir = os.path.join(self._directory, DAMAGED_DIRNAME)
    os.makedirs(damaged_dir, exist_ok=True)
    files = _files(prefix)
    for path in files:
      os.replace(path, os.path.join(damaged_dir, os.path.basename(path)))
    logging.warning(
        'Checkpoint %s does not restore (%s); its files (%s) are moved to %s; resuming from '
        '%s instead.', prefix, problem, ', '.join(os.path.basename(f) for f in files) or 'none',
        damaged_dir, instead)

  def _remove_unfinished_saves(self):
    """Removes the ckpt-N_temp folders of saves that a kill or a full disk interrupted."""
    for path in glob.glob(os.path.join(glob.escape(self._directory), 'ckpt-*_temp')):
      logging.info('Removing %s, left by an interrupted save.', path)
      shutil.rmtree(path, ignore_errors=True)
