"""Contrastive RL: a goal-conditioned critic learned by telling each row's future apart from the batch's others.

Eysenbach, Zhang, Salakhutdinov, Levine, "Contrastive Learning as
Goal-Conditioned Reinforcement Learning", NeurIPS 2022,
https://arxiv.org/abs/2206.07568.

The critic is an energy f(s, a, g) of two representations, phi(s, a) and
psi(g) (c_learning.networks.ContrastiveCriticNetwork). Every row i of a batch of
B has a goal g_i from its own discounted future; f(s_i, a_i, g_j) over all i, j
is a B x B matrix whose diagonal pairs come from the joint distribution and
whose other entries pair a row with another row's future, a sample of the goal
marginal p(g). The NCE loss classifies every entry (diagonal 1, the rest 0); at
its optimum exp f(s, a, g) = p(g | s, a) / ((B - 1) p(g)), the future-state
density up to a factor per goal (tests/test_discrete_mdp.py). The CPC
loss classifies each row's own goal among the batch's B (a softmax); at its
optimum exp f = p(g | s, a) / p(g) times a factor per (s, a). The actor
maximises f(s, a, g) with SAC's adaptive entropy bonus, on the batch's goals and
a fraction of other rows' goals.
"""
from typing import NamedTuple

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent

from c_learning import config
from c_learning import encoders
from c_learning import frames
from c_learning import networks
from c_learning.agents import base

LOSSES = ('nce', 'cpc')


class ContrastiveLossInfo(NamedTuple):
  """The three losses of one contrastive RL train step."""
  critic_loss: tf.Tensor
  actor_loss: tf.Tensor
  alpha_loss: tf.Tensor


