"""Tests of CLearningAgent: losses against hand-computed values, and training."""
import math
import os

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from c_learning import agents
from c_learning import config
from c_learning import relabel
from c_learning.agents import c_learning_agent
from c_learning.relabel import GoalType
from c_learning.relabel import RelabeledTransition

from tests.agents import gradients

OBS_DIM = 4  # concat(state, goal), 2 + 2
OBS_SPEC = tf.TensorSpec((OBS_DIM,), tf.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -1.0, 1.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
GAMMA = 0.9

# The goal types of the hand-computed batch: one NEXT, one FUTURE, two RANDOM.
GOAL_TYPES = [GoalType.NEXT, GoalType.FUTURE, GoalType.RANDOM, GoalType.RANDOM]


pytestmark = pytest.mark.usefixtures('clear_gin')


def _softplus(x):
  return math.log1p(math.exp(x))


def _make_agent(critic_layers=(8,), actor_layers=(8,), **kwargs):
  kwargs.setdefault('gamma', GAMMA)
  return c_learning_agent.CLearningAgent(
      TIME_STEP_SPEC, ACTION_SPEC, actor_fc_layers=actor_layers, critic_fc_layers=critic_layers,
      actor_learning_rate=1e-3, critic_learning_rate=1e-3, **kwargs)


def _set_constant_critic(net, logit_bias, action_kernel=None):
  """Zeroes all weights, then sets the output bias (and the action weights)."""
  for v in net.variables:
    v.assign(tf.zeros_like(v))
    if v.name.endswith('logit/bias:0'):
      v.assign([logit_bias])
    if action_kernel is not None and v.name.endswith('logit/kernel:0'):
      # Rows OBS_DIM: of the output kernel multiply the action.
      kernel = np.zeros(v.shape, np.float32)
      kernel[OBS_DIM:, 0] = action_kernel
      v.assign(kernel)


def _batch(goal_types=GOAL_TYPES, seed=0):
  rng = np.random.RandomState(seed)
  b = len(goal_types)
  return RelabeledTransition(
      observation=tf.constant(rng.randn(b, OBS_DIM), tf.float32),
      action=tf.constant(rng.uniform(-1, 1, (b, 2)), tf.float32),
      next_observation=tf.constant(rng.randn(b, OBS_DIM), tf.float32),
      goal_type=tf.constant([int(g) for g in goal_types], tf.int32),
      future_offset=tf.ones([b], tf.int32),
      reward=tf.zeros([b], tf.float32))


def _critic_loss(agent, batch, **kwargs):
  return agent.critic_loss(batch.observation, batch.action,
                           batch.next_observation, batch.goal_type,
                           **kwargs).numpy()


def _set_critics(agent, online_biases, target_biases):
  online = [agent._critic_network_1, agent._critic_network_2]
  targets = [agent._target_critic_network_1, agent._target_critic_network_2]
  for net, bias in zip(online + targets, online_biases + target_biases):
    _set_constant_critic(net, bias)


def test_critic_loss_by_hand():
  agent = _make_agent()
  # Online critics: logits 0.5 and -0.5 everywhere. Targets: logits 1 and 2,
  # so the min target logit is 1 and w = C'/(1-C') = e^1 = 2.718282 (< the
  # default clip 1/(1-gamma) = 10), gamma*w = 2.446454.
  _set_critics(agent, [0.5, -0.5], [1.0, 2.0])
  # -log sigmoid(x) = softplus(-x): softplus(-0.5) = 0.474077,
  # softplus(0.5) = 0.974077.
  # Critic 1 (logit 0.5), per row weight * BCE:
  #   NEXT   (1-gamma) * -log C           = 0.1 * 0.474077    = 0.047408
  #   FUTURE 1 * -log C                   =                     0.474077
  #   RANDOM gamma*w*-log C + -log(1-C)   = 2.446454 * 0.474077 + 0.974077
  #                                       = 2.133884  (twice)
  #   mean over the 4 rows = (0.047408 + 0.474077 + 2 * 2.133884) / 4
  #                        = 1.197313
  # Critic 2 (logit -0.5): NEXT 0.1 * 0.974077 = 0.097408; FUTURE 0.974077;
  #   RANDOM 2.446454 * 0.974077 + 0.474077 = 2.857111 (twice);
  #   mean = (0.097408 + 0.974077 + 2 * 2.857111) / 4 = 1.696427
  # Sum over the twin critics = 2.893740.
  loss = _critic_loss(agent, _batch())
  np.testing.assert_allclose(loss, 2.893740, rtol=1e-5)
  # The same number from the formulas, so a typo in the comment is caught.
  gw = GAMMA * math.e
  per_critic = [
      ((1 - GAMMA) * _softplus(-b) + _softplus(-b)
       + 2 * (gw * _softplus(-b) + _softplus(b))) / 4 for b in (0.5, -0.5)
  ]
  np.testing.assert_allclose(loss, sum(per_critic), rtol=1e-5)


def test_critic_loss_with_clipped_w():
  agent = _make_agent()  # w_clipping None -> 1/(1-gamma) = 10.
  # Min target logit 3: e^3 = 20.09 is clipped to w = 10, gamma*w = 9.
  _set_critics(agent, [0.5, -0.5], [3.0, 4.0])
  # Critic 1: (0.047408 + 0.474077 + 2 * (9 * 0.474077 + 0.974077)) / 4
  #         = (0.047408 + 0.474077 + 10.481540) / 4 = 2.750756
  # Critic 2: (0.097408 + 0.974077 + 2 * (9 * 0.974077 + 0.474077)) / 4
  #         = (0.097408 + 0.974077 + 18.481540) / 4 = 4.888256
  # Sum = 7.639012.
  np.testing.assert_allclose(_critic_loss(agent, _batch()), 7.639012,
                             rtol=1e-5)

  # An explicit clip of 5: gamma*w = 4.5.
  # Critic 1: (0.047408 + 0.474077 + 2 * (4.5 * 0.474077 + 0.974077)) / 4
  #         = (0.521485 + 6.214847) / 4 = 1.684083
  # Critic 2: (0.097408 + 0.974077 + 2 * (4.5 * 0.974077 + 0.474077)) / 4
  #         = (1.071485 + 9.714847) / 4 = 2.696583
  # Sum = 4.380666.
  agent = _make_agent(w_clipping=5.0)
  _set_critics(agent, [0.5, -0.5], [3.0, 4.0])
  np.testing.assert_allclose(_critic_loss(agent, _batch()), 4.380666,
                             rtol=1e-5)

  # No clipping: w = e^3 = 20.085537, gamma*w = 18.076983.
  # Critic 1: (0.047408 + 0.474077 + 2 * (18.076983 * 0.474077
  #          + 0.974077)) / 4 = (0.521485 + 19.087917) / 4 = 4.902351
  # Critic 2: (0.097408 + 0.974077 + 2 * (18.076983 * 0.974077
  #          + 0.474077)) / 4 = (1.071485 + 36.164901) / 4 = 9.309096
  # Sum = 14.211447.
  agent = _make_agent(w_clipping=-1)
  _set_critics(agent, [0.5, -0.5], [3.0, 4.0])
  np.testing.assert_allclose(_critic_loss(agent, _batch()), 14.211447,
                             rtol=1e-5)


def test_critic_loss_monte_carlo():
  agent = _make_agent(use_td_targets=False)
  # Targets would give a huge w; the Monte-Carlo classifier must ignore them.
  _set_critics(agent, [0.5, -0.5], [3.0, 4.0])
  # RANDOM rows are negatives: label 0, weight 1, loss -log(1-C).
  # Critic 1: (0.047408 + 0.474077 + 2 * 0.974077) / 4 = 0.617410
  # Critic 2: (0.097408 + 0.974077 + 2 * 0.474077) / 4 = 0.504910
  # Sum = 1.122319.
  np.testing.assert_allclose(_critic_loss(agent, _batch()), 1.122319,
                             rtol=1e-5)


def test_critic_loss_sample_weights_scale_rows():
  agent = _make_agent()
  _set_critics(agent, [0.5, -0.5], [1.0, 2.0])
  batch = _batch()
  # Weight only the FUTURE row (by 4): the loss is that row's 4 * -log C of
  # each critic, divided by the batch size 4: 0.474077 + 0.974077 = 1.448154.
  loss = _critic_loss(agent, batch, weights=tf.constant([0.0, 4.0, 0.0, 0.0]))
  np.testing.assert_allclose(loss, 1.448154, rtol=1e-5)


def test_critic_loss_uses_given_next_actions():
  agent = _make_agent(critic_layers=(), w_clipping=-1)
  _set_critics(agent, [0.0, 0.0], [0.0, 0.0])
  for net in (agent._target_critic_network_1, agent._target_critic_network_2):
    # Target logit = a_0 + 0 * a_1: with next action (1, 0) w = e, with
    # (-1, 0) w = 1/e.
    _set_constant_critic(net, 0.0, action_kernel=[1.0, 0.0])
  batch = _batch([GoalType.RANDOM])
  # Online logit 0: -log C = -log(1-C) = log 2 = 0.693147; two critics.
  # w = e:   (0.9 * 2.718282 + 1) * 0.693147 * 2 = 3.446454 * 1.386294
  #                                            = 4.777799
  # w = 1/e: (0.9 * 0.367879 + 1) * 0.693147 * 2 = 1.331091 * 1.386294
  #                                            = 1.845285
  for action, expected in ((1.0, 4.777799), (-1.0, 1.845285)):
    loss = _critic_loss(agent, batch,
                        next_actions=tf.constant([[action, 0.0]]))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize('use_td_targets', [True, False])
def test_critic_labels_and_weights(use_td_targets):
  agent = _make_agent(use_td_targets=use_td_targets)
  goal_types = [GoalType.NEXT, GoalType.FUTURE, GoalType.RANDOM,
                GoalType.ORIG, GoalType.LAST]
  w = tf.constant([3.0, 3.0, 3.0, 0.5, 0.0])
  labels, weights = agent.critic_labels_and_weights(
      tf.constant([int(g) for g in goal_types]), w)
  if use_td_targets:
    # gamma*w = 2.7 -> label 2.7/3.7 = 0.729730, weight 3.7;
    # gamma*w = 0.45 -> label 0.45/1.45 = 0.310345, weight 1.45;
    # w = 0 -> label 0, weight 1.
    expected_labels = [1.0, 1.0, 0.729730, 0.310345, 0.0]
    expected_weights = [0.1, 1.0, 3.7, 1.45, 1.0]
  else:
    expected_labels = [1.0, 1.0, 0.0, 0.0, 0.0]
    expected_weights = [0.1, 1.0, 1.0, 1.0, 1.0]
  np.testing.assert_allclose(labels.numpy(), expected_labels, rtol=1e-5)
  np.testing.assert_allclose(weights.numpy(), expected_weights, rtol=1e-5)


def test_exact_hybrid_scales_the_td_term_by_twice_the_next_share():
  """lambda = 2 * relabel_next_prob = 0.6, read from the relabeler that the registry passes."""
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(0, 2), 2, relabel_next_prob=0.3,
                                    relabel_future_prob=0.2)
  paper = agents.create('c_learning', TIME_STEP_SPEC, ACTION_SPEC, relabeler=relabeler,
                        gamma=GAMMA, train_step_counter=tf.Variable(0, dtype=tf.int64))
  goal_types = tf.constant([int(GoalType.NEXT), int(GoalType.FUTURE), int(GoalType.RANDOM)])
  w = tf.constant([3.0, 3.0, 3.0])
  gin.bind_parameter('CLearningAgent.exact_hybrid', True)
  agent = agents.create('c_learning', TIME_STEP_SPEC, ACTION_SPEC, relabeler=relabeler,
                        gamma=GAMMA, train_step_counter=tf.Variable(0, dtype=tf.int64))
  labels, weights = agent.critic_labels_and_weights(goal_types, w)
  # lambda * gamma * w = 0.6 * 0.9 * 3 = 1.62 -> label 1.62/2.62, weight 2.62;
  # the positives keep theirs.
  np.testing.assert_allclose(labels.numpy(), [1.0, 1.0, 1.62 / 2.62], rtol=1e-5)
  np.testing.assert_allclose(weights.numpy(), [0.1, 1.0, 2.62], rtol=1e-5)
  paper_labels, paper_weights = paper.critic_labels_and_weights(goal_types, w)
  np.testing.assert_allclose(paper_labels.numpy()[2], 2.7 / 3.7, rtol=1e-5)
  np.testing.assert_allclose(paper_weights.numpy()[2], 3.7, rtol=1e-5)


