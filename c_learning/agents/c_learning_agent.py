"""C-learning agent: a goal classifier trained by recursive classification.

Eysenbach, Salakhutdinov, Levine, "C-Learning: Learning to Achieve Goals via
Recursive Classification", ICLR 2021, https://arxiv.org/abs/2011.08909.

The critic C(s, a, g) classifies whether goal g was drawn from the discounted
future-state distribution of (s, a) or from the marginal of random goals; at the
optimum C/(1-C) = p(s_t+ = g | s, a) / p_rand(g). The actor maximises C.
"""
import math
from typing import NamedTuple

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.utils import common

from c_learning import config
from c_learning import relabel
from c_learning.agents import twin_critic_agent
from c_learning.relabel import GoalType

# Without clipping, log w is still capped here so that w, y and the weight stay
# finite in float32 (w <= e^40 is far beyond any meaningful density ratio).
_MAX_LOG_W = 40.0

ACTOR_LOSS_TYPES = ('c', 'cross_entropy')


class CLearningLossInfo(NamedTuple):
  """The two losses of one C-learning train step."""
  critic_loss: tf.Tensor
  actor_loss: tf.Tensor


@gin.configurable(denylist=config.AGENT_DENYLIST)
class CLearningAgent(twin_critic_agent.TwinCriticAgent):
  """C-learning: twin classifier critics, their targets, a tanh-Gaussian actor.

  Trains on RelabeledTransition batches ([B] outer dimension): observation and
  next_observation are concat(state, goal) with the same goal, and goal_type
  says per row where the goal came from (see critic_loss).
  """

  ALGORITHM = 'C-learning'

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
               w_clipping=None,
               use_td_targets=True,
               actor_loss_type='c',
               exact_hybrid=False,
               normalize_observations=False,
               gradient_clipping=None,
               debug_summaries=False,
               summarize_grads_and_vars=False,
               train_step_counter=None,
               relabeler=None,
               name=None):
    """Creates the agent.

    The defaults are the paper's (Table 2: Adam 3e-4, (256, 256) networks,
    tau 0.005); the critics' networks output the logits of C(s, a, g).

    Args:
      gamma: discount in (0, 1) of the future-state distribution (the
        registry passes train_eval.gamma, which the replay's future goals use).
      w_clipping: upper clip of the importance weight w = C'/(1-C') of the TD
        target; None means 1/(1-gamma), -1 means no clipping.
      use_td_targets: True for TD C-learning; False for the Monte-Carlo
        classifier, where goals other than NEXT and FUTURE are negatives
        (label 0, weight 1).
      actor_loss_type: 'c' (loss -C) or 'cross_entropy' (loss -log C).
      exact_hybrid: whether to scale the TD term gamma*w of the other goals by
        lambda = 2 * relabel_next_prob. With future-state positives in the
        batch (relabel_future_prob > 0), the paper's objective (False) counts
        the future twice, once sampled and once bootstrapped, and its fixed
        point is not the future-state density: the density it implies sums
        to 2*p_next + 2*p_future/(1 - gamma) over goals instead of 1. With
        lambda it is exact for every split (tests/test_discrete_mdp.py). The
        TD-only split (0.5, 0) has lambda = 1 either way.
      normalize_observations: whether the networks see observations normalised
        by the running mean and std of the training batches (HER's set-up).
      relabeler: the c_learning.relabel.GoalRelabeler of the batches (the
        registry passes it); exact_hybrid reads its relabel_next_prob.
      debug_summaries: whether to write debug summaries (w, C by goal type).
      name: name of the agent's tf.Module.
      Other arguments: as in twin_critic_agent.TwinCriticAgent.

    Raises:
      ValueError: on a discrete or unbounded action spec or a bad setting.
    """
    tf.Module.__init__(self, name=name)
    self._check_gamma(gamma)
    if w_clipping is None:
      w_clipping = 1.0 / (1.0 - gamma)
    if not (w_clipping == -1 or w_clipping > 0):
      raise config.ConfigError(
          f'CLearningAgent w_clipping must be None (1/(1-gamma)), -1 (no '
          f'clipping) or > 0; got {w_clipping}.')
    if actor_loss_type not in ACTOR_LOSS_TYPES:
      raise config.ConfigError(
          f'CLearningAgent actor_loss_type must be one of {ACTOR_LOSS_TYPES}; '
          f'got {actor_loss_type!r}.')

    if exact_hybrid and relabeler is None:
      raise config.ConfigError(
          'CLearningAgent.exact_hybrid=True needs the relabeler, whose '
          'relabel_next_prob sets the TD weight; build the agent with '
          'c_learning.agents.create or pass relabeler=.')

    self._gamma = gamma
    # lambda: the weight of the bootstrapped future, gamma*w, against the
    # future-state positives that the batch samples directly (see exact_hybrid).
    self._td_weight = 2.0 * relabeler.relabel_next_prob if exact_hybrid else 1.0
    self._w_clipping = w_clipping
    self._use_td_targets = use_td_targets
    self._actor_loss_type = actor_loss_type
    super().__init__(
        time_step_spec, action_spec, actor_fc_layers, critic_fc_layers,
        actor_learning_rate, critic_learning_rate, target_update_tau,
        target_update_period, gradient_clipping, debug_summaries,
        summarize_grads_and_vars, train_step_counter, normalize_observations)

  @classmethod
  def check_relabeling(cls, relabeler):
    """TD C-learning's fixed point needs relabel_next_prob + relabel_future_prob = 0.5."""
    relabel.check_c_learning_split(relabeler)

  def _sample_actions(self, observations, training):
    """Samples reparameterised actions from the actor."""
    distribution, _ = self._actor_network(
        observations, step_type=(), network_state=(), training=training)
    return distribution.sample()

  def critic_labels_and_weights(self, goal_types, w):
    """Returns per-row (labels, weights) of the critic's cross-entropy.

    NEXT: label 1, weight 1 - gamma. FUTURE: label 1, weight 1. Other goals
    (RANDOM, ORIG, LAST): with TD targets label v/(1+v) and weight 1 + v for
    v = lambda*gamma*w, which is v*(-log C) + (-log(1-C)); lambda is 1, or
    2*relabel_next_prob with exact_hybrid. Without TD targets label 0,
    weight 1.

    Args:
      goal_types: int vector [B] of GoalType values.
      w: float vector [B], the (clipped) importance weight C'/(1-C') of the
        target critics at the next state; ignored without TD targets.
    """
    goal_types = tf.convert_to_tensor(goal_types, tf.int32)
    w = tf.convert_to_tensor(w, tf.float32)
    is_next = tf.equal(goal_types, int(GoalType.NEXT))
    is_future = tf.equal(goal_types, int(GoalType.FUTURE))
    ones = tf.ones_like(w)
    if self._use_td_targets:
      td = self._td_weight * self._gamma * w
      other_labels = td / (1.0 + td)
      other_weights = 1.0 + td
    else:
      other_labels = tf.zeros_like(w)
      other_weights = ones
    labels = tf.where(is_next | is_future, ones, other_labels)
    weights = tf.where(
        is_next, (1.0 - self._gamma) * ones,
        tf.where(is_future, ones, other_weights))
    return labels, weights

  def importance_weights(self, next_observations, next_actions,
                         training=False):
    """Returns w = C'/(1-C') [B] of the min target critic, clipped, no grad."""
    target_logits = self._critic_outputs(
        self._target_critic_networks, next_observations, next_actions,
        training)
    min_logit = tf.minimum(target_logits[0], target_logits[1])
    # sigmoid(x)/(1-sigmoid(x)) = exp(x); clipping the logit before exp keeps
    # w finite where C' is 1 to float precision.
    max_log_w = (_MAX_LOG_W if self._w_clipping == -1
                 else math.log(self._w_clipping))
    w = tf.exp(tf.minimum(min_logit, max_log_w))
    return tf.stop_gradient(w)

  def critic_loss(self,
                  observations,
                  actions,
                  next_observations,
                  goal_types,
                  next_actions=None,
                  training=False,
                  weights=None):
    """Returns the critic loss, summed over the twin critics.

    For each critic, the per-row loss is weight * BCE(label, logit) (labels and
    weights from critic_labels_and_weights), and the critic's loss is the sum
    of those over the batch divided by the batch size B (a plain mean; the
    cross-entropy weights are not renormalised). The two critics' losses add.

    Args:
      observations: [B, state_dim + goal_dim] concat(state, goal), or pixel observations.
      actions: [B, action_dim].
      next_observations: the same for the next state, the same goal.
      goal_types: int32 [B] GoalType per row.
      next_actions: [B, action_dim] actions at the next state for the TD
        target; None samples them from the actor. Unused without TD targets.
      training: whether the networks run in training mode.
      weights: optional per-row (or scalar) sample weights from train().
    """
    if self._use_td_targets:
      if next_actions is None:
        next_actions = self._sample_actions(next_observations, training=False)
      w = self.importance_weights(next_observations, next_actions, training)
    else:
      w = tf.zeros(tf.shape(goal_types), tf.float32)
    labels, label_weights = self.critic_labels_and_weights(goal_types, w)
    labels = tf.stop_gradient(labels)
    label_weights = tf.stop_gradient(label_weights)
    if weights is not None:
      label_weights = label_weights * tf.cast(weights, tf.float32)

    total = 0.0
    logits = self._critic_outputs(
        self._critic_networks, observations, actions, training)
    for critic_logits in logits:
      bce = tf.nn.sigmoid_cross_entropy_with_logits(
          labels=labels, logits=critic_logits)
      total += self._batch_mean(bce, label_weights)

    if self._debug_summaries:
      self._critic_debug_summaries(goal_types, w, logits[0])
    return self._check_finite(total, 'critic loss')

  def _critic_debug_summaries(self, goal_types, w, logits):
    """Writes the mean C per goal type and the distribution of w."""
    with tf.name_scope('critic'):
      c = tf.sigmoid(logits)
      for goal_type in GoalType:
        mask = tf.equal(goal_types, int(goal_type))
        count = tf.reduce_sum(tf.cast(mask, tf.float32))
        mean_c = tf.reduce_sum(tf.where(mask, c, 0.0)) / tf.maximum(count, 1.0)
        tf.compat.v2.summary.scalar(
            name=f'c_{goal_type.name.lower()}', data=mean_c,
            step=self.train_step_counter)
      common.generate_tensor_summaries('w', w, self.train_step_counter)

  def actor_loss(self, observations, training=False, weights=None):
    """Returns the actor loss: mean over the batch of -C or -log C.

    Actions are sampled from the actor with the reparameterisation trick and
    C is the smaller of the two critics (min over twins).

    Args:
      observations: [B, state_dim + goal_dim] concat(state, goal), or pixel observations.
      training: whether the networks run in training mode.
      weights: optional per-row (or scalar) sample weights from train().
    """
    actions = self._sample_actions(observations, training=training)
    logits = self._critic_outputs(
        self._critic_networks, observations, actions, training=False)
    # sigmoid is monotone, so the min of C is sigmoid of the min logit.
    min_logit = tf.minimum(logits[0], logits[1])
    if self._actor_loss_type == 'c':
      per_row = -tf.sigmoid(min_logit)
    else:
      per_row = tf.nn.softplus(-min_logit)  # -log sigmoid(x), stably.
    return self._check_finite(self._batch_mean(per_row, weights), 'actor loss')

  def _train(self, experience, weights):
    """Takes one critic step, one actor step and a target update."""
    self._observe_batch(experience)
    critic_loss = self._minimize(
        lambda: self.critic_loss(
            experience.observation, experience.action, experience.next_observation,
            experience.goal_type, weights=weights, training=True),
        self._critic_variables, self._critic_optimizer)
    actor_loss = self._minimize(
        lambda: self.actor_loss(experience.observation, weights=weights, training=True),
        self._actor_variables, self._actor_optimizer)
    return self._finish_train_step(
        CLearningLossInfo(critic_loss=critic_loss, actor_loss=actor_loss))

  def _loss(self, experience, weights=None, training=False):
    """Returns both losses on experience without changing any variable."""
    self._check_experience(experience)
    critic_loss = self.critic_loss(
        experience.observation, experience.action,
        experience.next_observation, experience.goal_type,
        weights=weights, training=training)
    actor_loss = self.actor_loss(
        experience.observation, weights=weights, training=training)
    return tf_agent.LossInfo(
        loss=critic_loss + actor_loss,
        extra=CLearningLossInfo(critic_loss=critic_loss, actor_loss=actor_loss))
