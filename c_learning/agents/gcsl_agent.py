"""GCSL agent: goal-conditioned supervised learning, imitating each action toward the state it led to.

Ghosh, Gupta, Reddy, Fu, Devin, Eysenbach, Levine, "Learning to Reach Goals via
Iterated Supervised Learning", ICLR 2021, https://arxiv.org/abs/1912.06088.

Every relabeled row (s_t, a_t, g) whose goal g is a state the same episode
reached k steps later is a demonstration of reaching g; the policy maximises
log pi(a_t | s_t, g), or log pi(a_t | s_t, g, k) with the remaining horizon as
an input. Online, the loops iterate collect -> relabel -> imitate; offline, a
dataset fills the replay (train_eval.dataset).
"""
import math
from typing import NamedTuple

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.networks import network
from tf_agents.policies import actor_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import config
from c_learning import exploration
from c_learning import networks
from c_learning.agents import base

# Relabel probabilities whose goals are states the row's own episode reached.
REACHED_GOALS = ('relabel_next_prob', 'relabel_future_prob', 'relabel_last_prob')
# Continuous actions are pulled this far (a fraction of the range) inside the
# bounds before their log-likelihood: a tanh-squashed policy gives an action
# on the bound itself (a random action may be one) a log-density of -inf.
_BOUND_MARGIN = 1e-3


class GcslLossInfo(NamedTuple):
  """The loss of one GCSL train step."""
  actor_loss: tf.Tensor


class HorizonActorNetwork(network.DistributionNetwork):
  """An actor of (observation, remaining horizon h) whose state counts the episode's steps.

  Acting, h = max(max_horizon - steps taken this episode, 1); training,
  h is the relabeled goal's offset k. The inner actor
  (networks.build_actor_network) sees concat(observation, h / max_horizon).
  """

  def __init__(self, observation_spec, action_spec, fc_layer_params, max_horizon,
               name='HorizonActorNetwork'):
    width = observation_spec.shape[0] + 1
    self._inner = networks.build_actor_network(
        tf.TensorSpec((width,), observation_spec.dtype), action_spec, fc_layer_params)
    self._inner.create_variables()
    super().__init__(input_tensor_spec=observation_spec,
                     state_spec=tf.TensorSpec((), tf.int32, name='steps_taken'),
                     output_spec=self._inner.output_spec, name=name)
    self._max_horizon = max_horizon

  def distribution_at(self, observations, horizons, training=False):
    """The action distribution of observations [B, D] with horizons [B] (ints >= 1)."""
    feature = tf.cast(horizons, tf.float32)[:, None] / float(self._max_horizon)
    inputs = tf.concat([tf.cast(observations, tf.float32), feature], axis=-1)
    return self._inner(inputs, step_type=(), network_state=(), training=training)[0]

  def call(self, observations, step_type=(), network_state=(), training=False):
    steps = tf.where(tf.equal(step_type, ts.StepType.FIRST), 0, network_state)
    horizons = tf.maximum(self._max_horizon - steps, 1)
    return self.distribution_at(observations, horizons, training), steps + 1


