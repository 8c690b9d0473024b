"""Tests of GcslAgent and GoalBcAgent: the log-likelihood by hand, the relabeling they accept, the horizon input."""
import math

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import config
from c_learning import relabel
from c_learning.agents import gcsl_agent
from c_learning.agents import goal_bc_agent

OBS_WIDTH = 4
OBS_SPEC = tf.TensorSpec((OBS_WIDTH,), tf.float32)
# Bounds other than [-1, 1], so that the squashing's scale shows in the density.
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -2.0, 2.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)

pytestmark = pytest.mark.usefixtures('clear_gin')


def _make_agent(action_spec=ACTION_SPEC, **kwargs):
  kwargs.setdefault('actor_fc_layers', ())
  return gcsl_agent.GcslAgent(TIME_STEP_SPEC, action_spec, gamma=0.9,
                              train_step_counter=tf.Variable(0, dtype=tf.int64), **kwargs)


def _set_projection(net, bias):
  """Zero weights and the projection layer's bias: every observation gets the same distribution."""
  for v in net.variables:
    v.assign(tf.zeros_like(v))
    if v.name.endswith('projection_layer/bias:0') or v.name.endswith('logits/bias:0'):
      v.assign(np.asarray(bias, np.float32))


def _tanh_normal_log_density(action, mean, log_std, half_range):
  """log p(a) of a = half_range * tanh(z), z ~ N(mean, exp(log_std)), per dimension, summed."""
  z = np.arctanh(action / half_range)
  std = np.exp(log_std)
  log_normal = -0.5 * ((z - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
  log_jacobian = np.log(half_range * (1 - np.tanh(z) ** 2))
  return float(np.sum(log_normal - log_jacobian))


def test_actor_loss_is_the_negative_log_likelihood_by_hand():
  agent = _make_agent()
  means, log_stds = np.array([0.3, -0.5]), np.array([-1.0, 0.5])
  _set_projection(agent.actor_network, np.concatenate([means, log_stds]))
  actions = np.array([[0.4, -1.0], [1.5, 0.2]], np.float32)
  observations = tf.constant(np.random.RandomState(0).randn(2, OBS_WIDTH), tf.float32)
  expected = [_tanh_normal_log_density(a, means, log_stds, 2.0) for a in actions]
  log_likelihood = agent.log_likelihood(observations, actions, tf.constant([1, 3]))
  np.testing.assert_allclose(log_likelihood.numpy(), expected, rtol=1e-4)
  loss = agent.actor_loss(observations, actions, tf.constant([1, 3]))
  np.testing.assert_allclose(float(loss), -np.mean(expected), rtol=1e-4)
  # Row weights scale each row's term; sample weights too.
  weighted = agent.actor_loss(observations, actions, tf.constant([1, 3]),
                              row_weights=tf.constant([2.0, 0.5]))
  np.testing.assert_allclose(float(weighted), -(2 * expected[0] + 0.5 * expected[1]) / 2,
                             rtol=1e-4)


def test_an_action_on_the_bound_is_imitated_just_inside_it():
  agent = _make_agent()
  means, log_stds = np.array([0.0, 0.0]), np.array([0.0, 0.0])
  _set_projection(agent.actor_network, np.concatenate([means, log_stds]))
  on_bound = np.array([[2.0, -2.0]], np.float32)
  inside = on_bound * (1 - 2 * gcsl_agent._BOUND_MARGIN)  # the margin is a fraction of the range 4
  value = agent.log_likelihood(tf.zeros([1, OBS_WIDTH]), on_bound, tf.constant([1]))
  assert np.isfinite(value.numpy()).all()
  np.testing.assert_allclose(value.numpy(),
                             [_tanh_normal_log_density(inside[0], means, log_stds, 2.0)],
                             rtol=1e-3)


def test_discrete_actions_get_a_categorical_log_likelihood_by_hand():
  discrete = tensor_spec.BoundedTensorSpec((), tf.int32, 0, 2)
  agent = _make_agent(action_spec=discrete)
  logits = np.array([0.5, -1.0, 2.0])
  _set_projection(agent.actor_network, logits)
  log_softmax = logits - np.log(np.sum(np.exp(logits)))
  value = agent.log_likelihood(tf.zeros([3, OBS_WIDTH]), tf.constant([0, 1, 2]),
                               tf.constant([1, 1, 1]))
  np.testing.assert_allclose(value.numpy(), log_softmax, rtol=1e-5)


def test_a_train_step_raises_the_likelihood_of_the_batch():
  agent = _make_agent(actor_fc_layers=(16,), actor_learning_rate=1e-2)
  rng = np.random.RandomState(0)
  batch = relabel.RelabeledTransition(
      observation=tf.constant(rng.randn(32, OBS_WIDTH), tf.float32),
      action=tf.constant(rng.uniform(-1, 1, (32, 2)), tf.float32),
      next_observation=tf.constant(rng.randn(32, OBS_WIDTH), tf.float32),
      goal_type=tf.fill([32], int(relabel.GoalType.FUTURE)),
      future_offset=tf.constant(rng.randint(1, 10, 32), tf.int32),
      reward=tf.zeros([32]))
  before = float(agent.actor_loss(batch.observation, batch.action, batch.future_offset))
  for _ in range(20):
    loss_info = agent.train(batch)
  assert set(loss_info.extra._asdict()) == {'actor_loss'}
  assert float(agent.actor_loss(batch.observation, batch.action, batch.future_offset)) < before


@pytest.mark.parametrize('split', [dict(relabel_future_prob=1.0),
                                   dict(relabel_next_prob=0.3, relabel_future_prob=0.5,
                                        relabel_last_prob=0.2)])
def test_gcsl_accepts_goals_the_episode_reached(split):
  gcsl_agent.GcslAgent.check_relabeling(relabel.GoalRelabeler(relabel.GoalSlice(), 3, **split))


@pytest.mark.parametrize('split', [dict(relabel_future_prob=0.8),  # 20% random goals
                                   dict(relabel_future_prob=0.8, relabel_orig_prob=0.2)])
def test_gcsl_refuses_goals_no_one_reached_in_one_line(split):
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(), 3, **split)
  with pytest.raises(config.ConfigError) as error:
    gcsl_agent.GcslAgent.check_relabeling(relabeler)
  message = str(error.value)
  assert '\n' not in message and 'goal_fn.relabel_future_prob=0.8' in message
  assert 'must be 1' in message


def test_goal_bc_keeps_the_episodes_own_goals():
  goal_bc_agent.GoalBcAgent.check_relabeling(
      relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_orig_prob=1.0))
  with pytest.raises(config.ConfigError, match='relabel_orig_prob=0.5 must be 1'):
    goal_bc_agent.GoalBcAgent.check_relabeling(
        relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_orig_prob=0.5,
                              relabel_future_prob=0.5))


