"""A TF-Agents PyEnvironment over a gymnasium env (tf-agents 0.19 has no gymnasium wrapper)."""
from absl import logging
import gymnasium
import numpy as np
from tf_agents.environments import py_environment
from tf_agents.environments import wrappers
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from c_learning import config

# The info key a wrapped env sets when its simulator went unstable this step.
PHYSICS_BLOWUP_KEY = 'physics_blowup'
# Resets in a row that may return a non-finite observation before the env is given up on.
RESET_TRIES = 3


def _box_spec(space, name, bounded):
  """The float32 ArraySpec (BoundedArraySpec if `bounded`) of a gymnasium Box."""
  if not isinstance(space, gymnasium.spaces.Box):
    raise ValueError(f'{name} space must be a gymnasium Box, got {space!r}.')
  if not bounded:
    return array_spec.ArraySpec(space.shape, np.float32, name=name)
  return array_spec.BoundedArraySpec(
      space.shape, np.float32, minimum=space.low.astype(np.float32),
      maximum=space.high.astype(np.float32), name=name)


def _action_spec(space):
  """The action spec of a Box (float32, bounded) or a Discrete space (an int32 scalar in [0, n))."""
  if isinstance(space, gymnasium.spaces.Discrete):
    if int(space.start) != 0:
      raise ValueError(f'a Discrete action space must start at 0, got {space!r}.')
    return array_spec.BoundedArraySpec((), np.int32, minimum=0, maximum=int(space.n) - 1,
                                       name='action')
  return _box_spec(space, 'action', bounded=True)


class GymnasiumPyEnvironment(py_environment.PyEnvironment):
  """Steps a gymnasium env with Box observations and Box or Discrete actions as a PyEnvironment.

  The episode ends (LAST) on `terminated` with discount 0 and on `truncated`
  with discount 1. A physics blow-up (a non-finite observation or reward, or
  the wrapped env flagging `info['physics_blowup']`) also ends the episode as a
  truncation: it is logged, counted in `physics_blowups`, and the last finite
  observation is returned with reward 0 so no NaN reaches a replay buffer. A
  reset that returns a non-finite observation is counted and tried again, up to
  RESET_TRIES times.
  """

  def __init__(self, gym_env):
    # The base class resets on the step after a LAST step.
    super().__init__(handle_auto_reset=True)
    self._gym_env = gym_env
    # The observation is unbounded (positions of free objects); bounds on it
    # would also break tf_agents' ObservationFilterWrapper, which reshapes it.
    self._observation_spec = _box_spec(
        gym_env.observation_space, 'observation', bounded=False)
    self._action_spec = _action_spec(gym_env.action_space)
    self._discrete = isinstance(gym_env.action_space, gymnasium.spaces.Discrete)
    self._last_observation = None
    self.physics_blowups = 0

  @property
  def gym_env(self):
    return self._gym_env

  def observation_spec(self):
    return self._observation_spec

  def action_spec(self):
    return self._action_spec

  def _reset(self):
    for _ in range(RESET_TRIES):
      observation, _ = self._gym_env.reset()
      observation = np.asarray(observation, np.float32)
      if np.all(np.isfinite(observation)):
        self._last_observation = observation
        return ts.restart(observation)
      self._count_blowup('reset')
    raise FloatingPointError(
        f'{type(self._gym_env).__name__}.reset() returned a non-finite observation '
        f'{RESET_TRIES} times in a row, the last: {observation}.')

  def _count_blowup(self, where):
    self.physics_blowups += 1
    logging.warning('Physics blow-up (a non-finite value or an unstable simulator) at %s of '
                    '%s (%d so far): ending the episode.', where, type(self._gym_env).__name__,
                    self.physics_blowups)

  def _step(self, action):
    # A discrete action is an index into the env's table of actions.
    action = int(action) if self._discrete else np.asarray(action, np.float32)
    observation, reward, terminated, truncated, info = self._gym_env.step(
        action)
    observation = np.asarray(observation, np.float32)
    reward = np.float32(reward)
    blowup = bool(info.get(PHYSICS_BLOWUP_KEY, False))
    if blowup or not (np.all(np.isfinite(observation)) and np.isfinite(reward)):
      self._count_blowup('a step')
      return ts.truncation(self._last_observation, np.float32(0.0))
    self._last_observation = observation
    if terminated:
      return ts.termination(observation, reward)
    if truncated:
      return ts.truncation(observation, reward)
    return ts.transition(observation, reward)

  def render(self, mode='rgb_array'):
    if mode != 'rgb_array':
      raise ValueError(f"render mode must be 'rgb_array', got {mode!r}.")
    return self._gym_env.render()

  def close(self):
    self._gym_env.close()


def time_limited(gym_env, max_episode_steps):
  """`gym_env` as a PyEnvironment whose episodes end (LAST, discount 1) after max_episode_steps."""
  if not (isinstance(max_episode_steps, int) and max_episode_steps > 0):
    raise config.ConfigError(
        f'max_episode_steps must be a positive int, got {max_episode_steps!r}.')
  return wrappers.TimeLimit(GymnasiumPyEnvironment(gym_env), max_episode_steps)
