"""Exploration for a deterministic actor: Gaussian action noise and, now and then, a uniformly random action (HER's DDPG and TD3 explore so)."""
import tensorflow as tf
from tf_agents.policies import tf_policy


def action_bounds(action_spec):
  """(low, high) of a single bounded action spec, each a tensor of the action's shape."""
  spec = tf.nest.flatten(action_spec)[0]
  ones = tf.ones(spec.shape, spec.dtype)
  return tf.constant(spec.minimum, spec.dtype) * ones, tf.constant(spec.maximum, spec.dtype) * ones


class NoisyPolicy(tf_policy.TFPolicy):
  """`policy`'s action plus N(0, noise_std * half the action range), clipped to the bounds; a uniform action with probability random_action_prob."""

  def __init__(self, policy, noise_std, random_action_prob, name=None):
    super().__init__(policy.time_step_spec, policy.action_spec, policy.policy_state_spec,
                     policy.info_spec, clip=False, name=name)
    self._wrapped = policy
    self._low, self._high = action_bounds(policy.action_spec)
    self._noise_std = noise_std
    self._random_action_prob = random_action_prob

  def _variables(self):
    return self._wrapped.variables()

  def _action(self, time_step, policy_state, seed):
    del seed  # the loops seed each traced part's graph (c_learning.seeding)
    step = self._wrapped.action(time_step, policy_state)
    action = step.action
    half_range = (self._high - self._low) / 2.0
    noisy = action + tf.random.normal(tf.shape(action), dtype=action.dtype) * (
        self._noise_std * half_range)
    noisy = tf.clip_by_value(noisy, self._low, self._high)
    uniform = self._low + tf.random.uniform(tf.shape(action), dtype=action.dtype) * (
        self._high - self._low)
    batch_shape = tf.shape(action)[:1]
    pick_uniform = tf.random.uniform(batch_shape) < self._random_action_prob
    pick_uniform = tf.reshape(pick_uniform, tf.concat(
        [batch_shape, tf.ones([tf.rank(action) - 1], tf.int32)], 0))
    return step._replace(action=tf.where(pick_uniform, uniform, noisy))

  def _distribution(self, time_step, policy_state):
    raise NotImplementedError('NoisyPolicy only samples actions (a noisy, sometimes uniform action '
                              'has no closed-form distribution).')