def test_exact_hybrid_without_a_relabeler_says_what_it_needs():
  with pytest.raises(config.ConfigError, match='exact_hybrid=True needs the relabeler'):
    _make_agent(exact_hybrid=True)


def _set_constant_actor(actor, means, log_stds):
  """Zeroes the actor and sets the projection bias to (means, log_stds)."""
  for v in actor.variables:
    v.assign(tf.zeros_like(v))
    if 'projection_layer/bias' in v.name:
      v.assign(list(means) + list(log_stds))


def test_actor_loss_by_hand():
  losses = {}
  for loss_type in ('c', 'cross_entropy'):
    agent = _make_agent(critic_layers=(), actor_layers=(),
                        actor_loss_type=loss_type)
    # Pre-tanh mean (0.5, -1) and std e^-20: every sample is, to float
    # precision, a = tanh(0.5, -1) = (0.462117, -0.761594) (bounds [-1, 1]).
    _set_constant_actor(agent._actor_network, [0.5, -1.0], [-20.0, -20.0])
    # Critic 1: logit = a_0 - a_1 = 0.462117 + 0.761594 = 1.223711.
    # Critic 2: logit = 2 a_0 - 1 = 0.924234 - 1 = -0.075766 (the min).
    _set_constant_critic(agent._critic_network_1, 0.0, [1.0, -1.0])
    _set_constant_critic(agent._critic_network_2, -1.0, [2.0, 0.0])
    observations = tf.constant(np.random.RandomState(0).randn(3, OBS_DIM),
                               tf.float32)
    losses[loss_type] = agent.actor_loss(observations).numpy()
  # 'c': -min C = -sigmoid(-0.075766) = -0.481068.
  np.testing.assert_allclose(losses['c'], -0.481068, rtol=1e-4)
  # 'cross_entropy': -log sigmoid(-0.075766) = softplus(0.075766) = 0.731747.
  np.testing.assert_allclose(losses['cross_entropy'], 0.731747, rtol=1e-4)


