"""The agents' networks: the goal classifier critic, the contrastive critic and the tanh-Gaussian actor."""
import dataclasses
import functools

import gin
import tensorflow as tf
from tf_agents.agents.sac import sac_agent
from tf_agents.agents.ddpg import actor_network as ddpg_actor_network
from tf_agents.agents.sac import tanh_normal_projection_network
from tf_agents.networks import actor_distribution_network
from tf_agents.networks import categorical_projection_network
from tf_agents.networks import network

from c_learning import config
from c_learning import encoders
from c_learning import frames
from c_learning import precision


@gin.configurable(denylist=config.denylist('ClassifierCriticNetwork'))
class ClassifierCriticNetwork(network.Network):
  """MLP over concat(observation, action) that returns the logit of C(s, a, g).

  The observation already holds concat(state, goal), so the network sees
  (s, g, a). It returns logits, one per row (shape [B]); the caller applies the
  sigmoid, which lets losses use the numerically stable cross-entropy on logits.
  """

  def __init__(self,
               input_tensor_spec,
               fc_layer_params=(256, 256),
               activation_fn=tf.keras.activations.relu,
               kernel_initializer='glorot_uniform',
               last_kernel_initializer='glorot_uniform',
               name='ClassifierCriticNetwork'):
    """Creates the critic.

    Args:
      input_tensor_spec: (observation_spec, action_spec), each a rank-1
        TensorSpec.
      fc_layer_params: sizes of the hidden layers; () gives a linear classifier.
      activation_fn: activation of the hidden layers.
      kernel_initializer: initializer of the hidden layers' kernels.
      last_kernel_initializer: initializer of the output layer's kernel.
      name: name of the network.
    """
    observation_spec, action_spec = input_tensor_spec
    for what, spec in (('observation', observation_spec),
                       ('action', action_spec)):
      if not isinstance(spec, tf.TensorSpec) or spec.shape.rank != 1:
        raise ValueError(
            f'ClassifierCriticNetwork needs a single rank-1 {what} spec; '
            f'got {spec}.')
    super().__init__(
        input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
    self._hidden_layers = [
        tf.keras.layers.Dense(
            units,
            activation=activation_fn,
            kernel_initializer=kernel_initializer,
            name=f'hidden_{i}')
        for i, units in enumerate(fc_layer_params)
    ]
    self._logit_layer = tf.keras.layers.Dense(
        1, kernel_initializer=last_kernel_initializer, name='logit',
        dtype=precision.FLOAT32)

  def call(self, inputs, step_type=(), network_state=(), training=False):
    """Returns (logits [B], network_state)."""
    del step_type  # The classifier is feed-forward.
    observations, actions = inputs
    x = tf.concat([tf.cast(observations, tf.float32),
                   tf.cast(actions, tf.float32)], axis=-1)
    for layer in self._hidden_layers:
      x = layer(x, training=training)
    logits = self._logit_layer(x, training=training)
    return tf.squeeze(logits, axis=-1), network_state


# The energies f(s, a, g) of a contrastive critic: the inner product of the two
# representations (contrastive RL's) or their negative L2 distance (later work's).
ENERGIES = ('dot', 'l2')


def energies(sa_repr, goal_repr, energy, pairwise):
  """f(s, a, g) of representations phi(s, a) [B, d] and psi(g) [B, d].

  Args:
    sa_repr, goal_repr: the two representations, one row each.
    energy: 'dot' (phi . psi) or 'l2' (-||phi - psi||).
    pairwise: True for every (row i, goal j) pair, a [B, B] matrix whose
      diagonal pairs each row with its own goal; False for the diagonal only, [B].
  """
  if energy == 'dot':
    if pairwise:
      return tf.matmul(sa_repr, goal_repr, transpose_b=True)
    return tf.reduce_sum(sa_repr * goal_repr, axis=-1)
  if pairwise:
    difference = sa_repr[:, None, :] - goal_repr[None, :, :]
  else:
    difference = sa_repr - goal_repr
  # The small constant keeps the gradient of the norm finite where phi = psi.
  return -tf.sqrt(tf.reduce_sum(tf.square(difference), axis=-1) + 1e-12)


class ContrastiveCriticNetwork(network.Network):
  """phi(s, a) and psi(g): two MLPs, each to a representation of repr_dim, whose energy is the critic.

  A state observation concat(state, goal) is split at state_dim; a pixel
  observation (c_learning.frames) gives phi the current frames and psi the
  goal frame, each through a conv encoder of its own (gin pixel_encoder.*).
  """

  def __init__(self, input_tensor_spec, state_dim, repr_dim=64, fc_layer_params=(256, 256),
               name='ContrastiveCriticNetwork'):
    """Creates the two encoders.

    Args:
      input_tensor_spec: (observation_spec, action_spec); the action spec rank 1.
      state_dim: width of the state in a state observation concat(state, goal).
      repr_dim: width of both representations.
      fc_layer_params: hidden layer sizes of each of the two MLPs.
      name: name of the network.
    """
    observation_spec, action_spec = input_tensor_spec
    if action_spec.shape.rank != 1:
      raise ValueError(f'ContrastiveCriticNetwork needs a rank-1 action spec; got {action_spec}.')
    super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
    self._state_dim = state_dim
    settings = encoders.settings_for(observation_spec)
    self.state_encoder = self.goal_encoder = None
    if settings is not None:
      settings = dataclasses.asdict(settings)
      self.state_encoder = encoders.FrameEncoder(settings, part='current', name='state_encoder')
      self.goal_encoder = encoders.FrameEncoder(settings, part='goal', name='goal_encoder')

    def mlp(prefix):
      hidden = [tf.keras.layers.Dense(units, activation='relu', name=f'{prefix}_hidden_{i}')
                for i, units in enumerate(fc_layer_params)]
      # float32 out, whatever the hidden layers compute in (c_learning.precision).
      return hidden + [tf.keras.layers.Dense(repr_dim, name=f'{prefix}_repr',
                                             dtype=precision.FLOAT32)]

    self._sa_layers = mlp('sa')
    self._goal_layers = mlp('goal')

  def call(self, inputs, step_type=(), network_state=(), training=False):
    """Returns ((phi(s, a) [B, repr_dim], psi(g) [B, repr_dim]), network_state)."""
    del step_type  # Feed-forward.
    observations, actions = inputs
    if self.state_encoder is None:
      state = frames.state_of(observations)
      states, goals = state[:, :self._state_dim], state[:, self._state_dim:]
    else:
      states = self.state_encoder(observations, training=training)
      goals = self.goal_encoder(observations, training=training)
    x = tf.concat([tf.cast(states, tf.float32), tf.cast(actions, tf.float32)], axis=-1)
    for layer in self._sa_layers:
      x = layer(x, training=training)
    y = tf.cast(goals, tf.float32)
    for layer in self._goal_layers:
      y = layer(y, training=training)
    return (x, y), network_state


class TanhNormalProjection(tanh_normal_projection_network.TanhNormalProjectionNetwork):
  """TF-Agents' tanh-Gaussian head, in float32 whatever the layers before it compute in."""

  # Its other arguments are left to TF-Agents' gin configurable, as a direct call would.
  def __init__(self, sample_spec, std_transform=tf.exp):
    with precision.computing_in('float32'):
      super().__init__(sample_spec, std_transform=std_transform)

  def call(self, inputs, outer_rank, training=False, mask=None):
    return super().call(tf.cast(inputs, tf.float32), outer_rank, training=training, mask=mask)


class CategoricalProjection(categorical_projection_network.CategoricalProjectionNetwork):
  """TF-Agents' categorical head (discrete actions), in float32 whatever the layers before it compute in."""

  # Its other arguments are left to TF-Agents' gin configurable, as a direct call would.
  def __init__(self, sample_spec):
    with precision.computing_in('float32'):
      super().__init__(sample_spec)


class DeterministicActorNetwork(ddpg_actor_network.ActorNetwork):
  """TF-Agents' DDPG actor (an MLP, tanh, scaled to the bounds), its action layer float32 whatever the rest computes in."""

  # Its other arguments are left to TF-Agents' gin configurable, as a direct call would.
  # name: a copy's (Network.copy passes one); None leaves it to gin and TF-Agents' default.
  def __init__(self, input_tensor_spec, output_tensor_spec, fc_layer_params=None, name=None):
    named = {} if name is None else {'name': name}
    super().__init__(input_tensor_spec, output_tensor_spec, fc_layer_params=fc_layer_params,
                     **named)
    action_layer = self._mlp_layers[-1]
    if action_layer.dtype_policy.name != precision.FLOAT32:
      self._mlp_layers[-1] = tf.keras.layers.Dense.from_config(
          dict(action_layer.get_config(), dtype=precision.FLOAT32))


def build_actor_network(observation_spec, action_spec,
                        fc_layer_params=(256, 256)):
  """Returns the actor: an ActorDistributionNetwork, tanh-Gaussian as in SAC (categorical for discrete actions)."""
  # The log-std clip to [-20, 2] keeps the Gaussian from collapsing or exploding
  # early in training; it is TF-Agents' SAC default.
  projection = functools.partial(TanhNormalProjection,
                                 std_transform=sac_agent.std_clip_transform)
  return actor_distribution_network.ActorDistributionNetwork(
      observation_spec,
      action_spec,
      fc_layer_params=fc_layer_params,
      continuous_projection_net=projection,
      discrete_projection_net=CategoricalProjection,
      # The hidden layers compute in the run's dtype (ActorDistributionNetwork
      # would otherwise fix them to float32).
      dtype=precision.layer_dtype())


def build_critic_network(observation_spec, action_spec,
                         fc_layer_params=(256, 256)):
  """Returns the classifier critic over (observation, action)."""
  return ClassifierCriticNetwork((observation_spec, action_spec),
                                 fc_layer_params=fc_layer_params)
