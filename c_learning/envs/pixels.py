"""Pixel observations of a task: camera frames, a goal frame and the true state in one dict.

A pixel task observes
  {'pixels': uint8 [H, W, C * frame_stack]  (the newest frame last),
   'goal_pixels': uint8 [H, W, C]  (the goal reached, one frame an episode),
   'state': float32  (the state task's observation concat(state, goal))},
C = 3 (RGB) or 1 (grayscale). The state is for metrics, success and
relabeling: an agent that learns from pixels should not read it. The task
(the gymnasium env under the PyEnvironment) renders the frames:
agent_frame(height, width) and goal_frame(height, width), as the Sawyer
tasks do.
"""
import dataclasses

import gin
import numpy as np
from tf_agents.environments import wrappers
from tf_agents.specs import array_spec

from c_learning import config
from c_learning import frames

# The observation's keys, as the replay and the encoders read them.
PIXELS, GOAL_PIXELS, STATE = frames.PIXELS, frames.GOAL_PIXELS, frames.STATE
MIN_SIZE, MAX_SIZE = 16, 256
# ITU-R BT.601 luma, as PIL and OpenCV convert RGB to gray.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclasses.dataclass(frozen=True)
class PixelSettings:
  """How a pixel task renders its frames; invalid values raise config.ConfigError."""
  height: int = 48
  width: int = 48
  frame_stack: int = 1
  grayscale: bool = False

  def __post_init__(self):
    for name in ('height', 'width'):
      value = getattr(self, name)
      if not (_is_int(value) and MIN_SIZE <= value <= MAX_SIZE):
        raise config.ConfigError(f'pixel_observations.{name}={value!r}: must be an int from '
                                 f'{MIN_SIZE} to {MAX_SIZE} (pixels).')
    if not (_is_int(self.frame_stack) and self.frame_stack >= 1):
      raise config.ConfigError(f'pixel_observations.frame_stack={self.frame_stack!r}: must '
                               'be an int >= 1 (frames stacked in an observation).')
    if not isinstance(self.grayscale, (bool, np.bool_)):
      raise config.ConfigError(f'pixel_observations.grayscale={self.grayscale!r}: must be '
                               'True or False.')

  @property
  def channels(self):
    """Channels of one frame: 1 (grayscale) or 3 (RGB)."""
    return 1 if self.grayscale else 3


def _is_int(value):
  return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@gin.configurable
def pixel_observations(height=48, width=48, frame_stack=1, grayscale=False):
  """The frame settings of pixel tasks (train_eval's observations='pixels').

  Args:
    height: frame height in pixels, 16 to 256.
    width: frame width in pixels, 16 to 256.
    frame_stack: frames in an observation's `pixels`, the newest last; at
      an episode's start the first frame fills the stack.
    grayscale: one luminance channel a frame instead of RGB.

  Returns:
    A PixelSettings.
  """
  return PixelSettings(height, width, frame_stack, grayscale)


class PixelObservations(wrappers.PyEnvironmentBaseWrapper):
  """A task's PyEnvironment that observes {'pixels', 'goal_pixels', 'state'} (see the module docstring).

  Wraps the task's time-limited PyEnvironment; the task itself is its
  `gym_env`, read through the wrappers. The goal frame is rendered once an
  episode, at its reset (where the goal is sampled). A step that a physics
  blow-up ends keeps the previous frames, as the state keeps its last finite
  observation.
  """

  def __init__(self, env, settings=None):
    super().__init__(env)
    self._settings = settings or PixelSettings()
    self._task = env.gym_env
    for method in ('agent_frame', 'goal_frame'):
      if not callable(getattr(self._task, method, None)):
        raise TypeError(f'{type(self._task).__name__} cannot render pixel observations: '
                        f'it has no {method}(height, width).')
    settings = self._settings
    frame = (settings.height, settings.width, settings.channels)
    state_spec = env.observation_spec()
    self._observation_spec = {
        PIXELS: array_spec.ArraySpec(frame[:2] + (frame[2] * settings.frame_stack,),
                                     np.uint8, name=PIXELS),
        GOAL_PIXELS: array_spec.ArraySpec(frame, np.uint8, name=GOAL_PIXELS),
        STATE: array_spec.ArraySpec(state_spec.shape, state_spec.dtype, name=STATE),
    }
    self._frames = []  # the stacked frames, oldest first
    self._goal_frame = None
    # A task that cannot render says so now, with one line (config.ConfigError), not mid-run.
    self._render(self._task.agent_frame)

  @property
  def settings(self):
    return self._settings

  def observation_spec(self):
    return self._observation_spec

  def _render(self, render):
    frame = render(self._settings.height, self._settings.width)
    if not self._settings.grayscale:
      return frame
    luma = np.asarray(frame, np.float32) @ _LUMA
    return np.round(luma).astype(np.uint8)[..., None]

  def _observation(self, state):
    return {PIXELS: np.concatenate(self._frames, axis=-1), GOAL_PIXELS: self._goal_frame,
            STATE: state}

  def _start_episode(self, time_step):
    self._goal_frame = self._render(self._task.goal_frame)
    self._frames = [self._render(self._task.agent_frame)] * self._settings.frame_stack
    return time_step._replace(observation=self._observation(time_step.observation))

  def _reset(self):
    return self._start_episode(self._env.reset())

  def _step(self, action):
    blowups = self._physics_blowups()
    time_step = self._env.step(action)
    if time_step.is_first():  # the wrapped env reset itself after the last step
      return self._start_episode(time_step)
    if self._physics_blowups() == blowups:
      self._frames = self._frames[1:] + [self._render(self._task.agent_frame)]
    return time_step._replace(observation=self._observation(time_step.observation))

  def _physics_blowups(self):
    return getattr(self._env, 'physics_blowups', 0)


def load(load_task, seed, settings):
  """`load_task(seed=seed)` (a time-limited task PyEnvironment) with pixel observations."""
  return PixelObservations(load_task(seed=seed), settings)
