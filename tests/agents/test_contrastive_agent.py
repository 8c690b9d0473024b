"""Tests of ContrastiveAgent: the B x B logits, both losses and the actor's objective by hand, and its refusals."""
import math
import re
import types

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import agents
from c_learning import config
from c_learning import frames
from c_learning import relabel
from c_learning import registry
from c_learning import runner
from c_learning import train_eval
from c_learning.agents import contrastive_agent
from tests import train_eval_helpers as helpers

# A 1-dim state, its goal the same dimension, a 1-dim action: with linear
# encoders (no hidden layers) of width 1 set to phi(s, a) = s + a and
# psi(g) = g, every logit is a number worked out by hand.
STATE_DIM = 1
OBS_SPEC = tf.TensorSpec((2,), tf.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec((1,), tf.float32, -1.0, 1.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(0, 1), STATE_DIM, relabel_future_prob=1.0)

pytestmark = pytest.mark.usefixtures('clear_gin')


def _agent(**kwargs):
  """A ContrastiveAgent whose every critic is phi(s, a) = s + a, psi(g) = g."""
  agent = contrastive_agent.ContrastiveAgent(
      TIME_STEP_SPEC, ACTION_SPEC, repr_dim=1, critic_fc_layers=(), actor_fc_layers=(4,),
      relabeler=RELABELER, **kwargs)
  for critic in agent._critic_networks:  # pylint: disable=protected-access
    sa_layer, = critic._sa_layers  # pylint: disable=protected-access
    goal_layer, = critic._goal_layers  # pylint: disable=protected-access
    sa_layer.set_weights([np.ones((2, 1), np.float32), np.zeros(1, np.float32)])
    goal_layer.set_weights([np.ones((1, 1), np.float32), np.zeros(1, np.float32)])
  return agent


def _observations(states, goals):
  return tf.constant(np.stack([states, goals], axis=-1), tf.float32)


# Two rows: states 1 and 2, actions 0, goals 1 and -1.
STATES, GOALS = [1.0, 2.0], [1.0, -1.0]
ZERO_ACTIONS = tf.zeros((2, 1))


def _softplus(x):
  return math.log1p(math.exp(x))


@pytest.mark.parametrize('energy,expected', [
    ('dot', [[1.0, -1.0], [2.0, -2.0]]),  # (s_i + a_i) * g_j
    ('l2', [[0.0, -2.0], [-1.0, -3.0]]),  # -|s_i + a_i - g_j|
])
def test_logits_pair_every_row_with_every_goal(energy, expected):
  logits, = _agent(energy=energy).logits(_observations(STATES, GOALS), ZERO_ACTIONS)
  np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5)


def test_nce_loss_by_hand():
  # Logits [[1, -1], [2, -2]], labels the identity. Row 0: its own goal at
  # logit 1 gives -log sigmoid(1) = softplus(-1), the other at -1 gives
  # -log(1 - sigmoid(-1)) = softplus(-1); row 1: its own at -2 gives
  # softplus(2), the other at 2 gives softplus(2). Each row's mean, then the
  # batch's.
  loss = _agent(loss='nce').critic_loss(_observations(STATES, GOALS), ZERO_ACTIONS)
  np.testing.assert_allclose(float(loss), (_softplus(-1.0) + _softplus(2.0)) / 2, rtol=1e-5)
  assert abs(float(loss) - 1.220095) < 1e-5


def test_cpc_loss_by_hand():
  # Each row's softmax cross-entropy with its own goal: row 0,
  # -log(e^1 / (e^1 + e^-1)) = log(1 + e^-2); row 1, -log(e^-2 / (e^2 + e^-2))
  # = log(1 + e^4).
  loss = _agent(loss='cpc', logsumexp_penalty=0.0).critic_loss(_observations(STATES, GOALS),
                                                               ZERO_ACTIONS)
  np.testing.assert_allclose(float(loss), (math.log1p(math.exp(-2)) + math.log1p(math.exp(4)))
                             / 2, rtol=1e-5)
  assert abs(float(loss) - 2.072539) < 1e-5
  # The penalty: 0.01 x the square of each row's logsumexp, log(e + e^-1) = 1.126928
  # and log(e^2 + e^-2) = 2.018150, averaged: 0.026715 more.
  penalised = _agent(loss='cpc').critic_loss(_observations(STATES, GOALS), ZERO_ACTIONS)
  assert abs(float(penalised) - float(loss) - 0.026715) < 1e-5


