"""Tests of WgcslAgent: its weights, TD target and advantages by hand, the BAW schedule, bad settings."""
import math

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import config
from c_learning.agents import wgcsl_agent
from tests.agents import linear_critics

OBS_WIDTH = 4
OBS_SPEC = tf.TensorSpec((OBS_WIDTH,), tf.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -1.0, 1.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
GAMMA = 0.9

pytestmark = pytest.mark.usefixtures('clear_gin')


def _make_agent(**kwargs):
  kwargs.setdefault('actor_fc_layers', ())
  kwargs.setdefault('critic_fc_layers', ())
  return wgcsl_agent.WgcslAgent(TIME_STEP_SPEC, ACTION_SPEC, gamma=GAMMA,
                                train_step_counter=tf.Variable(0, dtype=tf.int64), **kwargs)


def _set_linear_q(net, bias, action_kernel):
  """A critic with no hidden layer: bias + action_kernel . a."""
  linear_critics.set_linear_critic(net, bias, action_kernel, OBS_WIDTH)


def _set_constant_actor(net, mode):
  """An actor whose distribution's mode is `mode` at every observation (bounds +-1)."""
  for v in net.variables:
    v.assign(tf.zeros_like(v))
    if v.name.endswith('projection_layer/bias:0'):
      v.assign(np.concatenate([np.arctanh(mode), [-1.0, -1.0]]).astype(np.float32))


ADVANTAGES = np.array([-1.0, 0.0, 0.5, 3.0], np.float32)
OFFSETS = np.array([1, 2, 3, 5], np.int32)


def test_row_weights_by_hand_on_a_tiny_batch():
  agent = _make_agent(geaw_max=10.0, baw_epsilon=0.05)
  weights = agent.row_weights(tf.constant(ADVANTAGES), tf.constant(OFFSETS), 50.0).numpy()
  drw = GAMMA ** (OFFSETS - 1)  # 1, 0.9, 0.81, 0.6561: the next state counts fully
  geaw = np.minimum(np.exp(ADVANTAGES), 10.0)  # e^3 = 20.1 is clipped to 10
  # The median of the advantages, linearly interpolated: (0 + 0.5) / 2 = 0.25.
  baw = np.array([0.05, 0.05, 1.0, 1.0])
  np.testing.assert_allclose(weights, drw * geaw * baw, rtol=1e-5)


@pytest.mark.parametrize('switches, factors', [
    (dict(use_drw=False), ('geaw', 'baw')),
    (dict(use_geaw=False), ('drw', 'baw')),
    (dict(use_baw=False), ('drw', 'geaw')),
    (dict(use_drw=False, use_geaw=False, use_baw=False), ()),
])
def test_each_weight_is_a_switch(switches, factors):
  agent = _make_agent(**switches)
  every = {'drw': GAMMA ** (OFFSETS - 1), 'geaw': np.minimum(np.exp(ADVANTAGES), 10.0),
           'baw': np.array([0.05, 0.05, 1.0, 1.0])}
  expected = np.prod([every[f] for f in factors], axis=0) if factors else np.ones(4)
  weights = agent.row_weights(tf.constant(ADVANTAGES), tf.constant(OFFSETS), 50.0).numpy()
  np.testing.assert_allclose(weights, expected, rtol=1e-5)


def test_baw_percentile_rises_linearly_to_its_maximum():
  agent = _make_agent(baw_max_percentile=80.0, baw_warmup_steps=1000)
  assert [float(agent.baw_percentile(step)) for step in (0, 500, 1000, 5000)] == [0.0, 40.0,
                                                                                  80.0, 80.0]
  assert float(_make_agent(baw_warmup_steps=0).baw_percentile(0)) == 80.0


def test_critic_loss_by_hand():
  agent = _make_agent()
  _set_linear_q(agent._critic_network, 0.5, [1.0, 0.0])  # Q(s, a) = 0.5 + a_0
  _set_linear_q(agent._target_critic_network, 2.0, [0.0, 4.0])  # Q'(s', a') = 2 + 4 a'_1
  _set_constant_actor(agent.actor_network, [0.2, -0.5])  # pi's mode: a' = (0.2, -0.5)
  observations = tf.zeros([3, OBS_WIDTH])
  actions = tf.constant([[0.5, 0.0], [-1.0, 0.3], [0.0, 0.0]])
  rewards = tf.constant([1.0, 0.0, 0.0])
  next_q = 2.0 + 4.0 * -0.5  # 0
  targets = np.clip(rewards.numpy() + GAMMA * next_q, 0.0, 1.0 / (1.0 - GAMMA))  # 1, 0, 0
  q = 0.5 + actions.numpy()[:, 0]  # 1, -0.5, 0.5
  loss = agent.critic_loss(observations, actions, observations, rewards, tf.constant([1, 2, 3]))
  np.testing.assert_allclose(float(loss), np.mean((q - targets) ** 2), rtol=1e-5)
  # Targets are clipped at 1 / (1 - gamma) = 10 where bootstrapping would overshoot.
  _set_linear_q(agent._target_critic_network, 50.0, [0.0, 0.0])
  loss = agent.critic_loss(observations, actions, observations, rewards, tf.constant([1, 2, 3]))
  np.testing.assert_allclose(float(loss), np.mean((q - 10.0) ** 2), rtol=1e-5)


def test_advantage_is_q_of_the_action_minus_q_of_the_policys_mode():
  agent = _make_agent()
  _set_linear_q(agent._critic_network, 0.5, [1.0, -2.0])
  _set_constant_actor(agent.actor_network, [0.2, -0.5])
  actions = tf.constant([[0.5, 0.0], [-1.0, 0.3]])
  advantages = agent.advantages(tf.zeros([2, OBS_WIDTH]), actions, tf.constant([1, 1]))
  v = 0.5 + 0.2 - 2.0 * -0.5
  np.testing.assert_allclose(advantages.numpy(), [0.5 + 0.5 - v, 0.5 - 1.0 - 0.6 - v], rtol=1e-5)


@pytest.mark.parametrize('setting, message', [
    (dict(use_baw='yes'), "WgcslAgent.use_baw='yes': must be True or False"),
    (dict(baw_epsilon=2.0), 'WgcslAgent.baw_epsilon=2.0: must be in'),
    (dict(baw_max_percentile=100.0), 'WgcslAgent.baw_max_percentile=100.0: must be in'),
    (dict(geaw_max=0.0), 'WgcslAgent.geaw_max=0.0: must be > 0'),
    (dict(baw_warmup_steps=-1), 'WgcslAgent.baw_warmup_steps=-1: must be an int'),
    (dict(target_update_tau=0.0), 'WgcslAgent.target_update_tau=0.0: must be in'),
])
def test_a_setting_that_makes_no_sense_is_one_clear_line(setting, message):
  with pytest.raises(config.ConfigError) as error:
    _make_agent(**setting)
  # train_eval prints the first line; gin adds where the call was below it.
  assert message in config.first_line(error.value)


def test_wgcsl_needs_continuous_actions():
  discrete = tensor_spec.BoundedTensorSpec((), tf.int32, 0, 2)
  with pytest.raises(config.ConfigError, match="WGCSL's Q-function takes continuous actions"):
    wgcsl_agent.WgcslAgent(TIME_STEP_SPEC, discrete,
                           train_step_counter=tf.Variable(0, dtype=tf.int64))


def test_train_step_moves_the_target_softly():
  agent = _make_agent(target_update_tau=0.25)
  _set_linear_q(agent._critic_network, 1.0, [0.0, 0.0])
  _set_linear_q(agent._target_critic_network, 0.0, [0.0, 0.0])
  rng = np.random.RandomState(0)
  from c_learning import relabel  # pylint: disable=g-import-not-at-top
  batch = relabel.RelabeledTransition(
      observation=tf.constant(rng.randn(8, OBS_WIDTH), tf.float32),
      action=tf.constant(rng.uniform(-1, 1, (8, 2)), tf.float32),
      next_observation=tf.constant(rng.randn(8, OBS_WIDTH), tf.float32),
      goal_type=tf.fill([8], int(relabel.GoalType.FUTURE)),
      future_offset=tf.constant(rng.randint(1, 5, 8), tf.int32),
      reward=tf.constant(rng.randint(0, 2, 8), tf.float32))
  loss_info = agent.train(batch)
  assert set(loss_info.extra._asdict()) == {'critic_loss', 'actor_loss'}
  critic_bias = [v for v in agent._critic_network.variables if 'logit/bias' in v.name][0]
  target_bias = [v for v in agent._target_critic_network.variables if 'logit/bias' in v.name][0]
  # The target moved a quarter of the way to the critic after its update.
  assert math.isclose(float(target_bias[0]), 0.25 * float(critic_bias[0]), rel_tol=1e-5)