def _recording(function, record):
  """`function`, keeping each of its results in `record`."""
  def recorded(*args, **kwargs):
    record.append(function(*args, **kwargs))
    return record[-1]
  return recorded


def test_actor_loss_has_gradient_only_through_actions(monkeypatch):
  """d loss / d actor = (d loss / d actions) (d actions / d actor): no other path reaches the actor."""
  agent = _make_agent()
  observations = _batch().observation
  actor_variables = agent._actor_network.trainable_variables
  sampled = []
  monkeypatch.setattr(agent, '_sample_actions', _recording(agent._sample_actions, sampled))
  with tf.GradientTape(persistent=True) as tape:
    loss = agent.actor_loss(observations)
  actions, = sampled
  # The same loss with those actions as constants: its gradient in the actions alone.
  fixed = tf.constant(actions)
  monkeypatch.setattr(agent, '_sample_actions', lambda *args, **kwargs: fixed)
  with tf.GradientTape() as action_tape:
    action_tape.watch(fixed)
    loss_at_fixed = agent.actor_loss(observations)
  np.testing.assert_allclose(loss_at_fixed.numpy(), loss.numpy(), rtol=1e-6)
  direct = gradients.assert_gradient_is_the_chain_through(
      tape, loss, actions, action_tape.gradient(loss_at_fixed, fixed), actor_variables)
  assert any(np.any(g.numpy() != 0) for g in direct)


