"""Tests of Td3HerAgent: the TD target by hand, the delayed actor, exploration within the bounds."""
import math

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import config
from c_learning.agents import td3_her_agent
from c_learning.relabel import GoalType
from c_learning.relabel import RelabeledTransition
from tests.agents import gradients
from tests.agents import linear_critics

OBS_WIDTH = 4
OBS_SPEC = tf.TensorSpec((OBS_WIDTH,), tf.float32)
# Bounds other than [-1, 1], so that noise scaled by the half range shows.
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -2.0, 2.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
GAMMA = 0.9

pytestmark = pytest.mark.usefixtures('clear_gin')


def _make_agent(**kwargs):
  kwargs.setdefault('critic_fc_layers', (8,))
  # Its own counter: the global step that TF-Agents would use counts other tests' steps.
  return td3_her_agent.Td3HerAgent(TIME_STEP_SPEC, ACTION_SPEC, gamma=GAMMA,
                                   actor_fc_layers=(8,),
                                   train_step_counter=tf.Variable(0, dtype=tf.int64), **kwargs)


def _batch(size=4, seed=0):
  rng = np.random.RandomState(seed)
  return RelabeledTransition(
      observation=tf.constant(rng.randn(size, OBS_WIDTH), tf.float32),
      action=tf.constant(rng.uniform(-2, 2, (size, 2)), tf.float32),
      next_observation=tf.constant(rng.randn(size, OBS_WIDTH), tf.float32),
      goal_type=tf.constant([int(GoalType.FUTURE)] * size, tf.int32),
      future_offset=tf.constant([1] * size, tf.int32),
      reward=tf.constant([1.0, 0.0, 1.0, 0.0][:size], tf.float32))


def _set_linear_critic(net, bias, action_kernel):
  """A critic with no hidden layer: bias + action_kernel . a."""
  linear_critics.set_linear_critic(net, bias, action_kernel, OBS_WIDTH)


def _set_constant_actor(net, actions):
  """A deterministic actor whose output layer's bias gives atanh(action / 2) (bounds +-2)."""
  for v in net.variables:
    v.assign(tf.zeros_like(v))
    if 'action' in v.name and v.name.endswith('bias:0'):
      v.assign(np.arctanh(np.asarray(actions, np.float32) / 2.0))


@pytest.mark.parametrize('terminate_on_reward', [False, True])
def test_critic_loss_by_hand(terminate_on_reward):
  agent = _make_agent(critic_fc_layers=(), terminate_on_reward=terminate_on_reward)
  _set_linear_critic(agent._critic_network_1, 0.5, [0.0, 0.0])
  _set_linear_critic(agent._critic_network_2, -0.5, [0.0, 0.0])
  # Q'_1 = 1 + a'_0 and Q'_2 = 2 + a'_1: the min depends on the smoothed a'.
  _set_linear_critic(agent._target_critic_network_1, 1.0, [1.0, 0.0])
  _set_linear_critic(agent._target_critic_network_2, 2.0, [0.0, 1.0])
  _set_constant_actor(agent._target_actor_network, [1.0, -1.5])
  batch = _batch()
  # Noise (in half ranges, half range 2): clipped to +-0.5, then scaled by 2.
  noise = tf.constant([[0.0, 0.0], [0.9, -0.9], [-0.25, 0.25], [0.5, 0.5]])
  # a' = clip((1, -1.5) + 2 * clip(noise)): (1, -1.5), (2, -2.5 -> -2), (0.5, -1), (2, -0.5).
  a_next = np.array([[1.0, -1.5], [2.0, -2.0], [0.5, -1.0], [2.0, -0.5]])
  np.testing.assert_allclose(agent.target_actions(batch.next_observation, noise).numpy(),
                             a_next, rtol=1e-5)
  min_q = np.minimum(1.0 + a_next[:, 0], 2.0 + a_next[:, 1])  # (0.5, 0, 1, 1.5)
  r = np.array([1.0, 0.0, 1.0, 0.0])
  y = r + GAMMA * (1.0 - r if terminate_on_reward else 1.0) * min_q
  # No termination: y = (1.45, 0, 1.9, 1.35); with it: (1, 0, 1, 1.35).
  np.testing.assert_allclose(
      y, [1.0, 0.0, 1.0, 1.35] if terminate_on_reward else [1.45, 0.0, 1.9, 1.35], rtol=1e-6)
  expected = sum(np.mean((y - q) ** 2) for q in (0.5, -0.5))
  loss = agent.critic_loss(batch.observation, batch.action, batch.next_observation,
                           batch.reward, target_noise=noise)
  np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_actor_loss_by_hand():
  agent = _make_agent(critic_fc_layers=(), action_l2=0.5)
  _set_linear_critic(agent._critic_network_1, 0.25, [1.0, -1.0])
  _set_linear_critic(agent._critic_network_2, -9.0, [0.0, 0.0])  # TD3's actor reads Q_1 only
  _set_constant_actor(agent._actor_network, [1.0, -0.5])
  # Q_1 = 0.25 + 1 + 0.5 = 1.75; l2 = 0.5 * mean((0.5, -0.25)^2) = 0.078125.
  loss = agent.actor_loss(_batch().observation)
  np.testing.assert_allclose(loss.numpy(), -1.75 + 0.078125, rtol=1e-5)