def test_twin_critics_add_their_losses():
  single = _agent(loss='nce').critic_loss(_observations(STATES, GOALS), ZERO_ACTIONS)
  twin = _agent(loss='nce', twin_critics=True).critic_loss(_observations(STATES, GOALS),
                                                           ZERO_ACTIONS)
  np.testing.assert_allclose(float(twin), 2 * float(single), rtol=1e-6)


def test_sample_weights_weight_the_rows():
  agent = _agent(loss='cpc', logsumexp_penalty=0.0)
  loss = agent.critic_loss(_observations(STATES, GOALS), ZERO_ACTIONS,
                           weights=tf.constant([1.0, 0.0]))
  np.testing.assert_allclose(float(loss), math.log1p(math.exp(-2)) / 2, rtol=1e-5)


def test_actor_rows_take_another_rows_goal_in_the_set_fraction():
  states, goals = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]
  for fraction, expected in ((0.0, goals), (0.5, [20.0, 30.0, 30.0, 40.0]),
                             (1.0, [20.0, 30.0, 40.0, 10.0])):
    rows = _agent(random_goal_fraction=fraction).actor_observations(
        _observations(states, goals)).numpy()
    np.testing.assert_array_equal(rows[:, 0], states)
    np.testing.assert_array_equal(rows[:, 1], expected, err_msg=f'fraction {fraction}')


def test_actor_rows_of_pixel_observations_move_the_goal_frame_with_the_goal():
  agent = _agent(random_goal_fraction=0.5)
  goal_frames = tf.constant(np.arange(4)[:, None, None, None] * np.ones((4, 2, 2, 1)), tf.uint8)
  observation = {frames.STATE: _observations([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]),
                 frames.GOAL_PIXELS: goal_frames, frames.PIXELS: goal_frames}
  rows = agent.actor_observations(observation)
  np.testing.assert_array_equal(rows[frames.STATE].numpy()[:, 1], [20.0, 30.0, 30.0, 40.0])
  np.testing.assert_array_equal(rows[frames.GOAL_PIXELS].numpy()[:, 0, 0, 0], [1, 2, 2, 3])
  np.testing.assert_array_equal(rows[frames.PIXELS].numpy(), goal_frames.numpy())


def test_actor_loss_by_hand(monkeypatch):
  # Given actions a = (0.5, -0.5) with log pi = (-1, -2), alpha = e^0 = 1 and
  # half the rows with the next row's goal: row 0 (s 1, goal -1 of row 1):
  # f = (1 + 0.5) * -1 = -1.5; row 1 keeps its own (s 2, goal -1):
  # f = (2 - 0.5) * -1 = -1.5. Twin critics, the second's phi doubled: its
  # energies are -3 and -3, the smaller, which the actor's loss takes.
  agent = _agent(twin_critics=True, random_goal_fraction=0.5, initial_log_alpha=0.0)
  second_sa_layer, = agent._critic_networks[1]._sa_layers  # pylint: disable=protected-access
  second_sa_layer.set_weights([2 * np.ones((2, 1), np.float32), np.zeros(1, np.float32)])
  seen = []

  def fixed_actions(observations, training):
    del training
    seen.append(observations.numpy())
    return tf.constant([[0.5], [-0.5]]), tf.constant([-1.0, -2.0])

  monkeypatch.setattr(agent, '_actions_and_log_probs', fixed_actions)
  loss = agent.actor_loss(_observations(STATES, GOALS))
  np.testing.assert_array_equal(seen[0][:, 1], [-1.0, -1.0])
  # mean(log pi - min f) = ((-1 + 3) + (-2 + 3)) / 2.
  np.testing.assert_allclose(float(loss), 1.5, rtol=1e-6)


