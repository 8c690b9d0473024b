"""Observation normalisation as HER does it: running mean and std of the inputs, clipped.

Andrychowicz et al. (2017) normalise each dimension of (observation, goal) by the
running mean and standard deviation of what the agent has trained on and clip
the result to [-5, 5]. Positions that differ by a centimetre differ by a tenth
of a standard deviation then, not by 0.01 on top of 0.6, which is what lets
their networks tell nearby states apart early.

An agent owns one RunningMeanStd, updates it from each training batch and
copies its mean and std into every network it built with `normalized`, so the
actor, the critics, their targets and any snapshot of the actor (which copies
all of the actor's variables) apply the same statistics within a train step.
"""
import tensorflow as tf
from tf_agents.networks import network

from c_learning import precision

# HER's constants: the smallest standard deviation divided by (a constant input
# is centred, not blown up) and the clip of the normalised value.
MIN_STD = 1e-2
CLIP = 5.0


class RunningMeanStd(tf.Module):
  """The count, mean and variance of every row seen so far, per dimension, updated batch by batch."""

  def __init__(self, width, name='RunningMeanStd'):
    super().__init__(name=name)
    # float64 sums, so that millions of updates do not lose the small ones.
    self.count = tf.Variable(0.0, dtype=tf.float64, trainable=False, name='count')
    self.mean = tf.Variable(tf.zeros([width], tf.float64), trainable=False, name='mean')
    self.sum_squares = tf.Variable(tf.zeros([width], tf.float64), trainable=False,
                                   name='sum_squares')

  def update(self, rows):
    """Adds rows [B, width] (Chan et al.'s parallel update of the mean and of the sum of squared deviations)."""
    rows = tf.cast(rows, tf.float64)
    batch_count = tf.cast(tf.shape(rows)[0], tf.float64)
    batch_mean = tf.reduce_mean(rows, axis=0)
    batch_squares = tf.reduce_sum(tf.square(rows - batch_mean), axis=0)
    total = self.count + batch_count
    delta = batch_mean - self.mean
    self.mean.assign_add(delta * batch_count / total)
    self.sum_squares.assign_add(batch_squares + tf.square(delta) * self.count * batch_count / total)
    self.count.assign(total)

  def mean_and_std(self, min_std=MIN_STD):
    """(mean, std) as float32; std is at least min_std, and 1 before any update."""
    variance = self.sum_squares / tf.maximum(self.count, 1.0)
    std = tf.where(self.count > 0, tf.maximum(tf.sqrt(variance), min_std), 1.0)
    return tf.cast(self.mean, tf.float32), tf.cast(std, tf.float32)


class Normalize(tf.keras.layers.Layer):
  """(x - mean) / std clipped to [-CLIP, CLIP], with mean and std set from outside (`assign`)."""

  def __init__(self, width, name='Normalize'):
    # float32 statistics and output in mixed-precision runs too (c_learning.precision).
    super().__init__(name=name, dtype=precision.FLOAT32)
    self.shift = self.add_weight(name='mean', shape=[width], initializer='zeros',
                                 trainable=False)
    self.scale = self.add_weight(name='std', shape=[width], initializer='ones',
                                 trainable=False)

  def assign(self, mean, std):
    return tf.group(self.shift.assign(mean), self.scale.assign(std))

  def call(self, inputs):
    return tf.clip_by_value((tf.cast(inputs, tf.float32) - self.shift) / self.scale, -CLIP, CLIP)


def _observation_width(input_spec):
  observation_spec = input_spec[0] if isinstance(input_spec, tuple) else input_spec
  return observation_spec.shape[0]


class _NormalizedInput:
  """What the two wrappers share: normalise the observation (the first input of a pair), then run the inner network."""

  def _wrap(self, inner, name, network_class, **network_kwargs):
    network_class.__init__(self, input_tensor_spec=inner.input_tensor_spec,
                           state_spec=inner.state_spec, name=name, **network_kwargs)
    self._inner = inner
    self.normalize = Normalize(_observation_width(inner.input_tensor_spec))

  @property
  def inner(self):
    """The network that sees the normalised observation."""
    return self._inner

  def copy(self, **kwargs):
    """A new wrapper over a copy of the inner network (weights and statistics are not copied, as Network.copy)."""
    return normalized(self._inner.copy(), name=kwargs.pop('name', self.name), **kwargs)

  def call(self, inputs, step_type=(), network_state=(), training=False):
    if isinstance(inputs, tuple):
      inputs = (self.normalize(inputs[0]),) + tuple(inputs[1:])
    else:
      inputs = self.normalize(inputs)
    return self._inner(inputs, step_type=step_type, network_state=network_state,
                       training=training)


class NormalizedNetwork(_NormalizedInput, network.Network):
  """A network (a critic over (observation, action), a deterministic actor) that sees normalised observations."""

  def __init__(self, inner, name=None):
    self._wrap(inner, name or inner.name, network.Network)


class NormalizedDistributionNetwork(_NormalizedInput, network.DistributionNetwork):
  """An actor that outputs a distribution and sees normalised observations."""

  def __init__(self, inner, name=None):
    self._wrap(inner, name or inner.name, network.DistributionNetwork,
               output_spec=inner.output_spec)


def normalized(inner, name=None):
  """`inner` behind a Normalize layer: a NormalizedDistributionNetwork for a distribution network."""
  if isinstance(inner, network.DistributionNetwork):
    return NormalizedDistributionNetwork(inner, name=name)
  return NormalizedNetwork(inner, name=name)