def test_the_actor_step_changes_no_critic():
  # Critics that their own step cannot move (learning rate 0): whatever moves them is the actor's.
  agent = c_learning_agent.CLearningAgent(
      TIME_STEP_SPEC, ACTION_SPEC, gamma=GAMMA, actor_fc_layers=(8,), critic_fc_layers=(8,),
      actor_learning_rate=1e-2, critic_learning_rate=0.0)
  agent.initialize()
  critics = agent._critic_network_1.variables + agent._critic_network_2.variables
  critics_before = [v.numpy() for v in critics]
  actor_before = [v.numpy() for v in agent._actor_network.variables]
  with tf.GradientTape() as tape:
    loss = agent.actor_loss(_batch().observation)
  # The actor loss does depend on the critics; the step must not follow that gradient.
  assert any(np.any(g.numpy() != 0) for g in tape.gradient(loss, critics) if g is not None)
  agent.train(_batch())
  for before, variable in zip(critics_before, critics):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
  assert any(not np.array_equal(before, v.numpy())
             for before, v in zip(actor_before, agent._actor_network.variables))


def test_discrete_action_spec_is_rejected():
  discrete = tensor_spec.BoundedTensorSpec((), tf.int32, 0, 3)
  with pytest.raises(config.ConfigError, match='continuous .bounded.*got'):
    c_learning_agent.CLearningAgent(TIME_STEP_SPEC, discrete)


