"""Conv encoders of pixel observations: frames and a goal frame in, one feature vector out.

An agent on a pixel task (c_learning.frames) puts an encoder in front of each
of its networks (EncodedNetwork), so the networks themselves stay the MLPs of
the state tasks. Two torsos, chosen by gin (`pixel_encoder.torso`):

- 'conv': three strided convs, the encoder of RIG's successor Skew-Fit at 48x48
  (16/32/64 channels, kernels 5/3/3, strides 3/2/2; 48 -> 15 -> 7 -> 3);
- 'impala': IMPALA's residual stages (Espeholt et al. 2018; 16/32/32 channels,
  each a 3x3 conv, a 3x3 max-pool of stride 2 and two residual blocks), which
  GLAMOR uses.

The current frames and the goal frame are stacked on the channel axis (an
encoder may also see one of the two, or each through a torso of its own: PARTS)
and scaled to [0, 1]; the torso's output is projected to `feature_dim` features
with a layer norm and a tanh, as SAC-AE and DrQ do, which keeps the critic's
inputs bounded while the encoder learns.
"""
import dataclasses
from typing import Tuple

import gin
import tensorflow as tf
from tf_agents.networks import network

from c_learning import config
from c_learning import frames

TORSOS = ('conv', 'impala')
# What a FrameEncoder sees: 'joint' the current frames and the goal frame stacked
# on the channel axis; 'current' the current frames only; 'goal' the goal frame
# only; 'split' each of the two through its own torso, their features side by side
# (an agent whose critic encodes states and goals apart: contrastive RL's).
PARTS = ('joint', 'current', 'goal', 'split')


@dataclasses.dataclass(frozen=True)
class EncoderSettings:
  """How an agent encodes pixel observations (pixel_encoder's bindings)."""
  torso: str = 'conv'
  feature_dim: int = 50
  conv_channels: Tuple[int, ...] = (16, 32, 64)
  conv_kernels: Tuple[int, ...] = (5, 3, 3)
  conv_strides: Tuple[int, ...] = (3, 2, 2)
  impala_channels: Tuple[int, ...] = (16, 32, 32)
  include_state: bool = False
  share_actor_critic: bool = True


@gin.configurable
def pixel_encoder(torso='conv', feature_dim=50, conv_channels=(16, 32, 64),
                  conv_kernels=(5, 3, 3), conv_strides=(3, 2, 2),
                  impala_channels=(16, 32, 32), include_state=False,
                  share_actor_critic=True):
  """The encoder settings of pixel runs.

  Args:
    torso: 'conv' or 'impala' (module docstring).
    feature_dim: width of the features the networks see.
    conv_channels, conv_kernels, conv_strides: the 'conv' torso's layers.
    impala_channels: the 'impala' torso's stages.
    include_state: whether the networks also see the task's true state and
      state goal (the observation's 'state') beside the features; off by
      default, so a pixel agent sees pixels only.
    share_actor_critic: whether the actor uses the first critic's encoder
      (its weights, copied each train step, without training it: DrQ's
      scheme) instead of training one of its own on the actor loss.
  """
  if torso not in TORSOS:
    raise config.ConfigError(f'pixel_encoder.torso={torso!r} is unknown; valid torsos: '
                             f'{", ".join(TORSOS)}.')
  if not (isinstance(feature_dim, int) and feature_dim >= 1):
    raise config.ConfigError(f'pixel_encoder.feature_dim={feature_dim!r}: must be an int >= 1.')
  if not len(conv_channels) == len(conv_kernels) == len(conv_strides) >= 1:
    raise config.ConfigError(
        f'pixel_encoder.conv_channels={tuple(conv_channels)}, conv_kernels='
        f'{tuple(conv_kernels)} and conv_strides={tuple(conv_strides)} must have one '
        'entry per layer, the same number each.')
  return EncoderSettings(torso, feature_dim, tuple(conv_channels), tuple(conv_kernels),
                         tuple(conv_strides), tuple(impala_channels), include_state,
                         share_actor_critic)


