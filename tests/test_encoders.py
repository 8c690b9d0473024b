"""Tests of the conv encoders of pixel observations and of the networks behind them."""
import dataclasses

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import agents
from c_learning import config
from c_learning import encoders
from c_learning import frames
from c_learning import networks
from c_learning import relabel

pytestmark = pytest.mark.usefixtures('clear_gin')

ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -1.0, 1.0)
# Splits the critic agents and the imitation agents accept.
CRITIC_RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=0.3,
                                         relabel_future_prob=0.2)
REACHED_RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=0.5,
                                          relabel_future_prob=0.5)


def pixel_spec(size=48, channels=3, stack=1, state_width=6):
  return {frames.PIXELS: tf.TensorSpec((size, size, channels * stack), tf.uint8),
          frames.GOAL_PIXELS: tf.TensorSpec((size, size, channels), tf.uint8),
          frames.STATE: tf.TensorSpec((state_width,), tf.float32)}


def create(agent_name, relabeler=CRITIC_RELABELER):
  """The registry's agent for a pixel task (pixel_spec()) with the gin bindings in force."""
  return agents.create(agent_name, ts.time_step_spec(pixel_spec()), ACTION_SPEC,
                       relabeler=relabeler, gamma=0.9,
                       train_step_counter=tf.Variable(0, dtype=tf.int64))


def pixel_batch(spec, size=4, seed=0):
  rng = np.random.RandomState(seed)
  return {key: tf.constant(rng.randint(0, 256, (size, *s.shape)) if s.dtype == tf.uint8
                           else rng.randn(size, *s.shape), s.dtype)
          for key, s in spec.items()}


@pytest.mark.parametrize('torso', encoders.TORSOS)
@pytest.mark.parametrize('size,channels,stack', [(48, 3, 1), (84, 3, 1), (80, 1, 4)])
def test_each_torso_takes_the_frame_sizes_of_the_tasks(torso, size, channels, stack):
  settings = encoders.pixel_encoder(torso=torso, feature_dim=20)
  spec = pixel_spec(size, channels, stack)
  encoders.check_frame_size(settings, size, size)
  encoder = encoders.FrameEncoder(dataclasses.asdict(settings))
  features = encoder(pixel_batch(spec))
  assert features.shape == (4, 20)
  # Layer norm then tanh: bounded features.
  assert np.all(np.abs(features.numpy()) <= 1.0)


def test_include_state_puts_the_true_state_beside_the_features():
  settings = encoders.pixel_encoder(feature_dim=8, include_state=True)
  spec = pixel_spec(state_width=6)
  batch = pixel_batch(spec)
  features = encoders.FrameEncoder(dataclasses.asdict(settings))(batch)
  assert encoders.feature_spec(settings, spec).shape == (14,)
  np.testing.assert_array_equal(features[:, 8:], batch[frames.STATE])


def test_a_frame_size_the_torso_cannot_take_is_one_line():
  settings = encoders.pixel_encoder(torso='conv')
  with pytest.raises(config.ConfigError, match=r"torso='conv' cannot take 16x16 frames"):
    encoders.check_frame_size(settings, 16, 16)
  encoders.check_frame_size(encoders.pixel_encoder(torso='impala'), 16, 16)


def test_bad_encoder_settings_name_the_binding():
  with pytest.raises(config.ConfigError, match=r"pixel_encoder.torso='resnet' is unknown"):
    encoders.pixel_encoder(torso='resnet')
  with pytest.raises(config.ConfigError, match='pixel_encoder.feature_dim=0'):
    encoders.pixel_encoder(feature_dim=0)
  with pytest.raises(config.ConfigError, match='one entry per layer'):
    encoders.pixel_encoder(conv_channels=(16, 32))


def test_gin_selects_the_torso_an_agent_builds():
  gin.bind_parameter('pixel_encoder.torso', 'impala')
  agent = create('td3_her')
  layers = agent.actor_network.encoder._torso  # pylint: disable=protected-access
  assert any(isinstance(layer, tf.keras.layers.MaxPool2D) for layer in layers)


