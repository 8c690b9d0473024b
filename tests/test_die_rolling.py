"""GCSL's known failure: the one-step die-rolling MDP (GLAMOR paper, appendix A.1), and what WGCSL's weights do there.

Six states (die faces 1..6) and two actions: roll a fair die (a uniform face)
or a loaded one (always face 1). The optimal policy rolls the loaded die for
goal 1 and the fair die for every other goal. GCSL iterates: act with pi_t for
goals drawn uniformly, relabel every step with the face it reached, and fit
pi_{t+1}(a | g) to the relabeled actions by maximum likelihood, here exactly,
since a tabular policy matches its data. For goal 1 that gives
pi_{t+1}(loaded | 1) = x / (1 + 5x/6) for x = pi_t(loaded | 1): it shrinks
to 0, so GCSL converges to rolling the fair die for goal 1 (success 1/6).

WGCSL fits the same data weighted by WgcslAgent.row_weights (the agent's own
code): A(a, g) = Q(a, g) - Q(pi's mode, g) with Q(a, g) = p(face g | a), the
exact value of this one-step task. Its weighting keeps the loaded die for
goal 1: pi(loaded | 1) settles near (e^(5/6) - 1) / (e^(5/6) - 1/6) = 0.61, so
its greedy policy is optimal for every goal.

The agents then run the same iteration themselves (below): GcslAgent's own
actor_loss fits its actor, and WgcslAgent's advantages (its Q-function holding
the exact Q) and row_weights weigh the rows; GCSL lands on the fair die for
goal 1, WGCSL keeps the loaded one.
"""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning.agents import gcsl_agent
from c_learning.agents import wgcsl_agent

FAIR, LOADED = 0, 1
FACES = 6
# Q[g, a] = p(reaching face g | a): the fair die reaches each face 1/6 of the
# time, the loaded one only face 1 (index 0), always.
Q = np.stack([np.full(FACES, 1.0 / FACES), np.eye(FACES)[0]], axis=1)
ROWS = 20_000  # relabeled rows an iteration
ITERATIONS = 30

pytestmark = pytest.mark.usefixtures('clear_gin')


def _weighting_agent(**switches):
  # The weights are all this test uses of the agent; its networks are never trained.
  return wgcsl_agent.WgcslAgent(
      ts.time_step_spec(tf.TensorSpec((2,), tf.float32)),
      tensor_spec.BoundedTensorSpec((1,), tf.float32, -1.0, 1.0), gamma=0.9,
      actor_fc_layers=(), critic_fc_layers=(), baw_warmup_steps=0,
      train_step_counter=tf.Variable(0, dtype=tf.int64), **switches)


def _iterate(agent, rng, loaded_prob=0.4):
  """ITERATIONS rounds of collect -> relabel -> weighted fit; returns pi[g, a]."""
  policy = np.tile([1 - loaded_prob, loaded_prob], (FACES, 1))
  for _ in range(ITERATIONS):
    commanded = rng.integers(0, FACES, ROWS)
    actions = (rng.random(ROWS) < policy[commanded, LOADED]).astype(int)
    reached = np.where(actions == LOADED, 0, rng.integers(0, FACES, ROWS))
    mode = np.argmax(policy, axis=1)
    advantages = Q[reached, actions] - Q[reached, mode[reached]]
    weights = agent.row_weights(tf.constant(advantages, tf.float32),
                                tf.ones([ROWS], tf.int32),  # one step: k = 1
                                agent.baw_percentile(0)).numpy()
    fitted = np.zeros((FACES, 2))
    np.add.at(fitted, (reached, actions), weights)
    policy = fitted / fitted.sum(axis=1, keepdims=True)
  return policy


def _success(policy):
  """The greedy policy's probability of reaching each goal."""
  return Q[np.arange(FACES), np.argmax(policy, axis=1)]


def test_gcsl_converges_to_the_fair_die_for_goal_one():
  # All switches off: every relabeled row weighs 1, GCSL's maximum likelihood.
  policy = _iterate(_weighting_agent(use_drw=False, use_geaw=False, use_baw=False),
                    np.random.default_rng(0))
  # x_1 = 0.8 from 0.4 (every goal's loaded rolls reach face 1), then
  # 1 / x_{t+1} = 1 / x_t + 5/6, so 1 / (1.25 + 29 * 5/6) = 0.039 after 30 rounds.
  assert policy[0, LOADED] < 0.06
  assert np.all(policy[1:, FAIR] == 1.0)  # right for goals 2..6
  np.testing.assert_allclose(_success(policy), [1 / 6] + [1 / 6] * 5)  # goal 1: 1/6, not 1


def test_wgcsl_weights_keep_the_loaded_die_for_goal_one():
  policy = _iterate(_weighting_agent(), np.random.default_rng(0))
  expected = (np.exp(5 / 6) - 1) / (np.exp(5 / 6) - 1 / 6)
  assert abs(policy[0, LOADED] - expected) < 0.05, policy[0]
  np.testing.assert_allclose(_success(policy), [1.0] + [1 / 6] * 5)  # optimal for every goal


