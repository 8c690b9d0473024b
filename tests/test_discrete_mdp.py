"""C-learning's classifier and contrastive RL's critic recover the exact future-state density of a small MDP.

On a tabular MDP with a fixed stochastic policy pi, the discounted future-state
distribution

  p(s_t+ = g | s, a) = (1 - gamma) sum_{k>=1} gamma^(k-1) P(s_t+k = g | s, a)

is (1 - gamma) P(.|s, a) (I - gamma P_pi)^-1 in closed form. A Bayes-optimal
classifier of future goals (label 1) against random goals from p_rand (label 0)
in equal proportion has C/(1-C) = p(g|s,a) / p_rand(g), so
p_hat = exp(logit) * p_rand must match p. The hybrid splits (next- and
future-state positives together) recover it only with the agent's exact_hybrid
correction; without it the classifier converges to the biased fixed point that
theory predicts (HybridFixedPoint below). The real CLearningAgent.critic_loss is
trained here, with one-hot states/goals in the observation and one-hot actions
in a bounded continuous action spec; next actions are drawn from pi (the policy
being evaluated), not from the agent's actor. ContrastiveAgent.critic_loss is
trained on the same rows, each with its own future state as its goal.
"""
import time

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import relabel
from c_learning.agents import c_learning_agent
from c_learning.agents import contrastive_agent
from c_learning.relabel import GoalType

NUM_STATES = 5
NUM_ACTIONS = 3
GAMMA = 0.9
BATCH_SIZE = 1024
# The density ratio p/p_rand of this MDP stays below 4, under the default clip
# 1/(1-gamma) = 10, so clipping should not change the fixed point.


pytestmark = pytest.mark.usefixtures('clear_gin')


def _sample_categorical(probs, rng):
  """Samples one index per row of probs [N, K]."""
  u = rng.rand(probs.shape[0], 1)
  return np.minimum((u > np.cumsum(probs, axis=-1)).sum(-1), probs.shape[1] - 1)