def test_preactivation_penalty_by_hand():
  agent = _make_agent(critic_fc_layers=(), action_l2=0.5, preactivation_l2=0.4)
  _set_linear_critic(agent._critic_network_1, 0.25, [1.0, -1.0])
  _set_constant_actor(agent._actor_network, [1.0, -0.5])
  # Scaled actions (0.5, -0.25): l2 0.078125 as above; the tanh's inputs are
  # atanh(0.5) = 0.549306 and atanh(-0.25) = -0.255413, so 0.4 * mean(u^2) = 0.073396.
  loss = agent.actor_loss(_batch().observation)
  np.testing.assert_allclose(loss.numpy(), -1.75 + 0.078125 + 0.073396, rtol=1e-5)


@pytest.mark.parametrize('penalty', ['action_l2', 'preactivation_l2'])
def test_only_the_preactivation_penalty_pulls_a_saturated_actor_back(penalty):
  agent = _make_agent(critic_fc_layers=(), **{penalty: 1.0})
  _set_linear_critic(agent._critic_network_1, 0.0, [0.0, 0.0])  # a flat critic
  bias = next(v for v in agent._actor_network.variables
              if 'action' in v.name and v.name.endswith('bias:0'))
  bias.assign([5.0, -5.0])  # the tanh's inputs: the actions sit at 0.9999 of the bounds
  with tf.GradientTape() as tape:
    loss = agent.actor_loss(_batch().observation)
  gradient = tape.gradient(loss, bias).numpy()
  if penalty == 'preactivation_l2':
    # d/du_i of mean(u^2) over the two dimensions is u_i, for any u: (5, -5).
    np.testing.assert_allclose(gradient, [5.0, -5.0], rtol=1e-3)
  else:
    # d/du_i of mean(tanh(u)^2) is tanh(u_i) (1 - tanh(u_i)^2): the tanh's flat end hides it.
    np.testing.assert_allclose(gradient, [1.8e-4, -1.8e-4], rtol=0.05)


class _ActorOutputs:
  """Stands in for an actor network: its outputs are `network`'s, recorded, or `fixed` ones."""

  def __init__(self, network=None, fixed=None):
    self._network, self._fixed, self.actions = network, fixed, []

  def __call__(self, *args, **kwargs):
    if self._fixed is not None:
      return self._fixed, ()
    actions, state = self._network(*args, **kwargs)
    self.actions.append(actions)
    return actions, state


def test_actor_loss_reaches_the_actor_only_through_its_actions(monkeypatch):
  """d loss / d actor = (d loss / d actions) (d actions / d actor): no other path reaches the actor."""
  agent = _make_agent(action_l2=0.5, preactivation_l2=0.2)
  observations = _batch().observation
  actor_variables = agent._actor_network.trainable_variables
  recorder = _ActorOutputs(network=agent._actor_network)
  monkeypatch.setattr(agent, '_actor_network', recorder)
  with tf.GradientTape(persistent=True) as tape:
    loss = agent.actor_loss(observations)
  actions, = recorder.actions
  # The same loss (Q_1 and both penalties) with those actions as constants.
  fixed = tf.constant(actions)
  monkeypatch.setattr(agent, '_actor_network', _ActorOutputs(fixed=fixed))
  with tf.GradientTape() as action_tape:
    action_tape.watch(fixed)
    loss_at_fixed = agent.actor_loss(observations)
  np.testing.assert_allclose(loss_at_fixed.numpy(), loss.numpy(), rtol=1e-6)
  direct = gradients.assert_gradient_is_the_chain_through(
      tape, loss, actions, action_tape.gradient(loss_at_fixed, fixed), actor_variables)
  assert any(np.any(g.numpy() != 0) for g in direct)


