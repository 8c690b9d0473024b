"""WGCSL agent: GCSL with each row's imitation weighted by discount, advantage and best-advantage.

Yang, Lu, Li, Sun, Fang, Du, Li, Han, Zhang, "Rethinking Goal-conditioned
Supervised Learning and Its Connection to Offline RL", ICLR 2022,
https://arxiv.org/abs/2202.04478.

A row (s_t, a_t, g) whose goal is the state k steps later gets the weight
w = DRW * GEAW * BAW:
  DRW  = gamma^(k - 1), the discounted relabeling weight (1 for the next state);
  GEAW = min(exp(A(s_t, a_t, g)), geaw_max), A = Q(s, a, g) - Q(s, pi(s, g), g)
         from a goal-conditioned Q-function trained alongside by TD on the
         sparse reward (goal_fn.reward);
  BAW  = 1 where A is above the batch's N-th percentile, baw_epsilon elsewhere,
         N rising linearly from 0 to baw_max_percentile over baw_warmup_steps.
Each factor is a gin switch (use_drw, use_geaw, use_baw) for the ablations.
"""
from typing import NamedTuple

import gin
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.agents import tf_agent
from tf_agents.utils import common

from c_learning import config
from c_learning import networks
from c_learning.agents import gcsl_agent


class WgcslLossInfo(NamedTuple):
  """The losses of one WGCSL train step."""
  critic_loss: tf.Tensor
  actor_loss: tf.Tensor


