"""Tests of c_learning.networks: the classifier critic and the actor builder."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec

from c_learning import networks

OBS_SPEC = tf.TensorSpec((6,), tf.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec(
    (2,), tf.float32, minimum=[-2.0, 0.0], maximum=[1.0, 3.0])


pytestmark = pytest.mark.usefixtures('clear_gin')


def _inputs(batch_size, scale=1.0, seed=0):
  rng = np.random.RandomState(seed)
  observations = tf.constant(scale * rng.randn(batch_size, 6), tf.float32)
  actions = tf.constant(rng.uniform(-2.0, 1.0, (batch_size, 2)), tf.float32)
  return observations, actions


def test_critic_output_is_one_logit_per_row():
  critic = networks.build_critic_network(OBS_SPEC, ACTION_SPEC, (16, 8))
  logits, state = critic(_inputs(5))
  assert logits.shape == (5,)
  assert state == ()


def test_critic_layer_sizes_are_configurable():
  default = networks.build_critic_network(OBS_SPEC, ACTION_SPEC)
  default.create_variables()
  kernels = [v.shape.as_list() for v in default.trainable_variables
             if 'kernel' in v.name]
  assert kernels == [[8, 256], [256, 256], [256, 1]]

  linear = networks.ClassifierCriticNetwork((OBS_SPEC, ACTION_SPEC),
                                            fc_layer_params=())
  linear.create_variables()
  kernels = [v.shape.as_list() for v in linear.trainable_variables
             if 'kernel' in v.name]
  assert kernels == [[8, 1]]


def test_critic_returns_unbounded_logits():
  critic = networks.build_critic_network(OBS_SPEC, ACTION_SPEC, (16,))
  critic.create_variables()
  for v in critic.variables:
    if v.name.endswith('logit/bias:0'):
      v.assign([7.5])
  logits, _ = critic(_inputs(64, scale=0.0))
  # Zero observations still see the actions; the bias dominates but the output
  # is a raw logit, far outside the [0, 1] range of a probability.
  np.testing.assert_array_less(1.0, logits.numpy())

  for v in critic.variables:
    if v.name.endswith('logit/bias:0'):
      v.assign([-7.5])
  logits, _ = critic(_inputs(64, scale=0.0))
  np.testing.assert_array_less(logits.numpy(), 0.0)


def test_critic_copy_has_own_variables():
  critic = networks.build_critic_network(OBS_SPEC, ACTION_SPEC, (16,))
  critic.create_variables()
  copy = critic.copy(name='Copy')
  copy.create_variables()
  assert len(copy.variables) == len(critic.variables)
  ids = {id(v) for v in critic.variables}
  assert not any(id(v) in ids for v in copy.variables)


def test_critic_rejects_nested_specs():
  with pytest.raises(ValueError, match='rank-1 observation'):
    networks.ClassifierCriticNetwork(({'a': OBS_SPEC}, ACTION_SPEC))


def test_actor_samples_within_action_bounds():
  actor = networks.build_actor_network(OBS_SPEC, ACTION_SPEC, (16, 16))
  # Large observations push the pre-tanh Gaussian far out, where a missing
  # squash would leave the bounds.
  observations, _ = _inputs(256, scale=100.0)
  distribution, _ = actor(observations, step_type=(), network_state=())
  actions = distribution.sample(seed=1).numpy()
  assert actions.shape == (256, 2)
  assert np.all(actions >= ACTION_SPEC.minimum)
  assert np.all(actions <= ACTION_SPEC.maximum)
  mode = distribution.mode().numpy()
  assert np.all(mode >= ACTION_SPEC.minimum)
  assert np.all(mode <= ACTION_SPEC.maximum)


def test_actor_has_the_layer_sizes_it_is_given():
  actor = networks.build_actor_network(OBS_SPEC, ACTION_SPEC)
  actor.create_variables()
  kernels = [v.shape.as_list() for v in actor.trainable_variables
             if 'kernel' in v.name]
  # Two hidden layers, then a projection to the mean and log-std of each
  # action dimension.
  assert kernels == [[6, 256], [256, 256], [256, 4]]

  actor = networks.build_actor_network(OBS_SPEC, ACTION_SPEC, (32,))
  actor.create_variables()
  kernels = [v.shape.as_list() for v in actor.trainable_variables
             if 'kernel' in v.name]
  assert kernels == [[6, 32], [32, 4]]
