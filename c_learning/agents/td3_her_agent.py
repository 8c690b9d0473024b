"""Goal-conditioned TD3 with hindsight relabeling: the Q-learning baseline the C-learning paper compared against.

Fujimoto, van Hoof, Meger, "Addressing Function Approximation Error in
Actor-Critic Methods", ICML 2018, https://arxiv.org/abs/1802.09477;
Andrychowicz et al., "Hindsight Experience Replay", NeurIPS 2017,
https://arxiv.org/abs/1707.01495.

It trains on the same RelabeledTransition batches as the other agents, on the
reward the relabeler computed for each row's goal (goal_fn.reward: 'threshold'
for HER's set-up, 'next_state' for the paper's). A deterministic actor
explores with Gaussian noise and, with exploration_random_prob, a uniformly
random action (HER's DDPG explores with 0.2 and 0.3).
"""
from typing import NamedTuple

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.utils import common

from c_learning import config
from c_learning import exploration
from c_learning import networks
from c_learning.agents import twin_critic_agent


class Td3HerLossInfo(NamedTuple):
  """The two losses of one TD3+HER train step (the actor's is applied every actor_update_period steps)."""
  critic_loss: tf.Tensor
  actor_loss: tf.Tensor


@gin.configurable(denylist=config.AGENT_DENYLIST)
class Td3HerAgent(twin_critic_agent.TwinCriticAgent):
  """Goal-conditioned TD3: twin Q critics, a deterministic actor, target smoothing, delayed actor and target updates."""

  ALGORITHM = 'TD3+HER'

  def __init__(self,
               time_step_spec,
               action_spec,
               gamma=0.99,
               actor_fc_layers=(256, 256),
               critic_fc_layers=(256, 256),
               actor_learning_rate=3e-4,
               critic_learning_rate=3e-4,
               target_update_tau=0.005,
               target_update_period=2,
               actor_update_period=2,
               target_noise_std=0.2,
               target_noise_clip=0.5,
               exploration_noise_std=0.1,
               exploration_random_prob=0.0,
               action_l2=0.0,
               preactivation_l2=0.0,
               terminate_on_reward=False,
               normalize_observations=False,
               gradient_clipping=None,
               debug_summaries=False,
               summarize_grads_and_vars=False,
               train_step_counter=None,
               relabeler=None,
               name=None):
    """Creates the agent; the defaults are TD3's (its paper's Table 3 and its authors' code).

    Noise scales are fractions of half the action range, so that they mean the
    same on any bounds.

    Args:
      gamma: discount in (0, 1) (the registry passes train_eval.gamma).
      target_update_period: train steps between soft updates of the target
        critics and the target actor (TD3: 2).
      actor_update_period: train steps between actor updates (TD3: 2).
      target_noise_std: std of the noise on the target actor's action.
      target_noise_clip: that noise is clipped to +-target_noise_clip.
      exploration_noise_std: std of the Gaussian noise the collect policy adds.
      exploration_random_prob: probability that the collect policy takes a
        uniformly random action instead (HER: 0.3).
      action_l2: weight of the mean squared (scaled) action in the actor loss
        (HER: 1.0), which keeps the tanh actor away from its saturated bounds.
      preactivation_l2: weight of the mean squared tanh pre-activation,
        atanh(pi(s) / half range), in the actor loss. Unlike action_l2, whose
        gradient vanishes with the tanh's, it pulls a saturated actor back into
        the range where the critic's gradient reaches it; inside the tanh's
        linear range the two penalties are alike.
      terminate_on_reward: whether a reward of 1 ends the episode (the TD
        target does not bootstrap there).
      normalize_observations: whether the networks see observations normalised
        by the running mean and std of the training batches (HER's set-up).
      relabeler: the batches' GoalRelabeler (the registry passes it); unused,
        as Q-learning with HER accepts any goal split.
      Other arguments: as in twin_critic_agent.TwinCriticAgent.

    Raises:
      ConfigError: on a discrete or unbounded action spec or a bad setting.
    """
    del relabeler
    tf.Module.__init__(self, name=name)
    self._check_gamma(gamma)
    if not (isinstance(actor_update_period, int) and actor_update_period >= 1):
      raise config.ConfigError(
          f'Td3HerAgent.actor_update_period={actor_update_period!r}: must be an int >= 1.')
    if not 0.0 <= exploration_random_prob <= 1.0:
      raise config.ConfigError(
          f'Td3HerAgent.exploration_random_prob={exploration_random_prob}: must be in [0, 1].')
    for setting, value in (('target_noise_std', target_noise_std),
                           ('target_noise_clip', target_noise_clip),
                           ('exploration_noise_std', exploration_noise_std),
                           ('action_l2', action_l2),
                           ('preactivation_l2', preactivation_l2)):
      if value < 0:
        raise config.ConfigError(f'Td3HerAgent.{setting}={value}: must be >= 0.')
    self._gamma = gamma
    self._actor_update_period = actor_update_period
    self._target_noise_std = target_noise_std
    self._target_noise_clip = target_noise_clip
    self._exploration_noise_std = exploration_noise_std
    self._exploration_random_prob = exploration_random_prob
    self._action_l2 = action_l2
    self._preactivation_l2 = preactivation_l2
    self._terminate_on_reward = terminate_on_reward
    self._check_continuous_action_spec(action_spec)  # before its bounds are read
    self._action_low, self._action_high = exploration.action_bounds(action_spec)
    super().__init__(
        time_step_spec, action_spec, actor_fc_layers, critic_fc_layers,
        actor_learning_rate, critic_learning_rate, target_update_tau,
        target_update_period, gradient_clipping, debug_summaries,
        summarize_grads_and_vars, train_step_counter, normalize_observations)

  def _build_actor_network(self, observation_spec, action_spec, fc_layers):
    """A deterministic actor (tanh, scaled to the action bounds) and its target copy."""
    actor = self._observation_network(
        lambda spec: self._normalized(networks.DeterministicActorNetwork(
            spec, action_spec, fc_layer_params=fc_layers)), observation_spec)
    actor.create_variables()
    self._target_actor_network = actor.copy(name='TargetActorNetwork')
    self._target_actor_network.create_variables()
    return actor

  @property
  def _networks(self):
    return super()._networks + [self._target_actor_network]

  def collect_policy_with(self, actor_network):
    """The actor's action with Gaussian noise, or a uniform one with exploration_random_prob."""
    return exploration.NoisyPolicy(super().collect_policy_with(actor_network),
                                   self._exploration_noise_std, self._exploration_random_prob)

  @property
  def _half_action_range(self):
    return (self._action_high - self._action_low) / 2.0

  def _copy_critics_to_targets(self):
    super()._copy_critics_to_targets()
    common.soft_variables_update(self._actor_network.variables,
                                 self._target_actor_network.variables, tau=1.0)

  def _soft_update_targets(self):
    return tf.group(super()._soft_update_targets(), common.soft_variables_update(
        self._actor_network.variables, self._target_actor_network.variables,
        tau=self._target_update_tau, tau_non_trainable=1.0))

  def target_actions(self, next_observations, noise=None):
    """The target actor's actions at the next state, smoothed: plus clipped noise, within the bounds.

    Args:
      next_observations: [B, state_dim + goal_dim] concat(next state, goal), or pixel observations.
      noise: [B, action_dim] the noise in half-ranges before clipping; None
        draws N(0, target_noise_std).
    """
    actions, _ = self._target_actor_network(next_observations, training=False)
    if noise is None:
      noise = tf.random.normal(tf.shape(actions)) * self._target_noise_std
    noise = tf.clip_by_value(noise, -self._target_noise_clip, self._target_noise_clip)
    return tf.clip_by_value(actions + noise * self._half_action_range, self._action_low,
                            self._action_high)

  def critic_loss(self,
                  observations,
                  actions,
                  next_observations,
                  rewards,
                  training=False,
                  weights=None,
                  target_noise=None):
    """Returns the TD loss, summed over the twin critics.

    y = r + gamma * d * min_i Q'_i(s', a'), with a' = target_actions(s') and
    d = 1, or 1 - r with terminate_on_reward; each critic's loss is the batch
    mean of (Q_i(s, a) - y)^2 (weighted by `weights`).

    Args:
      observations: [B, state_dim + goal_dim] concat(state, goal), or pixel observations.
      actions: [B, action_dim].
      next_observations: the same for the next state, the same goal.
      rewards: [B] the relabeled rewards (RelabeledTransition.reward).
      training: whether the networks run in training mode.
      weights: optional per-row (or scalar) sample weights from train().
      target_noise: as target_actions' noise; None draws it.
    """
    next_actions = self.target_actions(next_observations, target_noise)
    rewards = tf.convert_to_tensor(rewards, tf.float32)
    target_q = self._critic_outputs(self._target_critic_networks, next_observations,
                                    next_actions, training=False)
    continues = 1.0 - rewards if self._terminate_on_reward else 1.0
    td_targets = tf.stop_gradient(
        rewards + self._gamma * continues * tf.minimum(target_q[0], target_q[1]))
    total = self._twin_squared_errors(observations, actions, td_targets, training, weights)
    if self._debug_summaries:
      with tf.name_scope('critic'):
        common.generate_tensor_summaries('td_targets', td_targets, self.train_step_counter)
    return self._check_finite(total, 'critic loss')

  def actor_loss(self, observations, training=False, weights=None):
    """Returns the batch mean of -Q_1(s, pi(s)) plus the action penalties.

    With u = pi(s) / half range (centred): action_l2 * mean(u^2) +
    preactivation_l2 * mean(atanh(u)^2).
    """
    actions, _ = self._actor_network(observations, training=training)
    q = self._critic_outputs([self._critic_network_1], observations, actions,
                             training=False)[0]
    scaled = (actions - (self._action_low + self._action_high) / 2.0) / self._half_action_range
    per_row = -q + self._action_l2 * tf.reduce_mean(tf.square(scaled), axis=-1)
    if self._preactivation_l2:
      # atanh of the tanh's output is its input: d/du atanh(tanh(u))^2 = 2u. The
      # clip keeps atanh finite where float32 rounds tanh to +-1 (|u| > 7.2).
      preactivation = tf.atanh(tf.clip_by_value(scaled, -1.0 + 1e-6, 1.0 - 1e-6))
      per_row += self._preactivation_l2 * tf.reduce_mean(tf.square(preactivation), axis=-1)
    return self._check_finite(self._batch_mean(per_row, weights), 'actor loss')

  def _train(self, experience, weights):
    """Takes one critic step; the actor steps every actor_update_period train steps; then the targets."""
    self._observe_batch(experience)
    critic_loss = self._minimize(
        lambda: self.critic_loss(
            experience.observation, experience.action, experience.next_observation,
            experience.reward, weights=weights, training=True),
        self._critic_variables, self._critic_optimizer)
    # The actor's loss is logged every step; its gradient is taken and applied
    # only every actor_update_period steps, so the other steps skip the backward pass.
    actor_loss = tf.cond(
        tf.equal(self.train_step_counter % self._actor_update_period, 0),
        lambda: self._minimize(
            lambda: self.actor_loss(experience.observation, weights=weights, training=True),
            self._actor_variables, self._actor_optimizer),
        lambda: self.actor_loss(experience.observation, weights=weights, training=True))
    return self._finish_train_step(Td3HerLossInfo(critic_loss=critic_loss,
                                                  actor_loss=actor_loss))

  def _loss(self, experience, weights=None, training=False):
    """Returns both losses on experience without changing any variable."""
    self._check_experience(experience)
    critic_loss = self.critic_loss(
        experience.observation, experience.action, experience.next_observation,
        experience.reward, weights=weights, training=training)
    actor_loss = self.actor_loss(experience.observation, weights=weights, training=training)
    return tf_agent.LossInfo(
        loss=critic_loss + actor_loss,
        extra=Td3HerLossInfo(critic_loss=critic_loss, actor_loss=actor_loss))