def test_alpha_loss_by_hand(monkeypatch):
  # log alpha * (-log pi - target entropy) = 0.5 * (1 - 0.25) and 0.5 * (2 - 0.25).
  agent = _agent(initial_log_alpha=0.5, target_entropy=0.25)
  monkeypatch.setattr(agent, '_actions_and_log_probs',
                      lambda observations, training: (ZERO_ACTIONS, tf.constant([-1.0, -2.0])))
  np.testing.assert_allclose(float(agent.alpha_loss(_observations(STATES, GOALS))),
                             0.5 * (0.75 + 1.75) / 2, rtol=1e-6)


def test_a_train_step_moves_the_critic_the_actor_and_alpha():
  agent = _agent()
  batch = relabel.RelabeledTransition(
      observation=_observations(STATES, GOALS), action=tf.constant([[0.3], [-0.2]]),
      next_observation=_observations(STATES, GOALS),
      goal_type=tf.fill([2], int(relabel.GoalType.FUTURE)), future_offset=tf.ones([2], tf.int32),
      reward=tf.zeros([2]))
  critic_before = [v.numpy() for v in agent._critic_variables]  # pylint: disable=protected-access
  actor_before = [v.numpy() for v in agent.actor_network.trainable_variables]
  alpha_before = float(agent.alpha)
  info = agent.train(batch)
  assert set(info.extra._fields) == {'critic_loss', 'actor_loss', 'alpha_loss'}
  for name, before, variables in (
      ('critic', critic_before, agent._critic_variables),  # pylint: disable=protected-access
      ('actor', actor_before, agent.actor_network.trainable_variables)):
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)), name
  assert float(agent.alpha) != alpha_before
  # The critic's loss is the batch's own (s, a, g): the actor plays no part in it.
  with tf.GradientTape() as tape:
    loss = agent.critic_loss(batch.observation, batch.action)
  assert all(g is None for g in tape.gradient(loss, agent.actor_network.trainable_variables))


@pytest.mark.parametrize('setting,value,message', [
    ('loss', 'infonce', r"ContrastiveAgent.loss='infonce' is unknown; valid losses: nce, cpc"),
    ('energy', 'cosine', r"ContrastiveAgent.energy='cosine' is unknown; valid energies: dot, l2"),
    ('repr_dim', 0, r'ContrastiveAgent.repr_dim=0: must be an int >= 1'),
    ('random_goal_fraction', 1.5, r'ContrastiveAgent.random_goal_fraction=1.5: must be in'),
    ('logsumexp_penalty', -1.0, r'ContrastiveAgent.logsumexp_penalty=-1.0: must be a number'),
])
def test_bad_settings_are_one_line_naming_the_binding(setting, value, message):
  gin.bind_parameter(f'ContrastiveAgent.{setting}', value)
  with pytest.raises(config.ConfigError) as error:
    agents.create('contrastive', TIME_STEP_SPEC, ACTION_SPEC, relabeler=RELABELER, gamma=0.99,
                  train_step_counter=tf.Variable(0, dtype=tf.int64))
  # What the command line prints: the line before gin's note of where it was called.
  assert re.match(message, config.first_line(error.value))


def test_a_gin_binding_reaches_the_agent():
  gin.bind_parameter('ContrastiveAgent.loss', 'cpc')
  gin.bind_parameter('ContrastiveAgent.random_goal_fraction', 0.25)
  agent = agents.create('contrastive', TIME_STEP_SPEC, ACTION_SPEC, relabeler=RELABELER,
                        gamma=0.99, train_step_counter=tf.Variable(0, dtype=tf.int64))
  assert agent._loss_kind == 'cpc'  # pylint: disable=protected-access
  assert agent._random_goal_fraction == 0.25  # pylint: disable=protected-access


