"""Goal-conditioned SAC with hindsight relabeling: the Q-learning baseline of C-learning.

Haarnoja et al., "Soft Actor-Critic Algorithms and Applications", 2018,
https://arxiv.org/abs/1812.05905; Andrychowicz et al., "Hindsight Experience
Replay", NeurIPS 2017, https://arxiv.org/abs/1707.01495.

It trains on the same RelabeledTransition batches as CLearningAgent, on the
sparse reward that the relabeler computed for each row's goal (goal_fn.reward:
'next_state', the C-learning paper's Q-learning comparison, is 1 only when the
next state reaches the goal exactly, which is true for the NEXT-relabeled rows;
'threshold', what HER users expect, is 1 within threshold_reward.threshold of
the goal). Episodes do not end at the goal unless
terminate_on_reward is set.
"""
import math
from typing import NamedTuple

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.utils import common

from c_learning import config
from c_learning.agents import twin_critic_agent

class SacHerLossInfo(NamedTuple):
  """The three losses of one SAC+HER train step."""
  critic_loss: tf.Tensor
  actor_loss: tf.Tensor
  alpha_loss: tf.Tensor


@gin.configurable(denylist=config.AGENT_DENYLIST)
class SacHerAgent(twin_critic_agent.TwinCriticAgent):
  """Goal-conditioned SAC: twin Q critics and targets, tanh-Gaussian actor, learned alpha.

  Trains on RelabeledTransition batches ([B] outer dimension) with their
  reward; goal_type and future_offset are not used.
  """

  ALGORITHM = 'SAC+HER'

  def __init__(self,
               time_step_spec,
               action_spec,
               gamma=0.99,
               actor_fc_layers=(256, 256),
               critic_fc_layers=(256, 256),
               actor_learning_rate=3e-4,
               critic_learning_rate=3e-4,
               target_update_tau=0.005,
               target_update_period=1,
               terminate_on_reward=False,
               target_entropy=None,
               initial_log_alpha=math.log(0.01),
               alpha_learning_rate=3e-4,
               normalize_observations=False,
               gradient_clipping=None,
               debug_summaries=False,
               summarize_grads_and_vars=False,
               train_step_counter=None,
               relabeler=None,
               name=None):
    """Creates the agent; the critics' networks output Q values (unbounded).

    Args:
      gamma: discount in (0, 1) (the registry passes train_eval.gamma).
      terminate_on_reward: whether a reward of 1 ends the episode (the TD
        target does not bootstrap there).
      target_entropy: entropy that alpha is tuned toward; None means
        -action_dim.
      initial_log_alpha: initial value of log alpha. alpha starts at 0.01,
        not SAC's usual 1: with a sparse reward of at most 1 a step, the
        entropy bonus of alpha = 1 swamps it (Q reached ~66 on sawyer_reach),
        and alpha, learned at 3e-4, takes thousands of steps to fall. On
        FetchReach with HER's set-up, 3 seeds: success at 10k env steps
        0.17 / 1.00 / 0.37 from alpha = 1, 1.00 / 0.97 / 1.00 from 0.01
        (docs/RESULTS.md).
      alpha_learning_rate: learning rate of the Adam optimizer of log alpha
        (3e-4, as the actor's and critics' in the paper's settings).
      normalize_observations: whether the networks see observations normalised
        by the running mean and std of the training batches (HER's set-up).
      debug_summaries: whether to write debug summaries (alpha, mean reward).
      relabeler: the batches' GoalRelabeler (the registry passes it); unused,
        as Q-learning with HER accepts any goal split.
      name: name of the agent's tf.Module.
      Other arguments: as in twin_critic_agent.TwinCriticAgent.

    Raises:
      ConfigError: on a discrete or unbounded action spec or a bad setting.
    """
    del relabeler
    tf.Module.__init__(self, name=name)
    self._check_gamma(gamma)
    self._gamma = gamma
    self._terminate_on_reward = terminate_on_reward
    self._alpha_optimizer = tf.keras.optimizers.Adam(learning_rate=alpha_learning_rate)
    action_dim = tf.nest.flatten(action_spec)[0].shape.num_elements()
    self._target_entropy = (-float(action_dim) if target_entropy is None
                            else float(target_entropy))
    self._log_alpha = tf.Variable(
        float(initial_log_alpha), dtype=tf.float32, name='log_alpha')
    super().__init__(
        time_step_spec, action_spec, actor_fc_layers, critic_fc_layers,
        actor_learning_rate, critic_learning_rate, target_update_tau,
        target_update_period, gradient_clipping, debug_summaries,
        summarize_grads_and_vars, train_step_counter, normalize_observations)

  @property
  def alpha(self):
    """The entropy temperature exp(log alpha)."""
    return tf.exp(self._log_alpha)

  def _action_distribution(self, observations, training):
    distribution, _ = self._actor_network(
        observations, step_type=(), network_state=(), training=training)
    return distribution

  def _actions_and_log_probs(self, observations, training):
    """Samples reparameterised actions [B, A] and their log pi [B]."""
    distribution = self._action_distribution(observations, training)
    actions = distribution.sample()
    return actions, distribution.log_prob(actions)

  def critic_loss(self,
                  observations,
                  actions,
                  next_observations,
                  rewards,
                  next_actions=None,
                  training=False,
                  weights=None,
                  next_log_probs=None):
    """Returns the TD loss, summed over the twin critics.

    y = r + gamma * d * (min_i Q'_i(s', a') - alpha * log pi(a'|s')), with
    d = 1, or 1 - r with terminate_on_reward; each critic's loss is the batch
    mean of (Q_i(s, a) - y)^2 (weighted by `weights`), as in TF-Agents' SAC.

    Args:
      observations: [B, state_dim + goal_dim] concat(state, goal), or pixel observations.
      actions: [B, action_dim].
      next_observations: the same for the next state, the same goal.
      rewards: [B] the relabeled rewards (RelabeledTransition.reward).
      next_actions: [B, action_dim] actions a' at the next state; None samples
        them from the actor.
      training: whether the networks run in training mode.
      weights: optional per-row (or scalar) sample weights from train().
      next_log_probs: [B] log pi(a'|s') of next_actions; None computes it from
        the actor (for given next_actions, their log-density under the actor;
        give it explicitly when next_actions lie on the action bounds, where
        the tanh-Gaussian density is degenerate).
    """
    if next_actions is None:
      next_actions, sampled_log_probs = self._actions_and_log_probs(
          next_observations, training=False)
      if next_log_probs is None:
        next_log_probs = sampled_log_probs
    elif next_log_probs is None:
      next_log_probs = self._action_distribution(
          next_observations, training=False).log_prob(next_actions)
    rewards = tf.convert_to_tensor(rewards, tf.float32)
    target_q = self._critic_outputs(self._target_critic_networks, next_observations,
                              next_actions, training=False)
    soft_value = (tf.minimum(target_q[0], target_q[1]) -
                  self.alpha * next_log_probs)
    continues = 1.0 - rewards if self._terminate_on_reward else 1.0
    td_targets = tf.stop_gradient(rewards + self._gamma * continues * soft_value)

    total = self._twin_squared_errors(observations, actions, td_targets, training, weights)

    if self._debug_summaries:
      with tf.name_scope('critic'):
        common.generate_tensor_summaries('rewards', rewards,
                                         self.train_step_counter)
        common.generate_tensor_summaries('td_targets', td_targets,
                                         self.train_step_counter)
    return self._check_finite(total, 'critic loss')

  def actor_loss(self, observations, training=False, weights=None):
    """Returns the batch mean of alpha * log pi(a|s) - min_i Q_i(s, a), a ~ pi(s).

    Actions are reparameterised, so the gradient flows through them into the
    actor; alpha and the critics are held fixed.
    """
    actions, log_probs = self._actions_and_log_probs(observations, training)
    q_values = self._critic_outputs(self._critic_networks, observations, actions,
                              training=False)
    min_q = tf.minimum(q_values[0], q_values[1])
    per_row = tf.stop_gradient(self.alpha) * log_probs - min_q
    return self._check_finite(self._batch_mean(per_row, weights), 'actor loss')

  def alpha_loss(self, observations, training=False, weights=None):
    """Returns the batch mean of log alpha * (-log pi(a|s) - target_entropy).

    Its gradient raises alpha while the policy's entropy is below
    target_entropy and lowers it above (TF-Agents' SAC form, on log alpha).
    """
    _, log_probs = self._actions_and_log_probs(observations, training)
    per_row = self._log_alpha * tf.stop_gradient(-log_probs -
                                                 self._target_entropy)
    return self._check_finite(self._batch_mean(per_row, weights), 'alpha loss')

  def _train(self, experience, weights):
    """Takes one critic, one actor and one alpha step, then a target update."""
    self._observe_batch(experience)
    critic_loss = self._minimize(
        lambda: self.critic_loss(
            experience.observation, experience.action, experience.next_observation,
            experience.reward, weights=weights, training=True),
        self._critic_variables, self._critic_optimizer)
    actor_loss = self._minimize(
        lambda: self.actor_loss(experience.observation, weights=weights, training=True),
        self._actor_variables, self._actor_optimizer)
    alpha_loss = self._minimize(
        lambda: self.alpha_loss(experience.observation, weights=weights, training=True),
        [self._log_alpha], self._alpha_optimizer)
    if self.summaries_enabled and self._debug_summaries:
      tf.compat.v2.summary.scalar(name='alpha', data=self.alpha,
                                  step=self.train_step_counter)
    return self._finish_train_step(SacHerLossInfo(
        critic_loss=critic_loss, actor_loss=actor_loss, alpha_loss=alpha_loss))

  def _loss(self, experience, weights=None, training=False):
    """Returns the three losses on experience without changing any variable."""
    self._check_experience(experience)
    critic_loss = self.critic_loss(
        experience.observation, experience.action, experience.next_observation,
        experience.reward, weights=weights, training=training)
    actor_loss = self.actor_loss(
        experience.observation, weights=weights, training=training)
    alpha_loss = self.alpha_loss(
        experience.observation, weights=weights, training=training)
    return tf_agent.LossInfo(
        loss=critic_loss + actor_loss + alpha_loss,
        extra=SacHerLossInfo(critic_loss=critic_loss, actor_loss=actor_loss,
                             alpha_loss=alpha_loss))