def test_the_exponential_advantage_weight_alone_fixes_it_too():
  # GEAW alone has the same fixed point; BAW only changes the path to it.
  policy = _iterate(_weighting_agent(use_drw=False, use_baw=False), np.random.default_rng(1))
  assert policy[0, LOADED] > 0.5
  np.testing.assert_allclose(_success(policy), [1.0] + [1 / 6] * 5)


# The same iteration run by the agents themselves: GcslAgent's actor, a tabular
# categorical policy over the two dice, fitted by gradient steps on its own
# actor_loss; WGCSL's row weights from WgcslAgent.advantages (its Q-function set
# to the exact Q) and WgcslAgent.row_weights, fed to the same actor_loss as its
# row_weights (WgcslAgent inherits GcslAgent.actor_loss: its actor is a
# tanh-Gaussian, whose fit to two-point data has no tabular optimum to compare).

# An observation is concat(state, goal): the start state (all zeros; every
# episode starts there) and the goal face one-hot.
OBS_WIDTH = 2 * FACES
AGENT_ROWS = 8_000  # sampled rows a round
AGENT_ROUNDS = 20
FIT_STEPS = 100  # Adam steps a round on the round's rows


def _observations(goals):
  """concat(start state, one-hot goal) of each goal face index."""
  return tf.constant(np.concatenate([np.zeros((len(goals), FACES)), np.eye(FACES)[goals]], 1),
                     tf.float32)


def _gcsl_learner(loaded_prob):
  """A GcslAgent with a linear categorical actor (tabular in the one-hot goal) at pi(loaded | g) = loaded_prob."""
  agent = gcsl_agent.GcslAgent(
      ts.time_step_spec(tf.TensorSpec((OBS_WIDTH,), tf.float32)),
      tensor_spec.BoundedTensorSpec((), tf.int32, 0, 1), gamma=0.9, actor_fc_layers=(),
      train_step_counter=tf.Variable(0, dtype=tf.int64))
  for variable in agent.actor_network.variables:
    variable.assign(tf.zeros_like(variable))
    if variable.name.endswith('bias:0'):
      variable.assign([0.0, np.log(loaded_prob / (1 - loaded_prob))])
  return agent


def _policy(learner):
  """pi[g, a] of the learner's actor at the start state, each goal."""
  distribution = learner.action_distribution(_observations(np.arange(FACES)),
                                             tf.ones([FACES], tf.int32))
  return distribution.probs_parameter().numpy().astype(np.float64)


def _fitter(learner):
  """fit(observations, actions, row_weights): FIT_STEPS Adam steps on learner.actor_loss."""
  variables = learner.actor_network.trainable_variables
  optimizer = tf.keras.optimizers.Adam(learning_rate=0.1)

  @tf.function
  def fit(observations, actions, row_weights):
    offsets = tf.ones(tf.shape(actions), tf.int32)  # one step: k = 1
    for _ in tf.range(FIT_STEPS):
      with tf.GradientTape() as tape:
        loss = learner.actor_loss(observations, actions, offsets, row_weights)
      optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
  return fit


def _exact_q_wgcsl(critic_steepness=10.0):
  """A WgcslAgent whose Q-function is Q: action -1 rolls the fair die, +1 the loaded one."""
  agent = wgcsl_agent.WgcslAgent(
      ts.time_step_spec(tf.TensorSpec((OBS_WIDTH,), tf.float32)),
      tensor_spec.BoundedTensorSpec((1,), tf.float32, -1.0, 1.0), gamma=0.9,
      actor_fc_layers=(), critic_fc_layers=(2 * FACES,), baw_warmup_steps=0,
      train_step_counter=tf.Variable(0, dtype=tf.int64))
  # Hidden units 2g, 2g + 1: relu(u) - relu(u - 1) = clip(u, 0, 1) with
  # u = c (goal_g + a - 1.5): 1 at the loaded die for goal g, 0 at the fair one
  # and for every other goal. Q = 1/6 + sum_g (Q[g, loaded] - 1/6) clip(u_g, 0, 1).
  hidden_kernel = np.zeros((OBS_WIDTH + 1, 2 * FACES), np.float32)
  hidden_bias = np.zeros(2 * FACES, np.float32)
  logit_kernel = np.zeros((2 * FACES, 1), np.float32)
  for g in range(FACES):
    for unit, shift in ((2 * g, 0.0), (2 * g + 1, 1.0)):
      hidden_kernel[FACES + g, unit] = hidden_kernel[OBS_WIDTH, unit] = critic_steepness
      hidden_bias[unit] = -1.5 * critic_steepness - shift
      logit_kernel[unit, 0] = (Q[g, LOADED] - Q[g, FAIR]) * (1.0 if shift == 0.0 else -1.0)
  values = {'hidden_0/kernel:0': hidden_kernel, 'hidden_0/bias:0': hidden_bias,
            'logit/kernel:0': logit_kernel, 'logit/bias:0': [1.0 / FACES]}
  for network in (agent._critic_network, agent._target_critic_network):
    for variable in network.variables:
      variable.assign(next(value for name, value in values.items() if variable.name.endswith(name)))
  return agent