class _Mdp:
  """A sticky random MDP, a fixed policy, the exact density and sampled data."""

  def __init__(self, seed=1, num_chains=2000, num_starts=40, horizon=150):
    rng = np.random.RandomState(seed)
    # Staying put with probability 0.8 makes the future depend on where one
    # starts; a fully random P mixes within a few steps, and then the marginal
    # alone would already be close to p (see test_mdp_is_discriminative).
    self.transitions = (
        0.8 * np.eye(NUM_STATES)[:, None, :] + 0.2 * rng.dirichlet(
            0.3 * np.ones(NUM_STATES), size=(NUM_STATES, NUM_ACTIONS)))
    # Mixing with uniform keeps every action at least 1/6 likely: all (s, a)
    # are seen in the data.
    self.policy = (0.5 / NUM_ACTIONS + 0.5 * rng.dirichlet(
        np.ones(NUM_ACTIONS), size=NUM_STATES))
    self.exact = self.future_density(GAMMA)

    # Episodes from uniform start states; a transition at time t < num_starts
    # gets a future goal at t + k, k ~ Geometric(1 - gamma) on {1, 2, ...}.
    # Truncating k at horizon changes p by less than gamma^150 = 1.4e-7.
    length = num_starts + horizon + 1
    states = np.zeros((num_chains, length), np.int64)
    actions = np.zeros((num_chains, length), np.int64)
    states[:, 0] = rng.randint(NUM_STATES, size=num_chains)
    for t in range(length - 1):
      actions[:, t] = _sample_categorical(self.policy[states[:, t]], rng)
      states[:, t + 1] = _sample_categorical(
          self.transitions[states[:, t], actions[:, t]], rng)
    chain, t = np.meshgrid(np.arange(num_chains), np.arange(num_starts),
                           indexing='ij')
    chain, t = chain.ravel(), t.ravel()
    offset = np.minimum(rng.geometric(1 - GAMMA, size=t.shape), horizon)
    self.state = states[chain, t]
    self.action = actions[chain, t]
    self.next_state = states[chain, t + 1]
    self.future_state = states[chain, t + offset]
    # Random goals are states of other rows, so p_rand is their marginal.
    self.p_rand = np.bincount(self.state, minlength=NUM_STATES) / len(t)
    # The marginal of the rows' future goals: p(g) = sum_{s,a} d(s, a) p(g | s, a)
    # for the rows' (s, a) frequencies d.
    pairs = np.bincount(self.state * NUM_ACTIONS + self.action,
                        minlength=NUM_STATES * NUM_ACTIONS).reshape(NUM_STATES, NUM_ACTIONS)
    self.future_marginal = np.einsum('sa,sag->g', pairs / len(t), self.exact)

  def future_density(self, gamma):
    """Returns p(s_t+ = g | s, a) [S, A, S] under the policy, exactly."""
    p_pi = np.einsum('sa,sat->st', self.policy, self.transitions)
    occupancy = np.linalg.inv(np.eye(NUM_STATES) - gamma * p_pi)
    return (1 - gamma) * np.einsum('sat,tg->sag', self.transitions, occupancy)

  def hybrid_fixed_point(self, next_prob, future_prob, td_weight):
    """Returns the p_hat [S, A, S] that C-learning's critic loss converges to, exactly.

    With next-state positives (weight 1 - gamma) at next_prob, future-state
    positives (weight 1) at future_prob and random goals at 0.5 whose TD term
    is scaled by td_weight, the Bayes-optimal classifier satisfies
      q = 2 next_prob (1 - gamma) P + 2 future_prob p + td_weight gamma P_pi q,
    a linear system over (s, a) for each goal. It is p itself when
    next_prob + future_prob = 0.5 and td_weight = 2 next_prob.
    """
    num_pairs = NUM_STATES * NUM_ACTIONS
    # M[(s, a), (s', a')] = P(s' | s, a) pi(a' | s').
    successor = np.einsum('sat,tb->satb', self.transitions,
                          self.policy).reshape(num_pairs, num_pairs)
    sampled = (2 * next_prob * (1 - GAMMA) * self.transitions +
               2 * future_prob * self.exact).reshape(num_pairs, NUM_STATES)
    fixed_point = np.linalg.solve(
        np.eye(num_pairs) - td_weight * GAMMA * successor, sampled)
    return fixed_point.reshape(NUM_STATES, NUM_ACTIONS, NUM_STATES)

  def total_variation(self, density):
    """Returns 0.5 sum_g |density - exact|, averaged over all (s, a)."""
    return 0.5 * np.abs(density - self.exact).sum(-1).mean()


@pytest.fixture(scope='module')
def mdp():
  return _Mdp()


