"""Exports a policy as a SavedModel under root_dir/policy, replacing the previous export whole."""
import contextlib
import logging
import os
import shutil
import warnings

from absl import logging as absl_logging
import tensorflow as tf
from tf_agents.policies import policy_saver

POLICY_DIRNAME = 'policy'


def policy_dir(root_dir):
  """The newest complete export under root_dir, or None if there is none."""
  final = os.path.join(root_dir, POLICY_DIRNAME)
  for candidate in (final, final + '.old'):
    # A kill between export()'s two renames leaves only the previous export, as .old.
    if os.path.exists(os.path.join(candidate, 'saved_model.pb')):
      return candidate
  return None


class PolicyExporter:
  """Saves `policy` (with the train step) to root_dir/policy; a kill never leaves half an export.

  The PolicySaver is built at the first export and reused: building it traces
  the policy's functions, which runs that need no export should not pay for.
  """

  def __init__(self, root_dir, policy, train_step):
    self._final = os.path.join(root_dir, POLICY_DIRNAME)
    self._policy = policy
    self._train_step = train_step
    self._saver = None

  def exists(self):
    return os.path.exists(os.path.join(self._final, 'saved_model.pb'))

  def export(self):
    """Writes the policy to policy.tmp, then swaps it in for the previous export."""
    staging, previous = self._final + '.tmp', self._final + '.old'
    # Leftovers of a killed export: a half-written .tmp is useless; an .old is
    # kept until a new export is complete, since it may be the only one.
    shutil.rmtree(staging, ignore_errors=True)
    # PolicySaver logs about six harmless INFO and WARNING lines a save.
    with quietly():
      if self._saver is None:
        self._saver = policy_saver.PolicySaver(self._policy, train_step=self._train_step)
      self._saver.save(staging)
    # A directory cannot replace a non-empty one in one rename, hence two.
    if os.path.exists(self._final):
      shutil.rmtree(previous, ignore_errors=True)
      os.rename(self._final, previous)
    os.rename(staging, self._final)
    shutil.rmtree(previous, ignore_errors=True)
    return self._final


@contextlib.contextmanager
def quietly():
  """Keeps TensorFlow's INFO and WARNING lines, and Python's UserWarnings, out of the log."""
  tf_logger = tf.get_logger()
  absl_level, tf_level = absl_logging.get_verbosity(), tf_logger.level
  absl_logging.set_verbosity(absl_logging.ERROR)
  tf_logger.setLevel(logging.ERROR)
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', UserWarning)
      yield
  finally:
    absl_logging.set_verbosity(absl_level)
    tf_logger.setLevel(tf_level)
