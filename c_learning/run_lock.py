"""One process per run folder: an advisory lock that the kernel drops when its holder dies."""
import contextlib
import fcntl
import os
import socket
import time

from c_learning import config

LOCK_NAME = '.lock'


class FolderInUse(config.RunError):
  """Another live process holds the run folder."""


def _describe(lock_file):
  """'process 1234 on host h, since ...' from what the holder wrote, or 'another process'."""
  lock_file.seek(0)
  fields = lock_file.read().split()
  if len(fields) >= 2 and fields[0].isdigit():
    since = ' '.join(fields[2:4]) if len(fields) >= 4 else 'an unknown time'
    return f'process {fields[0]} on host {fields[1]} (since {since})'
  return 'another process'  # it has the lock but has not written its pid yet


@contextlib.contextmanager
def hold(root_dir):
  """Holds root_dir for this process, or raises FolderInUse naming the process that does.

  flock, not a pid file: a holder killed with SIGKILL, or a machine that
  restarts, releases it, so a stale lock never blocks the next start; a copy of
  the folder (a bucket sync) carries the file but never the lock.
  """
  os.makedirs(root_dir, exist_ok=True)
  path = os.path.join(root_dir, LOCK_NAME)
  lock_file = open(path, 'a+', encoding='utf-8')  # pylint: disable=consider-using-with
  try:
    try:
      fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise FolderInUse(
          f'run folder {root_dir} is in use by {_describe(lock_file)}: two runs in one '
          'folder would overwrite each other\'s checkpoints and summaries; wait for it to '
          'end, stop it, or choose another --root_dir.') from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f'{os.getpid()} {socket.gethostname()} '
                    f'{time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())} UTC\n')
    lock_file.flush()
    yield
  finally:
    lock_file.close()  # closing the descriptor releases the lock


def holder(root_dir):
  """Who holds root_dir ('process 1234 on host h (since ...)'), or None if no live process does."""
  path = os.path.join(root_dir, LOCK_NAME)
  if not os.path.exists(path):
    return None
  with open(path, 'r', encoding='utf-8') as lock_file:
    try:
      fcntl.flock(lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
      return _describe(lock_file)
  return None