def torso_output_size(settings, height, width):
  """(height, width) of the torso's output for frames of height x width."""
  if settings.torso == 'conv':
    for kernel, stride in zip(settings.conv_kernels, settings.conv_strides):
      # 'valid' convolution.
      height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
    return height, width
  for _ in settings.impala_channels:
    height, width = (height + 1) // 2, (width + 1) // 2  # 'same' pooling of stride 2
  return height, width


def check_frame_size(settings, height, width):
  """Raises ConfigError where the torso cannot take frames of height x width."""
  out_height, out_width = torso_output_size(settings, height, width)
  if out_height < 1 or out_width < 1:
    raise config.ConfigError(
        f"pixel_encoder.torso='{settings.torso}' cannot take {height}x{width} frames: its "
        f'convs (kernels {settings.conv_kernels}, strides {settings.conv_strides}) leave '
        "nothing; use larger frames, smaller kernels or strides, or torso='impala'.")


class _ResidualBlock(tf.keras.layers.Layer):
  """relu, conv, relu, conv, plus the input."""

  def __init__(self, channels, **kwargs):
    super().__init__(**kwargs)
    self._convs = [tf.keras.layers.Conv2D(channels, 3, padding='same') for _ in range(2)]

  def call(self, inputs):
    x = inputs
    for conv in self._convs:
      x = conv(tf.nn.relu(x))
    return inputs + x


class FrameEncoder(tf.keras.layers.Layer):
  """A pixel observation (dict) -> features [B, feature_dim] (plus the state with include_state)."""

  def __init__(self, settings_dict, part='joint', **kwargs):
    super().__init__(**kwargs)
    if part not in PARTS:
      raise ValueError(f'FrameEncoder part={part!r}: must be one of {PARTS}.')
    # A plain dict, so that get_config and from_config copy it (Network.copy,
    # TF-Agents' layer copies).
    self._settings_dict = dict(settings_dict)
    settings = EncoderSettings(**settings_dict)
    self._settings = settings
    self.part = part
    if part == 'split':
      self.current = FrameEncoder(settings_dict, part='current', name='current')
      self.goal = FrameEncoder(settings_dict, part='goal', name='goal')
      return
    if settings.torso == 'conv':
      self._torso = [tf.keras.layers.Conv2D(channels, kernel, stride, activation='relu')
                     for channels, kernel, stride in zip(
                         settings.conv_channels, settings.conv_kernels, settings.conv_strides)]
    else:
      self._torso = []
      for channels in settings.impala_channels:
        self._torso += [tf.keras.layers.Conv2D(channels, 3, padding='same'),
                        tf.keras.layers.MaxPool2D(3, 2, padding='same'),
                        _ResidualBlock(channels), _ResidualBlock(channels)]
      self._torso.append(tf.keras.layers.ReLU())
    self._projection = tf.keras.layers.Dense(settings.feature_dim)
    self._norm = tf.keras.layers.LayerNormalization()

  def get_config(self):
    return dict(super().get_config(), settings_dict=self._settings_dict, part=self.part)

  def call(self, observation):
    if self.part == 'split':
      return tf.concat([self.current(observation), self.goal(observation)], axis=-1)
    if self.part == 'joint':
      pixels = tf.concat([observation[frames.PIXELS], observation[frames.GOAL_PIXELS]], axis=-1)
    else:
      pixels = observation[frames.PIXELS if self.part == 'current' else frames.GOAL_PIXELS]
    x = tf.cast(pixels, tf.float32) / 255.0
    for layer in self._torso:
      x = layer(x)
    x = tf.reshape(x, [-1, x.shape[1] * x.shape[2] * x.shape[3]])
    # float32 out, whatever the convs compute in (c_learning.precision).
    features = tf.cast(tf.tanh(self._norm(self._projection(x))), tf.float32)
    if self._settings.include_state:
      features = tf.concat([features, tf.cast(observation[frames.STATE], tf.float32)], axis=-1)
    return features