@gin.configurable(denylist=config.AGENT_DENYLIST)
class GcslAgent(base.GoalConditionedAgent):
  """GCSL: a goal-conditioned actor trained by maximum likelihood on hindsight-relabeled rows.

  Its goals must all be states their rows' episodes reached (next, future or
  last; train_eval.future_offsets='uniform' gives GCSL's uniform future);
  gin/setups/gcsl.gin is the set-up.
  """

  ALGORITHM = 'GCSL'
  COLLECTS_WITH_ACTOR_SNAPSHOT = True
  ACTION_KINDS = ('continuous', 'discrete')  # a tanh-Gaussian or a categorical actor

  def __init__(self,
               time_step_spec,
               action_spec,
               gamma=0.99,
               actor_fc_layers=(256, 256),
               actor_learning_rate=5e-4,
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
      time_step_spec: TimeStep spec; its observation is concat(state, goal),
        or a pixel observation (seen through a conv encoder, c_learning.encoders).
      action_spec: one bounded action spec: continuous (a tanh-Gaussian actor)
        or discrete (a categorical actor).
      gamma: the run's discount (train_eval.gamma); GCSL's loss does not use it.
      actor_fc_layers: hidden layer sizes of the actor.
      actor_learning_rate: Adam learning rate of the actor.
      horizon_input: whether the actor also sees the remaining horizon:
        the goal's offset k in training, max_horizon minus the steps taken
        when acting (a stateful policy).
      max_horizon: the horizon an episode starts with, and the scale of the
        horizon input; set it to the task's episode length.
      gradient_clipping: norm to clip gradients to; None for no clipping.
      debug_summaries: whether to write debug summaries.
      summarize_grads_and_vars: whether to write gradient/variable summaries.
      train_step_counter: counter incremented every train step.
      relabeler: the run's GoalRelabeler (the registry passes it; unused).
      name: name of the agent's tf.Module.
    """
    tf.Module.__init__(self, name=name)
    del relabeler
    self._check_gamma(gamma)
    self._check_action_spec(action_spec)
    if not (isinstance(max_horizon, int) and max_horizon >= 1):
      raise config.ConfigError(f'{type(self).__name__}.max_horizon={max_horizon!r}: must be an '
                               'int >= 1 (the episode length).')
    self._gamma = gamma
    self._horizon_input = horizon_input
    self._max_horizon = max_horizon
    self._gradient_clipping = gradient_clipping
    self._policy_specs = (time_step_spec, action_spec)
    observation_spec = time_step_spec.observation
    if horizon_input:
      build = lambda spec: HorizonActorNetwork(spec, action_spec, actor_fc_layers, max_horizon)
    else:
      build = lambda spec: networks.build_actor_network(spec, action_spec, actor_fc_layers)
    self._actor_network = self._observation_network(build, observation_spec)
    self._actor_network.create_variables()
    self._actor_optimizer = tf.keras.optimizers.Adam(learning_rate=actor_learning_rate)
    self._build_extra_networks(time_step_spec, action_spec)
    super().__init__(
        time_step_spec, action_spec,
        policy=actor_policy.ActorPolicy(time_step_spec, action_spec, self._actor_network,
                                        training=False),
        collect_policy=self.collect_policy_with(self._actor_network),
        train_sequence_length=None, num_outer_dims=1,
        training_data_spec=base.training_data_spec(time_step_spec, action_spec),
        debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter)

  @classmethod
  def check_relabeling(cls, relabeler):
    """Imitation needs goals the rows' episodes reached: next + future + last = 1."""
    probs = relabeler.probabilities()
    reached = sum(probs[name] for name in REACHED_GOALS)
    if not math.isclose(reached, 1.0, abs_tol=1e-9):
      raise config.ConfigError(
          f'{cls.ALGORITHM} imitates each action toward a state its episode reached: '
          + ' + '.join(f'goal_fn.{name}={probs[name]}' for name in REACHED_GOALS)
          + f' = {reached:g}, must be 1 (no episode goals, no random goals).')

  @classmethod
  def _check_action_spec(cls, action_spec):
    flat = tf.nest.flatten(action_spec)
    if len(flat) != 1 or not isinstance(flat[0], tensor_spec.BoundedTensorSpec):
      raise config.ConfigError(f'{cls.ALGORITHM} needs a single bounded action spec; '
                               f'got {action_spec}.')

  def _build_extra_networks(self, time_step_spec, action_spec):
    """Networks a subclass trains beside the actor (WGCSL's value function); none here."""

  @property
  def actor_network(self):
    """The actor that `policy` and `collect_policy` run."""
    return self._actor_network

  def collect_policy_with(self, actor_network):
    """The stochastic actor over `actor_network` (this agent's or a copy): GCSL explores by sampling."""
    time_step_spec, action_spec = self._policy_specs
    return actor_policy.ActorPolicy(time_step_spec, action_spec, actor_network,
                                    training=False)

  def horizons(self, future_offsets):
    """The horizon input of rows whose goals are future_offsets [B] steps away (NO_OFFSET: max_horizon)."""
    return tf.clip_by_value(tf.where(future_offsets > 0, future_offsets, self._max_horizon),
                            1, self._max_horizon)

  def action_distribution(self, observations, future_offsets, training=False):
    """pi(. | s, g) of each row, or pi(. | s, g, k) with horizon_input."""
    if self._horizon_input:
      return self._actor_network.distribution_at(observations, self.horizons(future_offsets),
                                                 training)
    return self._actor_network(observations, step_type=(), network_state=(), training=training)[0]

  def log_likelihood(self, observations, actions, future_offsets, training=False):
    """log pi(a | s, g [, k]) of each row [B]; continuous actions just inside their bounds."""
    spec = self._policy_specs[1]
    if spec.dtype.is_floating:
      low, high = (tf.cast(bound, tf.float32) for bound in exploration.action_bounds(spec))
      margin = _BOUND_MARGIN * (high - low)
      actions = tf.clip_by_value(tf.cast(actions, tf.float32), low + margin, high - margin)
    log_prob = self.action_distribution(observations, future_offsets, training).log_prob(actions)
    if spec.dtype.is_floating and spec.shape.rank == 1 and log_prob.shape.rank == 2:
      log_prob = tf.reduce_sum(log_prob, axis=-1)  # an independent distribution per dimension
    return log_prob

  def actor_loss(self, observations, actions, future_offsets, row_weights=None, weights=None,
                 training=False):
    """The batch mean of -row_weights * log pi(a | s, g [, k]) (GCSL: row_weights 1)."""
    per_row = -self.log_likelihood(observations, actions, future_offsets, training)
    if row_weights is not None:
      per_row *= tf.stop_gradient(row_weights)
    return self._check_finite(self._batch_mean(per_row, weights), 'actor loss')

  def _train(self, experience, weights):
    self._check_experience(experience)
    loss = self._minimize(
        lambda: self.actor_loss(experience.observation, experience.action,
                                experience.future_offset, weights=weights, training=True),
        self._actor_network.trainable_variables, self._actor_optimizer,
        self._gradient_clipping)
    return self._finish_train_step(GcslLossInfo(actor_loss=loss))

  def _loss(self, experience, weights=None, training=False):
    """The loss on experience without changing any variable."""
    self._check_experience(experience)
    loss = self.actor_loss(experience.observation, experience.action,
                           experience.future_offset, weights=weights, training=training)
    return tf_agent.LossInfo(loss=loss, extra=GcslLossInfo(actor_loss=loss))
