"""What C-learning and its baselines share: twin critics with soft-updated targets and an actor."""
import tensorflow as tf
from tf_agents.utils import common

from c_learning import config
from c_learning import encoders
from c_learning import frames
from c_learning import networks
from c_learning import normalization
from c_learning.agents import base


class TwinCriticAgent(base.GoalConditionedAgent):
  """A TFAgent with two critics, their targets and a tanh-Gaussian actor, on RelabeledTransition batches.

  Subclasses define the losses and `_train`; this class owns the networks,
  the soft target updates, the policy and the gradient steps.
  """

  COLLECTS_WITH_ACTOR_SNAPSHOT = True

  def __init__(self, time_step_spec, action_spec, actor_fc_layers, critic_fc_layers,
               actor_learning_rate, critic_learning_rate, target_update_tau,
               target_update_period, gradient_clipping, debug_summaries,
               summarize_grads_and_vars, train_step_counter, normalize_observations=False):
    """Builds the networks, their Adam optimizers and the policy; subclasses validate their own settings first.

    Args:
      time_step_spec: TimeStep spec; its observation is concat(state, goal),
        or a pixel observation (c_learning.frames), which every network sees
        through a conv encoder (c_learning.encoders).
      action_spec: a single BoundedTensorSpec of continuous actions.
      actor_fc_layers: hidden layer sizes of the tanh-Gaussian actor
        (c_learning.networks.build_actor_network).
      critic_fc_layers: hidden layer sizes of each critic
        (c_learning.networks.build_critic_network), copied for the second critic
        and the two targets.
      actor_learning_rate: Adam learning rate of the actor.
      critic_learning_rate: Adam learning rate of both critics.
      target_update_tau: factor of the soft target update.
      target_update_period: train steps between target updates.
      gradient_clipping: norm to clip gradients to; None for no clipping.
      debug_summaries: whether to write debug summaries.
      summarize_grads_and_vars: whether to write gradient/variable summaries.
      train_step_counter: counter incremented every train step; defaults to
        the global step.
      normalize_observations: whether every network sees the observation
        normalised by the running mean and std of the training batches, clipped
        to [-5, 5], as HER's networks do (c_learning.normalization).
    """
    self._check_continuous_action_spec(action_spec)
    observation_spec = time_step_spec.observation
    pixels = frames.is_pixel_spec(observation_spec)
    if pixels and normalize_observations:
      raise config.ConfigError(
          f'{type(self).__name__}.normalize_observations=True normalises state observations; '
          'a pixel task\'s frames are scaled to [0, 1] by its encoder: leave it False.')
    # DrQ's scheme: the actor sees the first critic's encoder, copied each
    # train step, and its own loss does not train it.
    self._share_encoder = pixels and encoders.settings_for(observation_spec).share_actor_critic
    self._observation_stats = (
        normalization.RunningMeanStd(observation_spec.shape[0], name='observation_stats')
        if normalize_observations else None)
    # The specs of every policy over the actor (TFAgent sets its own only at the end).
    self._policy_specs = (time_step_spec, action_spec)
    actor_network = self._build_actor_network(observation_spec, action_spec, actor_fc_layers)
    critic_network = self._observation_network(
        lambda spec: self._normalized(networks.build_critic_network(
            spec, action_spec, critic_fc_layers)), observation_spec)
    self._target_update_tau = target_update_tau
    self._target_update_period = target_update_period
    self._actor_optimizer = tf.keras.optimizers.Adam(learning_rate=actor_learning_rate)
    self._critic_optimizer = tf.keras.optimizers.Adam(learning_rate=critic_learning_rate)
    self._gradient_clipping = gradient_clipping

    # Twin critics temper the overestimation that one critic's errors would
    # feed back through its own bootstrapped target; the targets make it slow.
    self._critic_network_1 = critic_network
    self._critic_network_2 = critic_network.copy(name='CriticNetwork2')
    self._target_critic_network_1 = critic_network.copy(name='TargetCriticNetwork1')
    self._target_critic_network_2 = critic_network.copy(name='TargetCriticNetwork2')
    for net in self._critic_networks + self._target_critic_networks:
      net.create_variables()
    self._actor_network = actor_network
    self._actor_network.create_variables()
    # Targets start equal to the critics even if initialize() is never called,
    # and a shared encoder starts as the critic's.
    self._copy_critics_to_targets()
    self._share_critic_encoder()
    self._update_target = common.Periodically(
        self._soft_update_targets, target_update_period, 'update_targets')

    super().__init__(
        time_step_spec, action_spec, policy=self._actor_policy(self._actor_network),
        collect_policy=self.collect_policy_with(self._actor_network),
        train_sequence_length=None, num_outer_dims=1,
        training_data_spec=base.training_data_spec(time_step_spec, action_spec),
        debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter)

  @property
  def actor_network(self):
    """The actor that `policy` and `collect_policy` run."""
    return self._actor_network

  def _build_actor_network(self, observation_spec, action_spec, fc_layers):
    """The actor: a tanh-Gaussian (c_learning.networks.build_actor_network) unless a subclass says otherwise."""
    return self._observation_network(
        lambda spec: self._normalized(networks.build_actor_network(spec, action_spec, fc_layers)),
        observation_spec)

  @property
  def _actor_variables(self):
    """What the actor loss trains: the actor's variables, less the encoder it shares with the critic."""
    if self._share_encoder:
      return self._actor_network.inner.trainable_variables
    return self._actor_network.trainable_variables

  def _normalized(self, net):
    """`net` behind the observation normaliser where the agent normalises observations, else `net`."""
    return normalization.normalized(net) if self._observation_stats is not None else net

  @property
  def _networks(self):
    """Every network the agent trains or bootstraps from (a subclass adds its own)."""
    return [self._actor_network] + self._critic_networks + self._target_critic_networks

  def _observe_batch(self, experience):
    """Checks the batch; with normalize_observations, adds its observations to the statistics and hands them to every network.

    The statistics move before the losses, as in HER, so a train step's
    critics, actor and targets all see the same normalisation.
    """
    self._check_experience(experience)
    if self._observation_stats is None:
      return
    self._observation_stats.update(experience.observation)
    mean, std = self._observation_stats.mean_and_std()
    for net in self._networks:
      net.normalize.assign(mean, std)

  def collect_policy_with(self, actor_network):
    """The policy that collects with `actor_network` (this agent's actor or a copy of it).

    The loops collect with snapshots of the actor; this says how the agent
    explores with one: by default the stochastic actor itself.
    """
    return self._actor_policy(actor_network)

  @property
  def _critic_networks(self):
    return [self._critic_network_1, self._critic_network_2]

  @property
  def _target_critic_networks(self):
    return [self._target_critic_network_1, self._target_critic_network_2]

  def _copy_critics_to_targets(self):
    for source, target in zip(self._critic_networks, self._target_critic_networks):
      common.soft_variables_update(source.variables, target.variables, tau=1.0)

  def _soft_update_targets(self):
    return tf.group(*[
        common.soft_variables_update(source.variables, target.variables,
                                     tau=self._target_update_tau, tau_non_trainable=1.0)
        for source, target in zip(self._critic_networks, self._target_critic_networks)])

  def _initialize(self):
    """Copies the critics' weights into the target critics (and a shared encoder into the actor)."""
    self._copy_critics_to_targets()
    self._share_critic_encoder()

  def _share_critic_encoder(self):
    """With a shared encoder, gives the actor the first critic's encoder weights (DrQ's scheme).

    Done when a train step ends, so that outside a step (collecting,
    evaluating, loss()) the actor always sees the critic's current encoder;
    within a step the actor sees it as the step found it.
    """
    if self._share_encoder:
      return common.soft_variables_update(self._critic_network_1.encoder.variables,
                                          self._actor_network.encoder.variables, tau=1.0)
    return tf.no_op()

  def _critic_outputs(self, critics, observations, actions, training):
    """Returns the output [B] of each network in critics, as a list."""
    return [net((observations, actions), training=training)[0] for net in critics]

  def _twin_squared_errors(self, observations, actions, td_targets, training, weights):
    """The sum over the twin critics of the batch mean of (Q_i(s, a) - td_targets)^2."""
    total = 0.0
    for q in self._critic_outputs(self._critic_networks, observations, actions, training):
      total += self._batch_mean(tf.math.squared_difference(td_targets, q), weights)
    return total

  @property
  def _critic_variables(self):
    return (self._critic_network_1.trainable_variables +
            self._critic_network_2.trainable_variables)

  def _minimize(self, loss_fn, variables, optimizer):
    """Takes one gradient step on loss_fn() over variables, clipped to gradient_clipping; returns the loss."""
    return super()._minimize(loss_fn, variables, optimizer, self._gradient_clipping)

  def _finish_train_step(self, losses):
    """Writes the losses and counts the step (base), then moves the targets."""
    loss_info = super()._finish_train_step(losses)
    self._update_target()
    self._share_critic_encoder()
    return loss_info