def _train_classifier(mdp, use_td_targets, w_clipping, num_steps, split=(0.5, 0.0),
                      exact_hybrid=False, seed=0):
  """Trains only the critic with critic_loss on the (next, future) split of positives; returns p_hat [S, A, S].

  Without TD targets the positives are future states and split is ignored.
  """
  tf.random.set_seed(seed)
  next_prob, future_prob = split
  observation_spec = tf.TensorSpec((2 * NUM_STATES,), tf.float32)
  action_spec = tensor_spec.BoundedTensorSpec((NUM_ACTIONS,), tf.float32, 0, 1)
  agent = c_learning_agent.CLearningAgent(
      ts.time_step_spec(observation_spec),
      action_spec,
      actor_fc_layers=(8,),
      critic_fc_layers=(64, 64),
      gamma=GAMMA,
      target_update_tau=0.01,
      w_clipping=w_clipping,
      use_td_targets=use_td_targets,
      exact_hybrid=exact_hybrid,
      relabeler=relabel.GoalRelabeler(
          relabel.GoalSlice(0, NUM_STATES), NUM_STATES,
          relabel_next_prob=next_prob, relabel_future_prob=future_prob))
  critics = [agent._critic_network_1, agent._critic_network_2]  # pylint: disable=protected-access
  variables = critics[0].trainable_variables + critics[1].trainable_variables
  optimizer = tf.keras.optimizers.Adam(1e-3)

  state, action, next_state, future_state = [
      tf.constant(x, tf.int32) for x in (mdp.state, mdp.action, mdp.next_state,
                                         mdp.future_state)]
  log_policy = tf.constant(np.log(mdp.policy), tf.float32)
  half = BATCH_SIZE // 2
  # TD C-learning: next- and future-state positives in the split's proportion
  # (next + future = 0.5), random goals 0.5. Monte-Carlo: future-state
  # positives 0.5, random negatives 0.5.
  num_next = round(BATCH_SIZE * next_prob) if use_td_targets else 0
  goal_types = tf.constant(
      [int(GoalType.NEXT)] * num_next + [int(GoalType.FUTURE)] * (half - num_next) +
      [int(GoalType.RANDOM)] * half, tf.int32)

  @tf.function
  def train_step():
    rows = tf.random.uniform((BATCH_SIZE,), 0, len(mdp.state), tf.int32)
    random_rows = tf.random.uniform((half,), 0, len(mdp.state), tf.int32)
    s, a, s_next, s_future = [
        tf.gather(x, rows) for x in (state, action, next_state, future_state)]
    positive_goals = tf.concat([s_next[:num_next], s_future[num_next:half]], 0)
    goals = tf.one_hot(
        tf.concat([positive_goals, tf.gather(state, random_rows)], 0),
        NUM_STATES)
    next_actions = tf.random.categorical(tf.gather(log_policy, s_next), 1)
    with tf.GradientTape() as tape:
      loss = agent.critic_loss(
          observations=tf.concat([tf.one_hot(s, NUM_STATES), goals], -1),
          actions=tf.one_hot(a, NUM_ACTIONS),
          next_observations=tf.concat(
              [tf.one_hot(s_next, NUM_STATES), goals], -1),
          goal_types=goal_types,
          next_actions=tf.one_hot(next_actions[:, 0], NUM_ACTIONS),
          training=True)
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    agent._update_target()  # pylint: disable=protected-access
    return loss

  for _ in range(num_steps):
    train_step()

  s, a, g = [x.ravel() for x in np.meshgrid(
      np.arange(NUM_STATES), np.arange(NUM_ACTIONS), np.arange(NUM_STATES),
      indexing='ij')]
  eye_s, eye_a = np.eye(NUM_STATES, dtype=np.float32), np.eye(
      NUM_ACTIONS, dtype=np.float32)
  inputs = (np.concatenate([eye_s[s], eye_s[g]], -1), eye_a[a])
  # The min of the twins is the C the agent itself bootstraps and acts on.
  logits = np.minimum(*[critic(inputs)[0].numpy() for critic in critics])
  # C/(1-C) = exp(logit); p_hat is not renormalised, so a miscalibrated
  # classifier shows in the total variation as well.
  return np.exp(logits.reshape(NUM_STATES, NUM_ACTIONS, NUM_STATES)) * (
      mdp.p_rand)


def test_mdp_is_discriminative(mdp):
  """Trivial or wrong estimates are far from the exact density."""
  marginal_tv = mdp.total_variation(
      np.broadcast_to(mdp.p_rand, mdp.exact.shape))
  one_step_tv = mdp.total_variation(mdp.transitions)
  wrong_gamma_tv = mdp.total_variation(mdp.future_density(0.8))
  print(f'\nTV of baselines: random-goal marginal {marginal_tv:.3f}, '
        f'one-step P {one_step_tv:.3f}, gamma 0.8 instead of 0.9 '
        f'{wrong_gamma_tv:.3f}')
  np.testing.assert_allclose(mdp.exact.sum(-1), 1.0, rtol=1e-9)
  assert marginal_tv > 0.2 and one_step_tv > 0.2 and wrong_gamma_tv > 0.1


