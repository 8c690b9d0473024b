"""SIGTERM and SIGINT as a request to stop at the next safe point: save, record, exit with EXIT_STATUS.

A preemptible VM gets SIGTERM about 30 seconds before it stops; Ctrl-C is
SIGINT. Either one, while a run holds StopOnSignal, only sets a flag: the
traced call that is running finishes (a signal cannot cut one short), then the
runner saves a checkpoint and the policy, writes a `preempted` record and
raises Stopped, and the entry point exits with EXIT_STATUS. Running the same
command again resumes from that checkpoint.
"""
import signal
import threading
import time

from absl import logging

# sysexits.h's EX_TEMPFAIL, "try again later": the run saved and stopped on a signal;
# the same command resumes it. Sweeps tell it from a failure (exit 1) by this number.
EXIT_STATUS = 75

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
  """A run stopped on a signal after saving; its message is one line that says where it stopped."""


class StopOnSignal:
  """While entered, SIGTERM and SIGINT set `requested` instead of ending the process.

  A second SIGTERM while stopping is logged and ignored (a VM's shutdown and a
  sweep script may both send one); a second SIGINT raises KeyboardInterrupt, so
  an impatient Ctrl-C still ends the process at once (a save cut short this way
  leaves the previous checkpoint, which the next start resumes from).
  Outside the main thread, where Python cannot take signals, it does nothing.
  """

  def __init__(self):
    self.signal_name = None  # 'SIGTERM' or 'SIGINT' once one has come
    self.received_at = None  # time.time() when it came
    self._previous = {}

  @property
  def requested(self):
    return self.signal_name is not None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for signum in _SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *unused_exc_info):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}
    return False

  def _handle(self, signum, unused_frame):
    name = signal.Signals(signum).name
    if self.requested:
      if signum == signal.SIGINT:
        raise KeyboardInterrupt
      logging.warning('%s: already stopping on %s; ignored.', name, self.signal_name)
      return
    self.signal_name, self.received_at = name, time.time()
    logging.warning('%s: the run stops after the current traced call, once its checkpoint and '
                    'policy are saved (a second Ctrl-C ends it at once).', name)