def test_max_horizon_must_be_a_positive_int():
  with pytest.raises(config.ConfigError, match=r'GcslAgent.max_horizon=0: must be an int >= 1'):
    _make_agent(max_horizon=0)


def test_the_horizon_input_is_the_goal_offset_in_training_and_the_steps_left_when_acting():
  agent = _make_agent(actor_fc_layers=(8,), horizon_input=True, max_horizon=5)
  network = agent.actor_network
  observation = tf.constant(np.random.RandomState(1).randn(1, OBS_WIDTH), tf.float32)

  def mean(distribution):
    return distribution.mode().numpy()

  by_horizon = {h: mean(network.distribution_at(observation, tf.constant([h])))
                for h in range(1, 6)}
  assert not np.allclose(by_horizon[1], by_horizon[5])  # the horizon is an input
  # Training rows: offset k is the horizon; rows without an offset get max_horizon.
  np.testing.assert_array_equal(agent.horizons(tf.constant([3, relabel.NO_OFFSET, 9])).numpy(),
                                [3, 5, 5])
  np.testing.assert_allclose(mean(agent.action_distribution(observation, tf.constant([2]))),
                             by_horizon[2], rtol=1e-6)
  # Acting: the policy's state counts the episode's steps; a FIRST step starts it again.
  policy = agent.policy
  state = policy.get_initial_state(1)
  step_types = [ts.StepType.FIRST] + [ts.StepType.MID] * 6 + [ts.StepType.FIRST]
  horizons = [5, 4, 3, 2, 1, 1, 1, 5]
  for step_type, horizon in zip(step_types, horizons):
    time_step = ts.TimeStep(tf.constant([step_type]), tf.zeros([1]), tf.ones([1]), observation)
    step = policy.distribution(time_step, state)
    np.testing.assert_allclose(mean(step.action), by_horizon[horizon], rtol=1e-6)
    state = step.state


def test_gin_sets_the_agents_own_settings():
  import gin  # pylint: disable=g-import-not-at-top
  gin.parse_config(['GcslAgent.max_horizon = 7', 'GcslAgent.horizon_input = True'])
  agent = gcsl_agent.GcslAgent(TIME_STEP_SPEC, ACTION_SPEC,
                               train_step_counter=tf.Variable(0, dtype=tf.int64))
  assert agent._max_horizon == 7 and isinstance(agent.actor_network,
                                                gcsl_agent.HorizonActorNetwork)
  assert math.isclose(agent._gamma, 0.99)