@gin.configurable(denylist=config.AGENT_DENYLIST)
class ContrastiveAgent(base.GoalConditionedAgent):
  """Contrastive RL: a representation critic (or twins), a tanh-Gaussian actor and a learned entropy temperature.

  Trains on RelabeledTransition batches ([B] outer dimension) whose every goal
  is a future state of its own row (goal_fn.relabel_future_prob = 1;
  gin/setups/contrastive.gin); the other rows' goals are the negatives, so it
  needs nothing beyond the relabeler's future goals.
  """

  ALGORITHM = 'Contrastive RL'
  COLLECTS_WITH_ACTOR_SNAPSHOT = True

  def __init__(self,
               time_step_spec,
               action_spec,
               gamma=0.99,
               loss='nce',
               energy='dot',
               repr_dim=64,
               actor_fc_layers=(256, 256),
               critic_fc_layers=(256, 256),
               twin_critics=False,
               random_goal_fraction=0.5,
               logsumexp_penalty=0.01,
               actor_learning_rate=3e-4,
               critic_learning_rate=3e-4,
               target_entropy=0.0,
               initial_log_alpha=0.0,
               alpha_learning_rate=3e-4,
               gradient_clipping=None,
               debug_summaries=False,
               summarize_grads_and_vars=False,
               train_step_counter=None,
               relabeler=None,
               name=None):
    """Creates the agent; the defaults are those of contrastive RL's code.

    Args:
      gamma: discount in (0, 1) of the future goals (the registry passes
        train_eval.gamma, which the replay's future offsets use); the losses
        themselves do not read it.
      loss: 'nce' (binary cross-entropy of every entry of the B x B logits)
        or 'cpc' (softmax cross-entropy of each row).
      energy: 'dot' (f = phi(s, a) . psi(g)) or 'l2' (f = -||phi - psi||).
      repr_dim: width of the representations phi and psi.
      actor_fc_layers: hidden layer sizes of the actor.
      critic_fc_layers: hidden layer sizes of each of phi's and psi's MLPs.
      twin_critics: whether to train two critics (their losses add) and have
        the actor maximise the smaller energy.
      random_goal_fraction: the fraction of the actor's rows whose goal is
        another row's (the rest keep their own future goal); contrastive RL's
        `random_goals`, 0.5 by default.
      logsumexp_penalty: with loss 'cpc', the weight of each row's
        (logsumexp_j f_ij)^2 added to its loss (contrastive RL's 0.01): the
        softmax leaves a constant per row free, and this keeps it near 0.
      actor_learning_rate, critic_learning_rate, alpha_learning_rate: Adam
        learning rates.
      target_entropy: the entropy that alpha is tuned toward (contrastive
        RL's 0).
      initial_log_alpha: log alpha at the start (alpha = 1).
      gradient_clipping: norm to clip gradients to; None for no clipping.
      relabeler: the batches' GoalRelabeler (the registry passes it): its
        state_dim splits a state observation into state and goal.
      Other arguments: as in base.GoalConditionedAgent's registry call.

    Raises:
      ConfigError: on a discrete or unbounded action spec or a bad setting.
    """
    tf.Module.__init__(self, name=name)
    self._check_gamma(gamma)
    self._check_continuous_action_spec(action_spec)
    if loss not in LOSSES:
      raise config.ConfigError(f'ContrastiveAgent.loss={loss!r} is unknown; valid losses: '
                               f'{", ".join(LOSSES)}.')
    if energy not in networks.ENERGIES:
      raise config.ConfigError(f'ContrastiveAgent.energy={energy!r} is unknown; valid '
                               f'energies: {", ".join(networks.ENERGIES)}.')
    if not (isinstance(repr_dim, int) and repr_dim >= 1):
      raise config.ConfigError(f'ContrastiveAgent.repr_dim={repr_dim!r}: must be an int >= 1.')
    if not 0.0 <= random_goal_fraction <= 1.0:
      raise config.ConfigError(
          f'ContrastiveAgent.random_goal_fraction={random_goal_fraction}: must be in [0, 1].')
    if not (isinstance(logsumexp_penalty, (int, float)) and logsumexp_penalty >= 0):
      raise config.ConfigError(
          f'ContrastiveAgent.logsumexp_penalty={logsumexp_penalty!r}: must be a number >= 0.')
    if relabeler is None:
      raise config.ConfigError(
          'ContrastiveAgent needs the relabeler, whose state_dim splits an observation into '
          'state and goal; build the agent with c_learning.agents.create or pass relabeler=.')
    observation_spec = time_step_spec.observation
    settings = encoders.settings_for(observation_spec)
    if settings is not None and settings.include_state:
      raise config.ConfigError(
          'pixel_encoder.include_state=True gives an encoder the whole state, goal included; '
          "ContrastiveAgent's phi(s, a) must not see the goal: leave it False.")
    self._loss_kind = loss
    self._energy = energy
    self._random_goal_fraction = random_goal_fraction
    self._logsumexp_penalty = float(logsumexp_penalty)
    self._state_dim = relabeler.state_dim
    self._gradient_clipping = gradient_clipping
    self._target_entropy = float(target_entropy)
    self._log_alpha = tf.Variable(float(initial_log_alpha), dtype=tf.float32, name='log_alpha')

    critic_input_spec = (observation_spec, action_spec)
    self._critic_networks = [
        networks.ContrastiveCriticNetwork(
            critic_input_spec, state_dim=self._state_dim, repr_dim=repr_dim,
            fc_layer_params=critic_fc_layers, name=f'ContrastiveCritic{i + 1}')
        for i in range(2 if twin_critics else 1)]
    # On pixels the actor sees the current frames and the goal frame each
    # through its own encoder ('split'), so that with share_actor_critic it can
    # see the first critic's two encoders (DrQ's scheme: copied each step,
    # not trained by the actor loss).
    self._share_encoder = settings is not None and settings.share_actor_critic
    self._actor_network = self._observation_network(
        lambda spec: networks.build_actor_network(spec, action_spec, actor_fc_layers),
        observation_spec, part='split')
    for net in self._critic_networks + [self._actor_network]:
      net.create_variables()
    self._share_critic_encoders()
    self._critic_optimizer = tf.keras.optimizers.Adam(learning_rate=critic_learning_rate)
    self._actor_optimizer = tf.keras.optimizers.Adam(learning_rate=actor_learning_rate)
    self._alpha_optimizer = tf.keras.optimizers.Adam(learning_rate=alpha_learning_rate)

    self._policy_specs = (time_step_spec, action_spec)
    super().__init__(
        time_step_spec, action_spec, policy=self._actor_policy(self._actor_network),
        collect_policy=self.collect_policy_with(self._actor_network),
        train_sequence_length=None, num_outer_dims=1,
        training_data_spec=base.training_data_spec(time_step_spec, action_spec),
        debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=train_step_counter)

  @classmethod
  def check_relabeling(cls, relabeler):
    """Every row's goal must be a future state of its own: the critic's positives, and the others' negatives."""
    if relabeler.relabel_future_prob != 1.0:
      raise config.ConfigError(
          f'goal_fn.relabel_future_prob={relabeler.relabel_future_prob}: contrastive RL needs '
          'every goal to be a future state of its own row (relabel_future_prob = 1, the others '
          '0; gin/setups/contrastive.gin).')

  @classmethod
  def check_batch_size(cls, batch_size):
    """The other rows' goals are each row's negatives: a batch needs two rows at least."""
    if not (isinstance(batch_size, int) and batch_size >= 2):
      raise config.ConfigError(
          f'train_eval.batch_size={batch_size!r}: contrastive RL takes each row\'s negatives '
          'from the other rows of its batch; it needs at least 2 (contrastive RL used 256).')

  @property
  def actor_network(self):
    """The actor that `policy` and `collect_policy` run."""
    return self._actor_network

  def collect_policy_with(self, actor_network):
    """The stochastic actor policy over `actor_network` (this agent's actor or a copy)."""
    return self._actor_policy(actor_network)

  @property
  def alpha(self):
    """The entropy temperature exp(log alpha)."""
    return tf.exp(self._log_alpha)

  def _share_critic_encoders(self):
    """With a shared encoder, gives the actor the first critic's two encoders' weights."""
    if not self._share_encoder:
      return tf.no_op()
    critic, actor_encoder = self._critic_networks[0], self._actor_network.encoder
    pairs = ((critic.state_encoder, actor_encoder.current), (critic.goal_encoder, actor_encoder.goal))
    return tf.group(*[target.assign(source) for source_layer, target_layer in pairs
                      for source, target in zip(source_layer.variables, target_layer.variables)])

  @property
  def _critic_variables(self):
    return [v for net in self._critic_networks for v in net.trainable_variables]

  @property
  def _actor_variables(self):
    """The actor's variables, less the encoders it copies from the critic."""
    if self._share_encoder:
      return self._actor_network.inner.trainable_variables
    return self._actor_network.trainable_variables

  def logits(self, observations, actions, training=False):
    """The B x B logits f(s_i, a_i, g_j) of each critic, as a list: row i's (s, a) against row j's goal."""
    outputs = []
    for critic in self._critic_networks:
      (sa_repr, goal_repr), _ = critic((observations, actions), training=training)
      outputs.append(networks.energies(sa_repr, goal_repr, self._energy, pairwise=True))
    return outputs

  def critic_loss(self, observations, actions, training=False, weights=None):
    """Returns the contrastive loss of the B x B logits, summed over the critics.

    NCE: each entry's sigmoid cross-entropy against the identity matrix
    (diagonal 1, the rest 0), averaged over the row's B entries; CPC: each
    row's softmax cross-entropy with its own goal (column i) as the label,
    plus logsumexp_penalty times the square of the row's logsumexp. The
    per-row losses are averaged over the batch (weighted by `weights`).

    Args:
      observations: [B, state_dim + goal_dim] concat(state, goal), every goal
        a future state of its row, or pixel observations.
      actions: [B, action_dim].
      training: whether the networks run in training mode.
      weights: optional per-row (or scalar) sample weights from train().
    """
    total = 0.0
    all_logits = self.logits(observations, actions, training)
    for logits in all_logits:
      labels = tf.eye(tf.shape(logits)[0], dtype=logits.dtype)
      if self._loss_kind == 'nce':
        per_row = tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1)
      else:
        per_row = (tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
                   + self._logsumexp_penalty * tf.square(tf.reduce_logsumexp(logits, axis=1)))
      total += self._batch_mean(per_row, weights)
    if self._debug_summaries:
      self._critic_debug_summaries(all_logits[0])
    return self._check_finite(total, 'critic loss')

  def _critic_debug_summaries(self, logits):
    """Writes the mean logit of positives and of negatives, and how often a row ranks its own goal first."""
    with tf.name_scope('critic'):
      positives = tf.linalg.diag_part(logits)
      size = tf.cast(tf.shape(logits)[0], tf.float32)
      negatives = (tf.reduce_sum(logits) - tf.reduce_sum(positives)) / (size * (size - 1.0))
      accuracy = tf.reduce_mean(tf.cast(
          tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), tf.range(tf.shape(logits)[0])),
          tf.float32))
      for name, value in (('logit_positive', tf.reduce_mean(positives)),
                          ('logit_negative', negatives), ('accuracy', accuracy)):
        tf.compat.v2.summary.scalar(name=name, data=value, step=self.train_step_counter)

  def actor_observations(self, observations):
    """The actor's rows: the first round(random_goal_fraction * B) take the next row's goal, the rest keep their own."""
    state = frames.state_of(observations)
    batch_size = state.shape[0] or tf.shape(state)[0]
    num_random = int(round(self._random_goal_fraction * batch_size))
    # Row i takes row i + 1's goal (mod B): another row's future, never its own.
    source = tf.concat([tf.range(1, num_random + 1) % batch_size,
                        tf.range(num_random, batch_size)], axis=0)
    goals = tf.gather(state[:, self._state_dim:], source)
    new_state = tf.concat([state[:, :self._state_dim], goals], axis=-1)
    if not isinstance(observations, dict):
      return new_state
    return {frames.STATE: new_state, frames.PIXELS: observations[frames.PIXELS],
            frames.GOAL_PIXELS: tf.gather(observations[frames.GOAL_PIXELS], source)}

  def _actions_and_log_probs(self, observations, training):
    """Samples reparameterised actions [B, A] and their log pi [B]."""
    distribution, _ = self._actor_network(observations, step_type=(), network_state=(),
                                          training=training)
    actions = distribution.sample()
    return actions, distribution.log_prob(actions)

  def actor_loss(self, observations, training=False, weights=None):
    """Returns the batch mean of alpha * log pi(a|s, g) - min_i f_i(s, a, g), a ~ pi(s, g).

    The rows are actor_observations(observations) (a fraction with other rows'
    goals); actions are reparameterised, so the gradient reaches the actor
    through them; alpha and the critics are held fixed.
    """
    observations = self.actor_observations(observations)
    actions, log_probs = self._actions_and_log_probs(observations, training)
    values = []
    for critic in self._critic_networks:
      (sa_repr, goal_repr), _ = critic((observations, actions), training=False)
      values.append(networks.energies(sa_repr, goal_repr, self._energy, pairwise=False))
    per_row = tf.stop_gradient(self.alpha) * log_probs - tf.reduce_min(tf.stack(values), axis=0)
    return self._check_finite(self._batch_mean(per_row, weights), 'actor loss')

  def alpha_loss(self, observations, training=False, weights=None):
    """Returns the batch mean of log alpha * (-log pi(a|s, g) - target_entropy), on the actor's rows."""
    _, log_probs = self._actions_and_log_probs(self.actor_observations(observations), training)
    per_row = self._log_alpha * tf.stop_gradient(-log_probs - self._target_entropy)
    return self._check_finite(self._batch_mean(per_row, weights), 'alpha loss')

  def _minimize(self, loss_fn, variables, optimizer):
    """Takes one gradient step on loss_fn() over variables, clipped to gradient_clipping; returns the loss."""
    return super()._minimize(loss_fn, variables, optimizer, self._gradient_clipping)

  def _initialize(self):
    """Gives the actor the critic's encoders where it shares them."""
    self._share_critic_encoders()

  def _train(self, experience, weights):
    """Takes one critic, one actor and one alpha step."""
    self._check_experience(experience)
    critic_loss = self._minimize(
        lambda: self.critic_loss(experience.observation, experience.action, training=True,
                                 weights=weights),
        self._critic_variables, self._critic_optimizer)
    actor_loss = self._minimize(
        lambda: self.actor_loss(experience.observation, training=True, weights=weights),
        self._actor_variables, self._actor_optimizer)
    alpha_loss = self._minimize(
        lambda: self.alpha_loss(experience.observation, training=True, weights=weights),
        [self._log_alpha], self._alpha_optimizer)
    if self.summaries_enabled and self._debug_summaries:
      tf.compat.v2.summary.scalar(name='alpha', data=self.alpha, step=self.train_step_counter)
    loss_info = self._finish_train_step(ContrastiveLossInfo(
        critic_loss=critic_loss, actor_loss=actor_loss, alpha_loss=alpha_loss))
    self._share_critic_encoders()
    return loss_info

  def _loss(self, experience, weights=None, training=False):
    """Returns the three losses on experience without changing any variable."""
    self._check_experience(experience)
    losses = ContrastiveLossInfo(
        critic_loss=self.critic_loss(experience.observation, experience.action,
                                     training=training, weights=weights),
        actor_loss=self.actor_loss(experience.observation, training=training, weights=weights),
        alpha_loss=self.alpha_loss(experience.observation, training=training, weights=weights))
    return tf_agent.LossInfo(loss=tf.add_n(list(losses)), extra=losses)