def _set_actor_mode(agent, mode):
  """Points the WgcslAgent's actor at goal g to the die mode[g]: its greedy_actions are pi's mode."""
  for variable in agent.actor_network.variables:
    value = np.zeros(variable.shape, np.float32)
    if variable.name.endswith('projection_layer/kernel:0'):
      # The mean's pre-tanh, per goal: tanh(+-20) is +-1 in float32, so the
      # rows that took pi's mode get an advantage of exactly 0 (BAW's
      # percentile is 0 here, and a row above it weighs 20 times one at it).
      value[FACES:, 0] = np.where(mode == LOADED, 20.0, -20.0)
    elif variable.name.endswith('projection_layer/bias:0'):
      value[1] = -1.0  # log std
    variable.assign(value)


def _iterate_agents(wgcsl, rng, loaded_prob=0.4):
  """AGENT_ROUNDS rounds of collect -> relabel -> fit by GcslAgent.actor_loss; returns pi[g, a] after each round.

  With `wgcsl` (a WgcslAgent with the exact Q) the rows weigh its row_weights,
  else 1 (GCSL). A round's sampled rows, grouped by (reached face, action),
  enter the loss once each with their summed weight: the same loss, up to a
  factor, at a cost of 12 rows a step.
  """
  learner = _gcsl_learner(loaded_prob)
  fit = _fitter(learner)
  policies = []
  for _ in range(AGENT_ROUNDS):
    policy = _policy(learner)
    commanded = rng.integers(0, FACES, AGENT_ROWS)
    actions = (rng.random(AGENT_ROWS) < policy[commanded, LOADED]).astype(int)
    reached = np.where(actions == LOADED, 0, rng.integers(0, FACES, AGENT_ROWS))
    if wgcsl is None:
      weights = np.ones(AGENT_ROWS)
    else:
      _set_actor_mode(wgcsl, np.argmax(policy, axis=1))
      advantages = wgcsl.advantages(_observations(reached),
                                    tf.constant(2.0 * actions[:, None] - 1.0, tf.float32),
                                    tf.ones([AGENT_ROWS], tf.int32))
      np.testing.assert_allclose(  # the agent's A is the exact one of the theory
          advantages.numpy(),
          Q[reached, actions] - Q[reached, np.argmax(policy, axis=1)[reached]], atol=1e-6)
      weights = wgcsl.row_weights(advantages, tf.ones([AGENT_ROWS], tf.int32),
                                  wgcsl.baw_percentile(0)).numpy()
    summed = np.zeros((FACES, 2))
    np.add.at(summed, (reached, actions), weights)
    faces, dice = np.meshgrid(np.arange(FACES), [FAIR, LOADED], indexing='ij')
    fit(_observations(faces.ravel()), tf.constant(dice.ravel(), tf.int32),
        tf.constant(summed.ravel(), tf.float32))
    policies.append(_policy(learner))
    # The fit is the weighted maximum likelihood of the round's rows: for goal 1,
    # the loaded die's share of the weight of the rows that reached face 1.
    assert abs(policies[-1][0, LOADED] - summed[0, LOADED] / summed[0].sum()) < 0.01
  return policies


def test_gcsl_agent_imitates_its_way_to_the_fair_die_for_goal_one():
  policies = _iterate_agents(None, np.random.default_rng(0))
  loaded = np.array([policy[0, LOADED] for policy in policies])
  # Round 1 from 0.4 everywhere: every goal's loaded rolls reach face 1, so
  # x_1 = 0.4 / (0.4 + 0.6 / 6) = 0.8; from then on (goals 2..6 roll the fair
  # die) x_{t+1} = x_t / (1 + 5 x_t / 6), each round from the agent's own x_t.
  assert abs(loaded[0] - 0.8) < 0.04
  np.testing.assert_allclose(loaded[1:], loaded[:-1] / (1 + 5 * loaded[:-1] / 6), atol=0.04)
  assert loaded[-1] < 0.1  # 1 / (1.25 + 19 * 5/6) = 0.059 in theory
  np.testing.assert_allclose(_success(policies[-1]), [1 / 6] * FACES)  # goal 1: 1/6, not 1


def test_wgcsl_agent_weights_keep_the_loaded_die_for_goal_one():
  policies = _iterate_agents(_exact_q_wgcsl(), np.random.default_rng(0))
  expected = (np.exp(5 / 6) - 1) / (np.exp(5 / 6) - 1 / 6)
  assert abs(policies[-1][0, LOADED] - expected) < 0.05, policies[-1][0]
  np.testing.assert_allclose(_success(policies[-1]), [1.0] + [1 / 6] * 5)  # optimal for every goal
