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
"""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

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
  # x_t from 0.4: 1 / x_t = 2.5 + 5t/6, so 1 / 27.5 = 0.036 after 30 rounds.
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
