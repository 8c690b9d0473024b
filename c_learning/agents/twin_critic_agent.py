"""What C-learning and its baselines share: twin critics with soft-updated targets and an actor."""
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.policies import actor_policy
from tf_agents.specs import tensor_spec
from tf_agents.utils import common
from tf_agents.utils import eager_utils

from c_learning import config
from c_learning.relabel import RelabeledTransition


class TwinCriticAgent(tf_agent.TFAgent):
  """A TFAgent with two critics, their targets and a tanh-Gaussian actor, on RelabeledTransition batches.

  Subclasses define the losses and `_train`; this class owns the networks,
  the soft target updates, the policy and the gradient steps.
  """

  # How error messages name the algorithm.
  ALGORITHM = 'This agent'

  def __init__(self, time_step_spec, action_spec, actor_network, critic_network,
               actor_optimizer, critic_optimizer, target_update_tau,
               target_update_period, gradient_clipping, debug_summaries,
               summarize_grads_and_vars, train_step_counter):
    """Creates the networks and the policy; subclasses validate their own settings first.

    Args:
      time_step_spec: TimeStep spec; its observation is concat(state, goal).
      action_spec: a single BoundedTensorSpec of continuous actions.
      actor_network: ActorDistributionNetwork with a tanh-Gaussian projection
        (see c_learning.networks.build_actor_network).
      critic_network: Network mapping (observation, action) to one output [B]. It
        is copied for the second critic and the two targets, so it must not
        share layers with anything.
      actor_optimizer: optimizer of the actor.
      critic_optimizer: optimizer of both critics.
      target_update_tau: factor of the soft target update.
      target_update_period: train steps between target updates.
      gradient_clipping: norm to clip gradients to; None for no clipping.
      debug_summaries: whether to write debug summaries.
      summarize_grads_and_vars: whether to write gradient/variable summaries.
      train_step_counter: counter incremented every train step; defaults to
        the global step.
    """
    self._check_action_spec(action_spec)
    self._target_update_tau = target_update_tau
    self._target_update_period = target_update_period
    self._actor_optimizer = actor_optimizer
    self._critic_optimizer = critic_optimizer
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
    # Targets start equal to the critics even if initialize() is never called.
    self._copy_critics_to_targets()
    self._update_target = common.Periodically(
        self._soft_update_targets, target_update_period, 'update_targets')

    policy = actor_policy.ActorPolicy(
        time_step_spec=time_step_spec, action_spec=action_spec,
        actor_network=self._actor_network, training=False)
    # Training data is not a Trajectory but relabeled transitions with one
    # outer (batch) dimension, so no time dimension is expected.
    training_data_spec = RelabeledTransition(
        observation=time_step_spec.observation,
        action=action_spec,
        next_observation=time_step_spec.observation,
        goal_type=tf.TensorSpec((), tf.int32, name='goal_type'))
    super().__init__(
        time_step_spec, action_spec, policy=policy, collect_policy=policy,
        train_sequence_length=None, num_outer_dims=1,
        training_data_spec=training_data_spec, debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter)

  @property
  def actor_network(self):
    """The actor that `policy` and `collect_policy` run."""
    return self._actor_network

  @property
  def _critic_networks(self):
    return [self._critic_network_1, self._critic_network_2]

  @property
  def _target_critic_networks(self):
    return [self._target_critic_network_1, self._target_critic_network_2]

  @classmethod
  def _check_action_spec(cls, action_spec):
    """Raises ValueError unless action_spec is one bounded float spec."""
    flat = tf.nest.flatten(action_spec)
    if (len(flat) != 1 or not flat[0].dtype.is_floating
        or not isinstance(flat[0], tensor_spec.BoundedTensorSpec)):
      raise config.ConfigError(
          f'{cls.ALGORITHM} needs a single continuous (bounded, float) action spec, '
          f'e.g. BoundedTensorSpec((2,), tf.float32, -1, 1); got {action_spec}.')

  def _copy_critics_to_targets(self):
    for source, target in zip(self._critic_networks, self._target_critic_networks):
      common.soft_variables_update(source.variables, target.variables, tau=1.0)

  def _soft_update_targets(self):
    return tf.group(*[
        common.soft_variables_update(source.variables, target.variables,
                                     tau=self._target_update_tau, tau_non_trainable=1.0)
        for source, target in zip(self._critic_networks, self._target_critic_networks)])

  def _initialize(self):
    """Copies the critics' weights into the target critics."""
    self._copy_critics_to_targets()

  def _critic_outputs(self, networks, observations, actions, training):
    """Returns the output [B] of each network in networks, as a list."""
    return [net((observations, actions), training=training)[0] for net in networks]

  def _check_experience(self, experience):
    if not isinstance(experience, RelabeledTransition):
      raise TypeError(
          f'{type(self).__name__} trains on c_learning.relabel.RelabeledTransition '
          f'batches; got {type(experience).__name__}.')

  def _batch_mean(self, per_row, weights):
    """The batch mean of per-row losses, each scaled by its optional sample weight."""
    return common.aggregate_losses(per_example_loss=per_row, sample_weight=weights).total_loss

  def _check_finite(self, loss, name):
    """Returns `loss`; fails the step, naming the agent and the loss, if it is inf or nan."""
    tf.debugging.check_numerics(loss, f'{self.ALGORITHM} {name} is inf or nan.')
    return loss

  def _minimize(self, loss_fn, variables, optimizer):
    """Takes one gradient step on loss_fn() over variables; returns the loss."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch(variables)
      loss = loss_fn()
    grads_and_vars = list(zip(tape.gradient(loss, variables), variables))
    if self._gradient_clipping is not None:
      grads_and_vars = eager_utils.clip_gradient_norms(
          grads_and_vars, self._gradient_clipping)
    if self._summarize_grads_and_vars:
      eager_utils.add_variables_summaries(grads_and_vars, self.train_step_counter)
      eager_utils.add_gradients_summaries(grads_and_vars, self.train_step_counter)
    optimizer.apply_gradients(grads_and_vars)
    return loss

  @property
  def _critic_variables(self):
    return (self._critic_network_1.trainable_variables +
            self._critic_network_2.trainable_variables)

  def _finish_train_step(self, losses):
    """Writes each loss of the NamedTuple `losses` as Losses/<name>, counts the step, moves the targets."""
    if self.summaries_enabled:
      with tf.name_scope('Losses'):
        for name, value in losses._asdict().items():
          tf.compat.v2.summary.scalar(name=name, data=value, step=self.train_step_counter)
    self.train_step_counter.assign_add(1)
    self._update_target()
    return tf_agent.LossInfo(loss=tf.add_n(list(losses)), extra=losses)