def test_unclipped_td_c_learning_recovers_future_density(mdp):
  # The default clip is tested with every split below.
  w_clipping = -1
  start = time.time()
  tv = mdp.total_variation(_train_classifier(
      mdp, use_td_targets=True, w_clipping=w_clipping, num_steps=2500))
  print(f'\nTD C-learning (w_clipping={w_clipping}, 2500 steps, batch '
        f'{BATCH_SIZE}): TV = {tv:.4f} ({time.time() - start:.1f} s)')
  # 0.05 is well under the baselines of test_mdp_is_discriminative (a wrong
  # gamma alone gives 0.13).
  assert tv < 0.05


def test_monte_carlo_classifier_recovers_future_density(mdp):
  start = time.time()
  tv = mdp.total_variation(_train_classifier(
      mdp, use_td_targets=False, w_clipping=-1, num_steps=2000))
  print(f'\nMonte-Carlo classifier (2000 steps, batch {BATCH_SIZE}): '
        f'TV = {tv:.4f} ({time.time() - start:.1f} s)')
  # Sampled future goals add variance that the TD target averages out, so the
  # bound is looser than for TD.
  assert tv < 0.1


HYBRID_SPLITS = [(0.5, 0.0), (0.3, 0.2), (0.1, 0.4)]


@pytest.mark.parametrize('split', HYBRID_SPLITS, ids=lambda s: f'next{s[0]}-future{s[1]}')
def test_exact_hybrid_recovers_future_density_for_every_split(mdp, split):
  np.testing.assert_allclose(  # The theory the correction rests on.
      mdp.hybrid_fixed_point(*split, td_weight=2 * split[0]), mdp.exact, atol=1e-9)
  start = time.time()
  tv = mdp.total_variation(_train_classifier(
      mdp, use_td_targets=True, w_clipping=None, num_steps=2500, split=split,
      exact_hybrid=True))
  print(f'\nexact hybrid, split {split} (2500 steps): TV = {tv:.4f} '
        f'({time.time() - start:.1f} s)')
  assert tv < 0.05


@pytest.mark.parametrize('split', HYBRID_SPLITS[1:], ids=lambda s: f'next{s[0]}-future{s[1]}')
def test_uncorrected_hybrid_converges_to_the_biased_fixed_point(mdp, split):
  """The paper's objective on a hybrid split: the inflated density theory predicts, not p."""
  next_prob, future_prob = split
  biased = mdp.hybrid_fixed_point(next_prob, future_prob, td_weight=1.0)
  predicted_mass = 2 * next_prob + 2 * future_prob / (1 - GAMMA)
  np.testing.assert_allclose(biased.sum(-1), predicted_mass, rtol=1e-9)
  # Unclipped, so that w can reach the biased ratios (up to ~40 here).
  p_hat = _train_classifier(mdp, use_td_targets=True, w_clipping=-1, num_steps=2500,
                            split=split)
  relative_tv = 0.5 * np.abs(p_hat - biased).sum(-1).mean() / predicted_mass
  print(f'\nuncorrected, split {split}: mass {p_hat.sum(-1).mean():.2f} '
        f'(theory {predicted_mass:.2f}), TV to p {mdp.total_variation(p_hat):.2f}, '
        f'relative TV to the biased fixed point {relative_tv:.4f}')
  # 2500 steps leave it a little short of the fixed point (mass 4.3 of 4.6
  # and 7.5 of 8.2): larger ratios take longer to bootstrap up to.
  assert mdp.total_variation(p_hat) > 0.5
  assert relative_tv < 0.1