def test_the_actor_step_changes_no_critic():
  # Critics that their own step cannot move (learning rate 0): whatever moves them is the actor's.
  agent = _make_agent(actor_learning_rate=1e-2, critic_learning_rate=0.0)
  agent.initialize()
  critics = agent._critic_network_1.variables + agent._critic_network_2.variables
  critics_before = [v.numpy() for v in critics]
  actor_before = [v.numpy() for v in agent._actor_network.variables]
  agent.train(_batch())  # step 0: the actor steps too
  for before, variable in zip(critics_before, critics):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
  assert any(not np.array_equal(before, v.numpy())
             for before, v in zip(actor_before, agent._actor_network.variables))


def test_the_actor_moves_every_actor_update_period_steps():
  agent = _make_agent(actor_update_period=3)
  agent.initialize()
  moved = []
  for step in range(6):
    before = [v.numpy() for v in agent._actor_network.trainable_variables]
    agent.train(_batch(seed=step))
    after = agent._actor_network.trainable_variables
    moved.append(any(not np.array_equal(b, a.numpy()) for b, a in zip(before, after)))
  # The counter is 0, 1, ... when each step's actor update is decided.
  assert moved == [True, False, False, True, False, False]


def _clipped_normal_mean(mean, std, low, high):
  """E[clip(X, low, high)] for X ~ N(mean, std^2)."""
  cdf = lambda z: 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
  pdf = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
  a, b = (low - mean) / std, (high - mean) / std
  return (low * cdf(a) + high * (1.0 - cdf(b)) + mean * (cdf(b) - cdf(a))
          + std * (pdf(a) - pdf(b)))


@pytest.mark.parametrize('random_prob', [0.0, 1.0])
def test_exploration_stays_within_the_bounds(random_prob):
  agent = _make_agent(exploration_noise_std=0.5, exploration_random_prob=random_prob)
  _set_constant_actor(agent._actor_network, [1.9, -1.9])
  observations = tf.zeros([4000, OBS_WIDTH])
  actions = agent.collect_policy.action(ts.restart(observations, batch_size=4000)).action.numpy()
  assert actions.min() >= -2.0 and actions.max() <= 2.0
  if random_prob == 0.0:
    # N(1.9, 0.5 * 2) clipped to [-2, 2] has mean 1.549 (unclipped 1.9; without the
    # half-range scale, sigma 0.5, 1.747); 4000 draws give a standard error under 0.016.
    expected = _clipped_normal_mean(1.9, 1.0, -2.0, 2.0)
    np.testing.assert_allclose(expected, 1.549, atol=1e-3)
    np.testing.assert_allclose(actions.mean(0), [expected, -expected], atol=0.06)
    greedy = agent.policy.action(ts.restart(observations[:2], batch_size=2)).action.numpy()
    np.testing.assert_allclose(greedy, [[1.9, -1.9]] * 2, rtol=1e-5)
  else:
    np.testing.assert_allclose(actions.mean(0), [0.0, 0.0], atol=0.1)  # uniform on [-2, 2]
    np.testing.assert_allclose(actions.std(0), [4 / np.sqrt(12)] * 2, rtol=0.05)


def test_bad_settings_fail_fast():
  with pytest.raises(config.ConfigError, match='actor_update_period=0'):
    _make_agent(actor_update_period=0)
  with pytest.raises(config.ConfigError, match=r'exploration_random_prob=1.5: must be in \[0, 1\]'):
    _make_agent(exploration_random_prob=1.5)
  with pytest.raises(config.ConfigError, match='target_noise_std=-0.1'):
    _make_agent(target_noise_std=-0.1)