@pytest.mark.parametrize('kwargs, match', [
    ({'gamma': 1.0}, 'gamma'),
    ({'w_clipping': 0.0}, 'w_clipping'),
    ({'actor_loss_type': 'log'}, 'actor_loss_type'),
])
def test_bad_settings_are_rejected(kwargs, match):
  with pytest.raises(config.ConfigError, match=match):
    _make_agent(**kwargs)


def test_targets_start_equal_to_critics():
  agent = _make_agent()
  pairs = [(agent._critic_network_1, agent._target_critic_network_1),
           (agent._critic_network_2, agent._target_critic_network_2)]
  for source, target in pairs:
    for s, t in zip(source.variables, target.variables):
      np.testing.assert_array_equal(s.numpy(), t.numpy())
  # The twin critic is a different initialisation, not a shared variable.
  assert not np.array_equal(agent._critic_network_1.variables[0].numpy(),
                            agent._critic_network_2.variables[0].numpy())


@pytest.mark.parametrize('use_tf_function', [False, True])
def test_train_step(use_tf_function, tmp_path):
  tau = 0.1
  agent = _make_agent(target_update_tau=tau)
  agent.initialize()
  train = common.function(agent.train) if use_tf_function else agent.train
  batch = _batch(GOAL_TYPES * 4)
  targets = (agent._target_critic_network_1.variables +
             agent._target_critic_network_2.variables)
  critics = (agent._critic_network_1.variables +
             agent._critic_network_2.variables)
  actor_before = [v.numpy() for v in agent._actor_network.variables]
  targets_before = [v.numpy() for v in targets]
  critics_before = [v.numpy() for v in critics]
  step_before = agent.train_step_counter.numpy()

  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    loss_info = train(batch)
  writer.flush()

  assert isinstance(loss_info.extra, c_learning_agent.CLearningLossInfo)
  critic_loss = loss_info.extra.critic_loss.numpy()
  actor_loss = loss_info.extra.actor_loss.numpy()
  assert np.isfinite(critic_loss) and np.isfinite(actor_loss)
  np.testing.assert_allclose(loss_info.loss.numpy(), critic_loss + actor_loss,
                             rtol=1e-6)
  assert agent.train_step_counter.numpy() == step_before + 1
  # Both networks took a step.
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(critics_before, critics))
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(actor_before, agent._actor_network.variables))
  # Targets moved by tau towards the updated critics.
  for before, target, critic in zip(targets_before, targets, critics):
    np.testing.assert_allclose(
        target.numpy(), (1 - tau) * before + tau * critic.numpy(),
        rtol=1e-5, atol=1e-7)
  assert any(not np.array_equal(b, t.numpy())
             for b, t in zip(targets_before, targets))

  tags = set()
  for name in os.listdir(tmp_path):
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / name)):
      tags.update(value.tag for value in event.summary.value)
  assert {'Losses/critic_loss', 'Losses/actor_loss'} <= tags


def test_train_rejects_trajectories():
  agent = _make_agent()
  with pytest.raises(TypeError, match='RelabeledTransition'):
    agent.train(tuple(_batch()))


def test_policy_actions_within_bounds():
  agent = _make_agent()
  observations = tf.constant(
      100.0 * np.random.RandomState(0).randn(32, OBS_DIM), tf.float32)
  for policy in (agent.policy, agent.collect_policy):
    actions = policy.action(ts.restart(observations, 32)).action.numpy()
    assert actions.shape == (32, 2)
    assert np.all(np.abs(actions) <= 1.0)


@pytest.mark.parametrize('use_td_targets', [True, False])
def test_no_gradient_through_td_target(use_td_targets):
  agent = _make_agent(use_td_targets=use_td_targets)
  batch = _batch(GOAL_TYPES * 2)
  target_vars = (agent._target_critic_network_1.trainable_variables +
                 agent._target_critic_network_2.trainable_variables)
  actor_vars = agent._actor_network.trainable_variables
  critic_vars = (agent._critic_network_1.trainable_variables +
                 agent._critic_network_2.trainable_variables)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(target_vars + actor_vars + critic_vars)
    # next_actions come from the actor, so the actor is on the target path too.
    loss = agent.critic_loss(batch.observation, batch.action,
                             batch.next_observation, batch.goal_type)
  for g in tape.gradient(loss, target_vars + actor_vars):
    assert g is None or not np.any(g.numpy())
  critic_grads = tape.gradient(loss, critic_vars)
  assert all(g is not None for g in critic_grads)
  assert any(np.any(g.numpy() != 0) for g in critic_grads)