def test_a_copy_of_an_encoded_network_has_its_own_encoder():
  spec = pixel_spec()
  settings = encoders.pixel_encoder(feature_dim=16)
  critic = encoders.encoded(
      networks.build_critic_network(encoders.feature_spec(settings, spec), ACTION_SPEC, (32,)),
      dataclasses.asdict(settings), spec)
  copy = critic.copy(name='Copy')
  critic.create_variables()
  copy.create_variables()
  assert not set(map(id, critic.variables)) & set(map(id, copy.variables))
  inputs = (pixel_batch(spec), tf.zeros([4, 2]))
  for source, target in zip(critic.variables, copy.variables):
    target.assign(source)
  np.testing.assert_allclose(critic(inputs)[0], copy(inputs)[0], rtol=1e-6)


def _pixel_agent(share):
  gin.bind_parameter('pixel_encoder.share_actor_critic', share)
  agent = create('c_learning')
  agent.initialize()
  return agent


def _pixel_experience(seed):
  spec = pixel_spec()
  rng = np.random.RandomState(seed)
  return relabel.RelabeledTransition(
      pixel_batch(spec, 8, seed), tf.constant(rng.uniform(-1, 1, (8, 2)), tf.float32),
      pixel_batch(spec, 8, seed + 1), tf.constant(rng.randint(0, 5, 8), tf.int32),
      tf.constant(rng.randint(1, 9, 8), tf.int32), tf.constant(rng.randint(0, 2, 8), tf.float32))


def _values(variables):
  return [v.numpy().copy() for v in variables]


def test_a_shared_encoder_is_the_critics_and_the_actor_loss_does_not_train_it():
  agent = _pixel_agent(share=True)
  # pylint: disable=protected-access
  critic_encoder, actor_encoder = agent._critic_network_1.encoder, agent.actor_network.encoder
  critic_before = _values(critic_encoder.variables)
  for actor, critic in zip(_values(actor_encoder.variables), critic_before):
    np.testing.assert_array_equal(actor, critic)
  loss_info = agent.train(_pixel_experience(0))
  # The critic loss moved the critic's encoder; the step's end gave it to the actor.
  assert any(not np.array_equal(a, b)
             for a, b in zip(_values(critic_encoder.variables), critic_before))
  for actor, critic in zip(_values(actor_encoder.variables), _values(critic_encoder.variables)):
    np.testing.assert_array_equal(actor, critic)
  # The actor loss does not train the encoder: its gradient step leaves it out.
  assert all(id(v) not in set(map(id, actor_encoder.variables))
             for v in agent._actor_variables)  # pylint: disable=protected-access
  assert np.isfinite(float(loss_info.loss))
  inner_before = _values(agent.actor_network.inner.variables)
  agent.train(_pixel_experience(1))
  assert any(not np.array_equal(a, b)
             for a, b in zip(_values(agent.actor_network.inner.variables), inner_before))


def test_an_unshared_encoder_is_trained_by_the_actor_loss():
  agent = _pixel_agent(share=False)
  actor_encoder = agent.actor_network.encoder
  before = _values(actor_encoder.variables)
  critic_encoder = agent._critic_network_1.encoder  # pylint: disable=protected-access
  agent.train(_pixel_experience(0))
  after = _values(actor_encoder.variables)
  assert any(not np.array_equal(a, b) for a, b in zip(after, before))
  assert any(not np.array_equal(a, c) for a, c in zip(after, _values(critic_encoder.variables)))


def test_normalize_observations_on_a_pixel_task_is_one_line():
  gin.bind_parameter('CLearningAgent.normalize_observations', True)
  with pytest.raises(config.ConfigError, match='normalize_observations=True normalises state'):
    create('c_learning')


def test_gcsl_with_the_horizon_input_acts_and_trains_on_pixels():
  gin.bind_parameter('GcslAgent.horizon_input', True)
  agent = create('gcsl', REACHED_RELABELER)
  loss_info = agent.train(_pixel_experience(0))
  assert np.isfinite(float(loss_info.loss))
  time_step = ts.restart(pixel_batch(pixel_spec(), 3), batch_size=3)
  step = agent.collect_policy.action(time_step, agent.collect_policy.get_initial_state(3))
  assert step.action.shape == (3, 2) and int(step.state[0]) == 1  # it counts its steps