def _train_contrastive_critic(mdp, loss, num_steps, seed=0):
  """Trains only ContrastiveAgent's critic on rows (s, a, its future goal); returns the logits f [S, A, S]."""
  tf.random.set_seed(seed)
  observation_spec = tf.TensorSpec((2 * NUM_STATES,), tf.float32)
  action_spec = tensor_spec.BoundedTensorSpec((NUM_ACTIONS,), tf.float32, 0, 1)
  agent = contrastive_agent.ContrastiveAgent(
      ts.time_step_spec(observation_spec), action_spec, gamma=GAMMA, loss=loss,
      actor_fc_layers=(8,), critic_fc_layers=(64, 64),
      relabeler=relabel.GoalRelabeler(relabel.GoalSlice(0, NUM_STATES), NUM_STATES,
                                      relabel_future_prob=1.0))
  variables = agent._critic_variables  # pylint: disable=protected-access
  optimizer = tf.keras.optimizers.Adam(1e-3)
  state, action, future_state = [
      tf.constant(x, tf.int32) for x in (mdp.state, mdp.action, mdp.future_state)]

  @tf.function
  def train_step():
    rows = tf.random.uniform((BATCH_SIZE,), 0, len(mdp.state), tf.int32)
    s, a, g = [tf.one_hot(tf.gather(x, rows), n) for x, n in (
        (state, NUM_STATES), (action, NUM_ACTIONS), (future_state, NUM_STATES))]
    with tf.GradientTape() as tape:
      loss_value = agent.critic_loss(tf.concat([s, g], -1), a, training=True)
    optimizer.apply_gradients(zip(tape.gradient(loss_value, variables), variables))
    return loss_value

  for _ in range(num_steps):
    train_step()
  s, a, g = [x.ravel() for x in np.meshgrid(
      np.arange(NUM_STATES), np.arange(NUM_ACTIONS), np.arange(NUM_STATES), indexing='ij')]
  eye_s, eye_a = np.eye(NUM_STATES, dtype=np.float32), np.eye(NUM_ACTIONS, dtype=np.float32)
  critic, = agent._critic_networks  # pylint: disable=protected-access
  (sa_repr, goal_repr), _ = critic((np.concatenate([eye_s[s], eye_s[g]], -1), eye_a[a]))
  logits = tf.reduce_sum(sa_repr * goal_repr, -1).numpy()  # the 'dot' energy, row by row
  return logits.reshape(NUM_STATES, NUM_ACTIONS, NUM_STATES)


@pytest.mark.slow
def test_nce_critic_recovers_future_density_up_to_its_per_goal_factor(mdp):
  """NCE's optimum: exp f(s, a, g) = p(g | s, a) / ((B - 1) p(g)).

  Each batch pairs B rows' (s, a) with their own future goal (B positives)
  and with the other rows' goals, samples of the goal marginal p(g) (B(B - 1)
  negatives); the Bayes-optimal classifier of a pair has odds
  p(g | s, a) / ((B - 1) p(g)). The factor per goal that NCE leaves is
  1 / ((B - 1) p(g)), known here exactly (mdp.future_marginal), so
  p_hat = exp f * (B - 1) * p(g) must match p itself, not renormalised.
  """
  start = time.time()
  logits = _train_contrastive_critic(mdp, 'nce', num_steps=2000)
  p_hat = np.exp(logits) * (BATCH_SIZE - 1) * mdp.future_marginal
  tv = mdp.total_variation(p_hat)
  print(f'\ncontrastive NCE (2000 steps, batch {BATCH_SIZE}): TV = {tv:.4f}, mass '
        f'{p_hat.sum(-1).mean():.3f} ({time.time() - start:.1f} s)')
  # Measured 0.036 (mass 1.004); the Monte-Carlo classifier's bound is 0.1.
  assert tv < 0.06


@pytest.mark.slow
def test_cpc_critic_recovers_future_density_up_to_a_factor_per_state_action(mdp):
  """CPC's optimum: exp f(s, a, g) = c(s, a) p(g | s, a) / p(g): normalised over goals after times p(g), it is p."""
  logits = _train_contrastive_critic(mdp, 'cpc', num_steps=2000)
  unnormalised = np.exp(logits - logits.max(-1, keepdims=True)) * mdp.future_marginal
  p_hat = unnormalised / unnormalised.sum(-1, keepdims=True)
  tv = mdp.total_variation(p_hat)
  print(f'\ncontrastive CPC (2000 steps, batch {BATCH_SIZE}): TV = {tv:.4f}')
  assert tv < 0.05  # measured 0.019
