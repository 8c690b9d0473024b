"""Tests of the stop-on-signal flag and of reading a non-finite loss back from TensorFlow's error."""
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from c_learning import divergence
from c_learning import stopping


def test_a_signal_sets_the_flag_a_second_sigterm_is_ignored_and_a_second_sigint_raises():
  previous = signal.getsignal(signal.SIGTERM)
  with stopping.StopOnSignal() as stop:
    assert not stop.requested
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.requested and stop.signal_name == 'SIGTERM' and stop.received_at > 0
    os.kill(os.getpid(), signal.SIGTERM)  # a VM's and a script's: still only a request
    assert stop.signal_name == 'SIGTERM'
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGTERM) == previous


@pytest.mark.parametrize('value, owner, name', [
    (float('nan'), 'C-learning', 'critic loss'), (float('inf'), 'TD3+HER (XLA train step)',
                                                   'actor_loss')])
def test_a_non_finite_loss_is_read_back_from_the_traced_error(value, owner, name):
  checked = tf.function(lambda x: divergence.check_loss(x, owner, name))
  assert float(checked(tf.constant(1.5))) == 1.5
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    checked(tf.constant(value))
  assert divergence.loss_named_in(raised.value) == f'{owner} {name}'
  other = tf.function(lambda x: tf.debugging.check_numerics(x, 'something else'))
  with pytest.raises(tf.errors.InvalidArgumentError) as raised:
    other(tf.constant(value))
  assert divergence.loss_named_in(raised.value) is None  # not ours: a bug, kept as it is


def test_non_finite_weights_are_found_and_named():
  weights = [tf.Variable(np.ones(3, np.float32), name='fine'), tf.Variable(3, name='count'),
             tf.Variable(np.ones((2, 2), np.float32), name='poisoned')]
  all_finite = divergence.all_finite_fn(weights)
  assert bool(all_finite()) and divergence.non_finite_variable(weights) is None
  weights[2].assign([[1.0, np.inf], [0.0, 1.0]])
  assert not bool(all_finite())
  assert divergence.non_finite_variable(weights) == 'poisoned:0'