@gin.configurable(denylist=config.AGENT_DENYLIST)
class WgcslAgent(gcsl_agent.GcslAgent):
  """WGCSL: GCSL's actor, a Q-function with a soft-updated target, and per-row weights (see the module)."""

  ALGORITHM = 'WGCSL'
  ACTION_KINDS = ('continuous',)  # its Q-function takes continuous actions

  def __init__(self,
               time_step_spec,
               action_spec,
               gamma=0.98,
               actor_fc_layers=(256, 256),
               critic_fc_layers=(256, 256),
               actor_learning_rate=5e-4,
               critic_learning_rate=5e-4,
               target_update_tau=0.05,
               use_drw=True,
               use_geaw=True,
               use_baw=True,
               geaw_max=10.0,
               baw_epsilon=0.05,
               baw_max_percentile=80.0,
               baw_warmup_steps=20_000,
               horizon_input=False,
               max_horizon=50,
               gradient_clipping=None,
               debug_summaries=False,
               summarize_grads_and_vars=False,
               train_step_counter=None,
               relabeler=None,
               name=None):
    """Creates the agent.

    Args:
      gamma: discount of DRW and of the Q-function (train_eval.gamma).
      critic_fc_layers: hidden layer sizes of the Q-function (and its target).
      critic_learning_rate: Adam learning rate of the Q-function.
      target_update_tau: factor of the target Q-function's soft update.
      use_drw, use_geaw, use_baw: which weights multiply the imitation loss;
        all False is GCSL with an unused Q-function.
      geaw_max: the clip of exp(A).
      baw_epsilon: BAW of rows at or below the advantage percentile.
      baw_max_percentile: the percentile N that BAW's threshold rises to.
      baw_warmup_steps: train steps over which N rises from 0 to
        baw_max_percentile (0: at baw_max_percentile from the start).
      Other arguments: as in gcsl_agent.GcslAgent.
    """
    tf.Module.__init__(self, name=name)
    for switch, value in (('use_drw', use_drw), ('use_geaw', use_geaw), ('use_baw', use_baw)):
      if not isinstance(value, bool):
        raise config.ConfigError(f'WgcslAgent.{switch}={value!r}: must be True or False.')
    if not geaw_max > 0:
      raise config.ConfigError(f'WgcslAgent.geaw_max={geaw_max}: must be > 0.')
    if not 0.0 <= baw_epsilon <= 1.0:
      raise config.ConfigError(f'WgcslAgent.baw_epsilon={baw_epsilon}: must be in [0, 1].')
    if not 0.0 <= baw_max_percentile < 100.0:
      raise config.ConfigError(
          f'WgcslAgent.baw_max_percentile={baw_max_percentile}: must be in [0, 100).')
    if not (isinstance(baw_warmup_steps, int) and baw_warmup_steps >= 0):
      raise config.ConfigError(f'WgcslAgent.baw_warmup_steps={baw_warmup_steps!r}: must be an '
                               'int >= 0.')
    if not 0.0 < target_update_tau <= 1.0:
      raise config.ConfigError(f'WgcslAgent.target_update_tau={target_update_tau}: must be '
                               'in (0, 1].')
    self._critic_fc_layers = critic_fc_layers
    self._critic_learning_rate = critic_learning_rate
    self._target_update_tau = target_update_tau
    self._use_drw, self._use_geaw, self._use_baw = use_drw, use_geaw, use_baw
    self._geaw_max = geaw_max
    self._baw_epsilon = baw_epsilon
    self._baw_max_percentile = baw_max_percentile
    self._baw_warmup_steps = baw_warmup_steps
    super().__init__(
        time_step_spec, action_spec, gamma=gamma, actor_fc_layers=actor_fc_layers,
        actor_learning_rate=actor_learning_rate, horizon_input=horizon_input,
        max_horizon=max_horizon, gradient_clipping=gradient_clipping,
        debug_summaries=debug_summaries, summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter, relabeler=relabeler, name=name)

  @classmethod
  def _check_action_spec(cls, action_spec):
    super()._check_action_spec(action_spec)
    if not tf.nest.flatten(action_spec)[0].dtype.is_floating:
      raise config.ConfigError(f'WGCSL\'s Q-function takes continuous actions; got {action_spec}.')

  def _build_extra_networks(self, time_step_spec, action_spec):
    # An MLP over (s ++ g, a) with one output, read as the value itself (not a logit).
    self._critic_network = self._observation_network(
        lambda spec: networks.build_critic_network(spec, action_spec, self._critic_fc_layers),
        time_step_spec.observation)
    self._target_critic_network = self._critic_network.copy(name='TargetCriticNetwork')
    for net in (self._critic_network, self._target_critic_network):
      net.create_variables()
    self._move_target(tau=1.0)
    self._critic_optimizer = tf.keras.optimizers.Adam(learning_rate=self._critic_learning_rate)

  def _initialize(self):
    self._move_target(tau=1.0)

  def _move_target(self, tau):
    """Moves the target Q-function a fraction tau of the way to the Q-function."""
    return common.soft_variables_update(self._critic_network.variables,
                                        self._target_critic_network.variables, tau=tau,
                                        tau_non_trainable=1.0)

  def greedy_actions(self, observations, future_offsets):
    """pi's mode at each row: the action the value V(s, g) = Q(s, pi(s, g), g) takes."""
    distribution = self.action_distribution(observations, future_offsets)
    return tf.stop_gradient(distribution.mode())

  def critic_loss(self, observations, actions, next_observations, rewards, future_offsets,
                  weights=None, training=False):
    """The batch mean of (Q(s, a, g) - y)^2, y = r + gamma Q'(s', pi(s', g), g), within [0, 1/(1 - gamma)]."""
    next_actions = self.greedy_actions(next_observations, tf.maximum(future_offsets - 1, 1))
    next_q = self._target_critic_network((next_observations, next_actions))[0]
    # Rewards are 0 or 1 a step, so every value lies in [0, 1/(1 - gamma)].
    targets = tf.stop_gradient(tf.clip_by_value(rewards + self._gamma * next_q, 0.0,
                                                1.0 / (1.0 - self._gamma)))
    q = self._critic_network((observations, actions), training=training)[0]
    return self._check_finite(self._batch_mean(tf.math.squared_difference(q, targets), weights),
                              'critic loss')

  def advantages(self, observations, actions, future_offsets):
    """A(s, a, g) = Q(s, a, g) - Q(s, pi(s, g), g) of each row [B]."""
    q = self._critic_network((observations, actions))[0]
    v = self._critic_network((observations, self.greedy_actions(observations, future_offsets)))[0]
    return tf.stop_gradient(q - v)

  def baw_percentile(self, train_step):
    """N at `train_step`: linear from 0 to baw_max_percentile over baw_warmup_steps."""
    if self._baw_warmup_steps == 0:
      return tf.constant(self._baw_max_percentile, tf.float32)
    fraction = tf.minimum(tf.cast(train_step, tf.float32) / self._baw_warmup_steps, 1.0)
    return self._baw_max_percentile * fraction

  def row_weights(self, advantages, future_offsets, percentile):
    """w = DRW * GEAW * BAW of each row [B] (the switched-off factors are 1)."""
    weights = tf.ones_like(advantages)
    if self._use_drw:
      steps_after_next = tf.cast(tf.maximum(future_offsets - 1, 0), tf.float32)
      weights *= tf.pow(tf.constant(self._gamma, tf.float32), steps_after_next)
    if self._use_geaw:
      weights *= tf.minimum(tf.exp(advantages), self._geaw_max)
    if self._use_baw:
      threshold = tfp.stats.percentile(advantages, percentile, interpolation='linear')
      weights *= tf.where(advantages > threshold, 1.0, self._baw_epsilon)
    return weights

  def _row_weights_of(self, experience):
    """row_weights of a batch, from the Q-function as it is and the BAW percentile of this step."""
    return self.row_weights(
        self.advantages(experience.observation, experience.action, experience.future_offset),
        experience.future_offset, self.baw_percentile(self.train_step_counter))

  def _train(self, experience, weights):
    self._check_experience(experience)
    critic_loss = self._minimize(
        lambda: self.critic_loss(experience.observation, experience.action,
                                 experience.next_observation, experience.reward,
                                 experience.future_offset, weights, training=True),
        self._critic_network.trainable_variables, self._critic_optimizer,
        self._gradient_clipping)
    row_weights = self._row_weights_of(experience)
    if self._debug_summaries:
      tf.summary.scalar('wgcsl/mean_row_weight', tf.reduce_mean(row_weights),
                        step=self.train_step_counter)
    actor_loss = self._minimize(
        lambda: self.actor_loss(experience.observation, experience.action,
                                experience.future_offset, row_weights, weights, training=True),
        self._actor_network.trainable_variables, self._actor_optimizer,
        self._gradient_clipping)
    self._move_target(self._target_update_tau)
    return self._finish_train_step(WgcslLossInfo(critic_loss=critic_loss, actor_loss=actor_loss))

  def _loss(self, experience, weights=None, training=False):
    """Both losses on experience without changing any variable."""
    self._check_experience(experience)
    critic_loss = self.critic_loss(experience.observation, experience.action,
                                   experience.next_observation, experience.reward,
                                   experience.future_offset, weights, training)
    row_weights = self._row_weights_of(experience)
    actor_loss = self.actor_loss(experience.observation, experience.action,
                                 experience.future_offset, row_weights, weights, training)
    return tf_agent.LossInfo(loss=critic_loss + actor_loss,
                            extra=WgcslLossInfo(critic_loss, actor_loss))
