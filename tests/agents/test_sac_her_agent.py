"""Tests of SacHerAgent: the critic loss by hand on the relabeler's rewards, training, train_eval."""
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from c_learning import config
from c_learning import relabel
from c_learning.agents import sac_her_agent
from c_learning.relabel import NO_OFFSET
from c_learning.relabel import GoalSlice
from c_learning.relabel import GoalType
from c_learning.relabel import RelabeledTransition
from tests.agents import gradients
from tests import train_eval_helpers as helpers

# A 3-dim state whose goal constrains dimensions 1:3, so an observation is
# concat(state (3), goal (2)), 5 wide.
STATE_DIM = 3
GOAL_SLICE = GoalSlice(1, 3)
OBS_WIDTH = 5
OBS_SPEC = tf.TensorSpec((OBS_WIDTH,), tf.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -1.0, 1.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
GAMMA = 0.9


pytestmark = pytest.mark.usefixtures('clear_gin')


def _make_agent(critic_layers=(8,), actor_layers=(8,), **kwargs):
  kwargs.setdefault('gamma', GAMMA)
  kwargs.setdefault('alpha_learning_rate', 1e-3)
  return sac_her_agent.SacHerAgent(
      TIME_STEP_SPEC, ACTION_SPEC, actor_fc_layers=actor_layers, critic_fc_layers=critic_layers,
      actor_learning_rate=1e-3, critic_learning_rate=1e-3, **kwargs)


def _hand_batch():
  """Four rows: two goals reached exactly, one 0.03 away, one far away."""
  next_states = np.array([[0.1, 0.2, 0.3],
                          [5.0, -1.0, 2.0],
                          [0.0, 1.0, 1.0],
                          [0.0, 1.0, 1.0]], np.float32)
  goals = np.array([[0.2, 0.3],     # = next_state[1:3]: a NEXT-like row
                    [-1.0, 2.0],    # = next_state[1:3]; state dim 0 is ignored
                    [1.03, 1.0],    # 0.03 from next_state[1:3]
                    [3.0, -2.0]],   # far
                   np.float32)
  states = np.full((4, STATE_DIM), 0.7, np.float32)
  return RelabeledTransition(
      observation=tf.constant(np.concatenate([states, goals], -1)),
      action=tf.constant(np.random.RandomState(0).uniform(-1, 1, (4, 2)),
                         tf.float32),
      next_observation=tf.constant(np.concatenate([next_states, goals], -1)),
      goal_type=tf.constant([int(GoalType.NEXT), int(GoalType.FUTURE),
                             int(GoalType.RANDOM), int(GoalType.RANDOM)]),
      future_offset=tf.constant([1, 3, NO_OFFSET, NO_OFFSET]),
      # What goal_fn's default reward, next_state_reward, gives these rows.
      reward=relabel.next_state_reward(GOAL_SLICE(next_states), goals))


def _random_batch(size=16, seed=0):
  rng = np.random.RandomState(seed)
  return RelabeledTransition(
      observation=tf.constant(rng.randn(size, OBS_WIDTH), tf.float32),
      action=tf.constant(rng.uniform(-1, 1, (size, 2)), tf.float32),
      next_observation=tf.constant(rng.randn(size, OBS_WIDTH), tf.float32),
      goal_type=tf.constant(rng.randint(0, 5, size), tf.int32),
      future_offset=tf.constant(rng.randint(1, 5, size), tf.int32),
      reward=tf.constant(rng.randint(0, 2, size), tf.float32))


def _set_constant_critic(net, bias, action_kernel=None):
  """Zeroes all weights, then sets the output bias (and the action weights)."""
  for v in net.variables:
    v.assign(tf.zeros_like(v))
    if v.name.endswith('logit/bias:0'):
      v.assign([bias])
    if action_kernel is not None and v.name.endswith('logit/kernel:0'):
      # Rows OBS_WIDTH: of the output kernel multiply the action.
      kernel = np.zeros(v.shape, np.float32)
      kernel[OBS_WIDTH:, 0] = action_kernel
      v.assign(kernel)


def test_hand_batch_rewards():
  # The exact-equality reward of the relabeler's default: the two rows whose
  # goal is the next state's goal dimensions.
  np.testing.assert_array_equal(_hand_batch().reward.numpy(), [1.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize('terminate_on_reward, expected', [
    (False, 8.5425), (True, 1.5)])
def test_critic_loss_by_hand(terminate_on_reward, expected):
  # alpha = 0.5; linear critics (no hidden layers) so a constant is exact.
  agent = _make_agent(critic_layers=(), initial_log_alpha=math.log(0.5),
                      terminate_on_reward=terminate_on_reward)
  _set_constant_critic(agent._critic_network_1, 0.5)
  _set_constant_critic(agent._critic_network_2, -0.5)
  # Targets Q'_1 = 1 + a'_0 and Q'_2 = 2 + a'_0: the min is 1 + a'_0.
  _set_constant_critic(agent._target_critic_network_1, 1.0, [1.0, 0.0])
  _set_constant_critic(agent._target_critic_network_2, 2.0, [1.0, 0.0])
  batch = _hand_batch()
  next_actions = tf.constant([[0.5, 0.9], [0.5, -0.9], [-0.5, 0.0],
                              [0.0, 0.3]])
  next_log_probs = tf.constant([0.0, -2.0, 1.0, 2.0])
  # r ('next_state') = (1, 1, 0, 0).
  # min Q' = 1 + a'_0 = (1.5, 1.5, 0.5, 1.0); alpha * log pi = (0, -1, 0.5, 1);
  # soft value = min Q' - alpha log pi = (1.5, 2.5, 0.0, 0.0).
  # No termination: y = r + 0.9 * soft value = (2.35, 3.25, 0, 0).
  #   Critic 1 (Q = 0.5):  (1.85^2 + 2.75^2 + 0.5^2 + 0.5^2) / 4
  #                      = (3.4225 + 7.5625 + 0.25 + 0.25) / 4 = 2.87125
  #   Critic 2 (Q = -0.5): (2.85^2 + 3.75^2 + 0.5^2 + 0.5^2) / 4
  #                      = (8.1225 + 14.0625 + 0.25 + 0.25) / 4 = 5.67125
  #   Sum = 8.5425.
  # terminate_on_reward: rows with r = 1 do not bootstrap, y = (1, 1, 0, 0).
  #   Critic 1: (0.25 + 0.25 + 0.25 + 0.25) / 4 = 0.25
  #   Critic 2: (2.25 + 2.25 + 0.25 + 0.25) / 4 = 1.25;  sum = 1.5.
  loss = agent.critic_loss(batch.observation, batch.action,
                           batch.next_observation, batch.reward, next_actions=next_actions,
                           next_log_probs=next_log_probs).numpy()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  # The same number from the formula, so a typo in the comment is caught.
  r = np.array([1.0, 1.0, 0.0, 0.0])
  soft_value = 1.0 + next_actions.numpy()[:, 0] - 0.5 * next_log_probs.numpy()
  y = r + GAMMA * (1 - r if terminate_on_reward else 1.0) * soft_value
  formula = sum(np.mean((y - q) ** 2) for q in (0.5, -0.5))
  np.testing.assert_allclose(loss, formula, rtol=1e-5)


def test_critic_loss_log_probs_default_to_the_actor():
  agent = _make_agent(initial_log_alpha=math.log(2.0))
  batch = _random_batch(4)
  next_actions = tf.constant([[0.3, -0.2], [0.1, 0.5], [-0.7, 0.0],
                              [0.2, 0.2]])
  distribution, _ = agent.actor_network(batch.next_observation, step_type=(),
                                        network_state=())
  log_probs = distribution.log_prob(next_actions)
  args = (batch.observation, batch.action, batch.next_observation, batch.reward)
  implicit = agent.critic_loss(*args, next_actions=next_actions).numpy()
  explicit = agent.critic_loss(*args, next_actions=next_actions,
                               next_log_probs=log_probs).numpy()
  np.testing.assert_allclose(implicit, explicit, rtol=1e-6)
  # The entropy term matters: other log-probs give another loss.
  other = agent.critic_loss(*args, next_actions=next_actions,
                            next_log_probs=log_probs + 1.0).numpy()
  assert abs(other - explicit) > 1e-3


def test_alpha_loss_raises_alpha_below_target_entropy():
  agent = _make_agent(initial_log_alpha=0.3)
  observations = _random_batch(8).observation
  # A target entropy far above what a tanh-Gaussian on [-1, 1]^2 reaches:
  # -log pi - target < 0, so the loss falls as log alpha rises.
  agent._target_entropy = 100.0
  with tf.GradientTape() as tape:
    loss = agent.alpha_loss(observations)
  assert tape.gradient(loss, agent._log_alpha).numpy() < 0
  agent._target_entropy = -100.0
  with tf.GradientTape() as tape:
    loss = agent.alpha_loss(observations)
  assert tape.gradient(loss, agent._log_alpha).numpy() > 0


def test_default_target_entropy_is_minus_action_dim():
  assert _make_agent()._target_entropy == -2.0
  assert _make_agent(target_entropy=-0.5)._target_entropy == -0.5


def test_discrete_action_spec_is_rejected():
  discrete = tensor_spec.BoundedTensorSpec((), tf.int32, 0, 3)
  with pytest.raises(ValueError, match='continuous .bounded.*got') as error:
    sac_her_agent.SacHerAgent(TIME_STEP_SPEC, discrete)
  # gin appends an 'In call to configurable' line; the message itself is one line.
  assert 'SAC+HER' in str(error.value).splitlines()[0]


def test_bad_settings_are_rejected():
  with pytest.raises(config.ConfigError, match='gamma'):
    _make_agent(gamma=1.0)


def test_alpha_has_its_own_learning_rate():
  agent = _make_agent(alpha_learning_rate=0.125)
  assert float(agent._alpha_optimizer.learning_rate.numpy()) == 0.125
  assert float(agent._actor_optimizer.learning_rate.numpy()) == pytest.approx(1e-3)


@pytest.mark.parametrize('use_tf_function', [False, True])
def test_train_step(use_tf_function, tmp_path):
  tau = 0.1
  agent = _make_agent(target_update_tau=tau)
  agent.initialize()
  train = common.function(agent.train) if use_tf_function else agent.train
  batch = _random_batch(16)
  targets = (agent._target_critic_network_1.variables +
             agent._target_critic_network_2.variables)
  critics = (agent._critic_network_1.variables +
             agent._critic_network_2.variables)
  actor_before = [v.numpy() for v in agent.actor_network.variables]
  targets_before = [v.numpy() for v in targets]
  critics_before = [v.numpy() for v in critics]
  log_alpha_before = agent._log_alpha.numpy()
  step_before = agent.train_step_counter.numpy()

  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    loss_info = train(batch)
  writer.flush()

  assert isinstance(loss_info.extra, sac_her_agent.SacHerLossInfo)
  losses = [loss_info.extra.critic_loss.numpy(),
            loss_info.extra.actor_loss.numpy(),
            loss_info.extra.alpha_loss.numpy()]
  assert all(np.isfinite(losses))
  np.testing.assert_allclose(loss_info.loss.numpy(), sum(losses), rtol=1e-5)
  assert agent.train_step_counter.numpy() == step_before + 1
  # Critics, actor and alpha each took a step.
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(critics_before, critics))
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(actor_before, agent.actor_network.variables))
  assert agent._log_alpha.numpy() != log_alpha_before
  # Targets moved by tau towards the updated critics.
  for before, target, critic in zip(targets_before, targets, critics):
    np.testing.assert_allclose(
        target.numpy(), (1 - tau) * before + tau * critic.numpy(),
        rtol=1e-5, atol=1e-7)

  tags = set()
  for name in os.listdir(tmp_path):
    for event in tf.compat.v1.train.summary_iterator(str(tmp_path / name)):
      tags.update(value.tag for value in event.summary.value)
  assert {'Losses/critic_loss', 'Losses/actor_loss',
          'Losses/alpha_loss'} <= tags


def _recording(function, record):
  """`function`, keeping each of its results in `record`."""
  def recorded(*args, **kwargs):
    record.append(function(*args, **kwargs))
    return record[-1]
  return recorded


def test_actor_loss_reaches_the_actor_only_through_its_actions_and_their_log_probs(monkeypatch):
  """d loss / d actor = the chain rule through (a, log pi(a|s)): the critics pass no other gradient."""
  agent = _make_agent()
  observations = _random_batch(8).observation
  actor_variables = agent._actor_network.trainable_variables
  sampled = []
  monkeypatch.setattr(agent, '_actions_and_log_probs',
                      _recording(agent._actions_and_log_probs, sampled))
  with tf.GradientTape(persistent=True) as tape:
    loss = agent.actor_loss(observations)
  (actions, log_probs), = sampled
  # The same loss with the actions and their log-probabilities as constants.
  fixed = (tf.constant(actions), tf.constant(log_probs))
  monkeypatch.setattr(agent, '_actions_and_log_probs', lambda *args, **kwargs: fixed)
  with tf.GradientTape() as action_tape:
    action_tape.watch(fixed)
    loss_at_fixed = agent.actor_loss(observations)
  np.testing.assert_allclose(loss_at_fixed.numpy(), loss.numpy(), rtol=1e-6)
  d_loss_d_actions, d_loss_d_log_probs = action_tape.gradient(loss_at_fixed, fixed)
  # The critics' part: -min Q's gradient in the actions is not zero.
  assert np.any(d_loss_d_actions.numpy() != 0)
  gradients.assert_gradient_is_the_chain_through(
      tape, loss, [actions, log_probs], [d_loss_d_actions, d_loss_d_log_probs], actor_variables)


def test_the_actor_step_changes_no_critic():
  # Critics that their own step cannot move (learning rate 0): whatever moves them is the actor's.
  agent = sac_her_agent.SacHerAgent(
      TIME_STEP_SPEC, ACTION_SPEC, gamma=GAMMA, actor_fc_layers=(8,), critic_fc_layers=(8,),
      actor_learning_rate=1e-2, critic_learning_rate=0.0, alpha_learning_rate=1e-3)
  agent.initialize()
  critics = agent._critic_network_1.variables + agent._critic_network_2.variables
  critics_before = [v.numpy() for v in critics]
  actor_before = [v.numpy() for v in agent._actor_network.variables]
  agent.train(_random_batch(8))
  for before, variable in zip(critics_before, critics):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
  assert any(not np.array_equal(before, v.numpy())
             for before, v in zip(actor_before, agent._actor_network.variables))


def test_train_rejects_trajectories():
  with pytest.raises(TypeError, match='RelabeledTransition'):
    _make_agent().train(tuple(_random_batch()))


def test_policy_samples_actions_within_bounds():
  agent = _make_agent()
  observations = tf.constant(
      np.random.RandomState(0).randn(32, OBS_WIDTH), tf.float32)
  time_step = ts.restart(observations, 32)
  first = agent.collect_policy.action(time_step).action.numpy()
  second = agent.collect_policy.action(time_step).action.numpy()
  assert first.shape == (32, 2) and np.all(np.abs(first) <= 1.0)
  assert not np.array_equal(first, second)  # stochastic: it explores


def _point_mass_bindings(next_prob, num_iterations, agent_name='sac_her'):
  return helpers.SMALL + [
      'train_eval.env_name = "point_mass"', f'train_eval.agent_name = "{agent_name}"',
      f'goal_fn.relabel_next_prob = {next_prob}', 'goal_fn.relabel_future_prob = 0.0',
      f'train_eval.num_iterations = {num_iterations}']


def test_train_eval_runs_sac_her_and_writes_losses(tmp_path):
  helpers.run(tmp_path, [], _point_mass_bindings(0.5, 300))
  train = helpers.scalars(tmp_path / 'train')
  for tag in ('critic_loss', 'actor_loss', 'alpha_loss'):
    steps = [values for t, values in train.items() if tag in t]
    assert steps and all(np.isfinite(v) for v in steps[0].values()), tag
  assert "train_eval.agent_name = 'sac_her'" in (
      tmp_path / 'operative.gin').read_text()


def test_train_eval_accepts_a_split_c_learning_rejects(tmp_path):
  # Also: the agent's own gin knobs resolve through the shipped parser.
  bindings = _point_mass_bindings(0.8, 2) + [
      'train_eval.num_eval_episodes = 0', 'goal_fn.reward = "threshold"']
  with pytest.raises(config.ConfigError, match='requires the two to sum to 0.5'):
    helpers.run(tmp_path / 'c', [], _point_mass_bindings(0.8, 2, 'c_learning'))
  helpers.run(tmp_path / 'sac_her', [], bindings)
  assert any('critic_loss' in t for t in helpers.scalars(tmp_path / 'sac_her' / 'train'))
  operative = (tmp_path / 'sac_her' / 'operative.gin').read_text()
  assert "goal_fn.reward = 'threshold'" in operative
  assert 'goal_fn.relabel_next_prob = 0.8' in operative