@pytest.mark.parametrize('split', [dict(relabel_future_prob=0.8, relabel_orig_prob=0.2),
                                   dict(relabel_next_prob=0.3, relabel_future_prob=0.2)])
def test_goals_other_than_own_futures_are_refused_in_one_line(split):
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(0, 1), STATE_DIM, **split)
  with pytest.raises(config.ConfigError, match=r'^goal_fn.relabel_future_prob=0.\d+: contrastive '
                                               r'RL needs every goal to be a future state'):
    agents.create('contrastive', TIME_STEP_SPEC, ACTION_SPEC, relabeler=relabeler, gamma=0.99,
                  train_step_counter=tf.Variable(0, dtype=tf.int64))


def test_a_batch_too_small_for_negatives_is_refused_at_start_up():
  settings = {**train_eval.configured_arguments(), 'agent_name': 'contrastive', 'batch_size': 1}
  with pytest.raises(config.ConfigError, match=r'^train_eval.batch_size=1: contrastive RL takes '
                                               r"each row's negatives from the other rows"):
    runner._check_settings(types.SimpleNamespace(**settings))  # pylint: disable=protected-access
  runner._check_settings(types.SimpleNamespace(**{**settings, 'batch_size': 2}))  # pylint: disable=protected-access


def test_a_discrete_task_is_refused_naming_the_agents_that_take_it():
  discrete = tensor_spec.BoundedTensorSpec((), tf.int32, 0, 2)
  with pytest.raises(config.ConfigError, match=r"agent_name='contrastive' \(Contrastive RL\) acts "
                                               r'in continuous actions'):
    agents.create('contrastive', TIME_STEP_SPEC, discrete, relabeler=RELABELER, gamma=0.99,
                  train_step_counter=tf.Variable(0, dtype=tf.int64))


def test_the_shipped_setup_reaches_the_relabeler_and_the_agent():
  registry.register_configurables()
  config.parse(['sawyer_push.gin', 'gin/setups/contrastive.gin'])
  relabeler = relabel.goal_fn(relabel.GoalSlice(3, 6), 6)
  assert (relabeler.relabel_future_prob, relabeler.relabel_next_prob,
          relabeler.relabel_orig_prob) == (1.0, 0.0, 0.0)
  observation_spec = tf.TensorSpec((9,), tf.float32)
  agent = agents.create(gin.query_parameter('train_eval.agent_name'),
                        ts.time_step_spec(observation_spec),
                        tensor_spec.BoundedTensorSpec((4,), tf.float32, -1.0, 1.0),
                        relabeler=relabeler, gamma=gin.query_parameter('train_eval.gamma'),
                        train_step_counter=tf.Variable(0, dtype=tf.int64))
  assert isinstance(agent, contrastive_agent.ContrastiveAgent)
  assert (agent._loss_kind, agent._energy, agent._random_goal_fraction) == ('nce', 'dot', 0.5)  # pylint: disable=protected-access
  critic, = agent._critic_networks  # pylint: disable=protected-access
  (sa_repr, goal_repr), _ = critic((tf.zeros((2, 9)), tf.zeros((2, 4))))
  assert sa_repr.shape == goal_repr.shape == (2, 64)
  assert [layer.units for layer in critic._sa_layers] == [256, 256, 64]  # pylint: disable=protected-access


@pytest.mark.slow  # about 40 s on 2 cores
def test_train_eval_runs_contrastive_rl_and_writes_its_losses(tmp_path):
  helpers.run(tmp_path, ['gin/setups/contrastive.gin'], helpers.SMALL + [
      'train_eval.env_name = "point_mass"', 'train_eval.num_iterations = 300'])
  train = helpers.scalars(tmp_path / 'train')
  for tag in ('critic_loss', 'actor_loss', 'alpha_loss'):
    steps = [values for t, values in train.items() if tag in t]
    assert steps and all(np.isfinite(v) for v in steps[0].values()), tag
