"""Non-finite losses and weights: found in the train step or before a save, and stopped with one line.

Every loss goes through check_loss inside the traced train step (it costs what
the agents' check_numerics always cost), and the weights are checked by
non_finite_variable before every checkpoint, export and evaluation, so a run
that diverges stops before anything non-finite is saved: its newest
checkpoint is the last finite one.
"""
import re

import numpy as np
import tensorflow as tf

from c_learning import config

# check_loss's message is '<owner> <name> is not finite.': loss_named_in reads it back.
_MARKER = 'is not finite'
# TensorFlow prefixes the message with the traced function's node ('{{function_node f}} ').
_NAMED = re.compile(r'^(?:\{\{function_node [^}]*\}\} )?(.*\S) ' + _MARKER + r'\.',
                    re.MULTILINE)


class Diverged(config.RunError):
  """A loss or a weight of the agent became inf or nan; the message names it and the last finite checkpoint."""


def check_loss(value, owner, name):
  """Returns `value`; fails the traced step with an error loss_named_in reads if it is inf or nan."""
  return tf.debugging.check_numerics(value, f'{owner} {name} {_MARKER}.')


def loss_named_in(error):
  """'<owner> <name>' (e.g. 'C-learning critic loss') if `error` is check_loss's, else None."""
  if not isinstance(error, tf.errors.InvalidArgumentError):
    return None
  match = _NAMED.search(error.message)
  if match is None:
    return None
  return match.group(1)


def all_finite_fn(variables):
  """A traced function returning whether every float variable in `variables` is finite (one bool)."""
  floats = [v for v in variables if v.dtype.is_floating]

  @tf.function(autograph=False)
  def all_finite():
    if not floats:
      return tf.constant(True)
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in floats])
  return all_finite


def non_finite_variable(variables):
  """The name of the first float variable holding an inf or nan, or None; reads them one by one."""
  for variable in variables:
    if variable.dtype.is_floating and not np.all(np.isfinite(variable.numpy())):
      return variable.name
  return None
