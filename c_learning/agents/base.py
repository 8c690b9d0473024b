"""The agent contract: a TFAgent that trains on relabeled batches and says which relabeling it accepts."""
import dataclasses

import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.policies import actor_policy
from tf_agents.specs import tensor_spec
from tf_agents.utils import common
from tf_agents.utils import eager_utils

from c_learning import config
from c_learning import divergence
from c_learning import encoders
from c_learning.relabel import RelabeledTransition


def training_data_spec(time_step_spec, action_spec):
  """The spec of one row of a RelabeledTransition batch for these env specs."""
  return RelabeledTransition(
      observation=time_step_spec.observation,
      action=action_spec,
      next_observation=time_step_spec.observation,
      goal_type=tf.TensorSpec((), tf.int32, name='goal_type'),
      future_offset=tf.TensorSpec((), tf.int32, name='future_offset'),
      reward=tf.TensorSpec((), tf.float32, name='reward'))


class GoalConditionedAgent(tf_agent.TFAgent):
  """What every agent of the package is: a TFAgent on RelabeledTransition batches ([B] outer dimension).

  A subclass is one file and one line in c_learning.agents.AGENTS. The registry
  calls it as Agent(time_step_spec, action_spec, gamma=..., relabeler=...,
  debug_summaries=..., summarize_grads_and_vars=..., train_step_counter=...), which its
  @gin.configurable(denylist=config.AGENT_DENYLIST) keeps from gin; every other
  setting is a gin binding on the subclass itself. The loops draw its batches with
  sample_batch; the plain loop collects with collect_policy, and the overlapped
  loop, only for an agent with COLLECTS_WITH_ACTOR_SNAPSHOT, with
  collect_policy_with(a copy of actor_network). Its losses are public methods
  named *_loss, its _train returns LossInfo(loss, extra=a NamedTuple of named
  losses), and its _loss the same losses without changing any variable.
  """

  # How error messages name the algorithm.
  ALGORITHM = 'This agent'
  # Whether the overlapped loop can collect with a snapshot of the agent's
  # actor: a subclass that sets it defines actor_network and collect_policy_with.
  # An agent without one network to copy (a planner, say) leaves it False and
  # runs in the plain loop (runner refuses train_eval.loop='overlapped').
  COLLECTS_WITH_ACTOR_SNAPSHOT = False
  # The action specs the agent acts in: 'continuous' (one bounded float spec)
  # and/or 'discrete' (one bounded int spec of shape (), n actions).
  ACTION_KINDS = ('continuous',)

  @classmethod
  def check_relabeling(cls, relabeler):
    """Raises config.ConfigError where the agent's theory rules out `relabeler`'s goal split; any split by default."""
    del relabeler

  @classmethod
  def check_batch_size(cls, batch_size):
    """Raises config.ConfigError where the agent cannot train on batches of batch_size rows; any by default."""
    del batch_size

  @classmethod
  def _check_continuous_action_spec(cls, action_spec):
    """Raises config.ConfigError unless action_spec is one bounded float spec."""
    flat = tf.nest.flatten(action_spec)
    if (len(flat) != 1 or not flat[0].dtype.is_floating
        or not isinstance(flat[0], tensor_spec.BoundedTensorSpec)):
      raise config.ConfigError(
          f'{cls.ALGORITHM} needs a single continuous (bounded, float) action spec, '
          f'e.g. BoundedTensorSpec((2,), tf.float32, -1, 1); got {action_spec}.')

  @classmethod
  def _check_gamma(cls, gamma):
    """Raises config.ConfigError unless 0 < gamma < 1."""
    if not 0.0 < gamma < 1.0:
      raise config.ConfigError(f'{cls.__name__} needs 0 < gamma < 1; got gamma={gamma}.')

  def sample_batch(self, replay_buffer, relabeler, batch_size):
    """One batch to train on, drawn by the loops: by default batch_size relabeled transitions.

    An agent that trains on another kind of batch (k-step action sequences,
    say) overrides this and its training_data_spec together.
    """
    return relabeler(replay_buffer.sample(batch_size))

  @property
  def actor_network(self):
    """The network that collect_policy runs, which the overlapped loop copies; None without COLLECTS_WITH_ACTOR_SNAPSHOT."""
    return None

  def _actor_policy(self, actor_network):
    """The stochastic ActorPolicy over `actor_network`, for the specs a subclass keeps as self._policy_specs."""
    time_step_spec, action_spec = self._policy_specs
    return actor_policy.ActorPolicy(time_step_spec=time_step_spec, action_spec=action_spec,
                                    actor_network=actor_network, training=False)

  def collect_policy_with(self, actor_network):
    """The collect policy over `actor_network` (a copy of actor_network); defined with COLLECTS_WITH_ACTOR_SNAPSHOT."""
    raise NotImplementedError(
        f'{type(self).__name__} does not collect with a snapshot of an actor network '
        '(COLLECTS_WITH_ACTOR_SNAPSHOT is False), so it has no collect_policy_with.')

  @staticmethod
  def _observation_network(build, observation_spec, part='joint'):
    """build(input_spec) -> a network; for a pixel observation, built on features behind an encoder.

    The networks stay the MLPs of state tasks: on a pixel task (c_learning.frames)
    each gets its own FrameEncoder (c_learning.encoders, gin pixel_encoder.*),
    which sees `part` of the frames (encoders.PARTS).
    """
    settings = encoders.settings_for(observation_spec)
    if settings is None:
      return build(observation_spec)
    inner = build(encoders.feature_spec(settings, observation_spec, part))
    return encoders.encoded(inner, dataclasses.asdict(settings), observation_spec, part=part)

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
    return divergence.check_loss(loss, self.ALGORITHM, name)

  def _minimize(self, loss_fn, variables, optimizer, gradient_clipping=None):
    """Takes one gradient step on loss_fn() over variables (norms clipped to gradient_clipping); returns the loss."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch(variables)
      loss = loss_fn()
    grads_and_vars = list(zip(tape.gradient(loss, variables), variables))
    if gradient_clipping is not None:
      grads_and_vars = eager_utils.clip_gradient_norms(grads_and_vars, gradient_clipping)
    if self._summarize_grads_and_vars:
      eager_utils.add_variables_summaries(grads_and_vars, self.train_step_counter)
      eager_utils.add_gradients_summaries(grads_and_vars, self.train_step_counter)
    optimizer.apply_gradients(grads_and_vars)
    return loss

  def _finish_train_step(self, losses):
    """Writes each loss of the NamedTuple `losses` as Losses/<name> and counts the step; returns the LossInfo."""
    if self.summaries_enabled:
      with tf.name_scope('Losses'):
        for name, value in losses._asdict().items():
          tf.compat.v2.summary.scalar(name=name, data=value, step=self.train_step_counter)
    self.train_step_counter.assign_add(1)
    return tf_agent.LossInfo(loss=tf.add_n(list(losses)), extra=losses)