def feature_spec(settings, observation_spec, part='joint'):
  """The TensorSpec of the features an encoder of `part` (PARTS) makes of `observation_spec`."""
  parts = 2 if part == 'split' else 1
  width = parts * settings.feature_dim
  if settings.include_state:
    width += parts * observation_spec[frames.STATE].shape[0]
  return tf.TensorSpec((width,), tf.float32, name='features')


class _EncodedInput:
  """What the two wrappers share: encode the observation (the first input of a pair), then run the inner network."""

  def _wrap(self, inner, settings_dict, observation_spec, name, network_class, part='joint',
            **network_kwargs):
    input_spec = inner.input_tensor_spec
    if isinstance(input_spec, tuple):
      input_spec = (observation_spec,) + tuple(input_spec[1:])
    else:
      input_spec = observation_spec
    network_class.__init__(self, input_tensor_spec=input_spec, state_spec=inner.state_spec,
                           name=name, **network_kwargs)
    self._inner = inner
    self._observation_spec = observation_spec
    self.encoder = FrameEncoder(settings_dict, part=part, name='encoder')

  @property
  def inner(self):
    """The network that sees the features."""
    return self._inner

  def copy(self, **kwargs):
    """A new wrapper with a new encoder over a copy of the inner network (weights are not copied, as Network.copy)."""
    config_ = self.encoder.get_config()
    return encoded(self._inner.copy(), config_['settings_dict'], self._observation_spec,
                   name=kwargs.pop('name', self.name), part=config_['part'])

  def encode(self, observation, training=False):
    return self.encoder(observation, training=training)

  def distribution_at(self, observations, horizons, training=False):
    """A horizon actor's distribution (agents.gcsl_agent.HorizonActorNetwork), of encoded observations."""
    return self._inner.distribution_at(self.encode(observations, training), horizons, training)

  def call(self, inputs, step_type=(), network_state=(), training=False):
    if isinstance(inputs, tuple):
      inputs = (self.encode(inputs[0], training),) + tuple(inputs[1:])
    else:
      inputs = self.encode(inputs, training)
    return self._inner(inputs, step_type=step_type, network_state=network_state,
                       training=training)


class EncodedNetwork(_EncodedInput, network.Network):
  """A network (a critic over (observation, action), a deterministic actor) over encoded pixel observations."""

  def __init__(self, inner, settings_dict, observation_spec, name=None, part='joint'):
    self._wrap(inner, settings_dict, observation_spec, name or inner.name, network.Network,
               part=part)


class EncodedDistributionNetwork(_EncodedInput, network.DistributionNetwork):
  """An actor that outputs a distribution, over encoded pixel observations."""

  def __init__(self, inner, settings_dict, observation_spec, name=None, part='joint'):
    self._wrap(inner, settings_dict, observation_spec, name or inner.name,
               network.DistributionNetwork, part=part, output_spec=inner.output_spec)


def encoded(inner, settings_dict, observation_spec, name=None, part='joint'):
  """`inner` (built on feature_spec) behind a FrameEncoder of `observation_spec` that sees `part`."""
  if isinstance(inner, network.DistributionNetwork):
    return EncodedDistributionNetwork(inner, settings_dict, observation_spec, name=name, part=part)
  return EncodedNetwork(inner, settings_dict, observation_spec, name=name, part=part)


def settings_for(observation_spec):
  """The pixel_encoder settings (gin) for a pixel observation spec, its frame size checked; None for a state spec."""
  if not frames.is_pixel_spec(observation_spec):
    return None
  settings = pixel_encoder()
  height, width, _, _ = frames.frame_shape(observation_spec)
  check_frame_size(settings, height, width)
  return settings
