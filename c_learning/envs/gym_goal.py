"""Any registered gymnasium environment with a dict goal observation, as a task: env_name 'gym:<id>'.

A goal environment (gymnasium-robotics' Fetch tasks, Stable-Baselines3's HER
examples) observes {'observation', 'achieved_goal', 'desired_goal'}. Here its
state is concat(observation, achieved_goal) and its goal desired_goal, so the
relabeler's goals of later states are their achieved goals, as in HER.

gymnasium-robotics' Fetch tasks (PIXEL_IDS, and their Dense variants) also
have pixel observations (observations='pixels'): agent and goal
frames from c_learning.envs.gym_pixels.
"""
import functools
import importlib.util

import gymnasium
import numpy as np

from c_learning import config
from c_learning.envs import gym_pixels
from c_learning.envs import gymnasium_adapter
from c_learning.envs import pixels
from c_learning.envs import tasks

PREFIX = 'gym:'
_KEYS = ('observation', 'achieved_goal', 'desired_goal')
# Where an environment has no distance_threshold of its own (HER's, and Fetch's).
DEFAULT_SUCCESS_THRESHOLD = 0.05
# The ids with pixel observations (observations='pixels'), each also as its Dense variant.
PIXEL_IDS = gym_pixels.FETCH_IDS


class FlatGoalEnv(gymnasium.Wrapper):
  """A dict goal env whose observation is one float vector: concat(observation, achieved_goal, desired_goal)."""

  def __init__(self, env, seed):
    super().__init__(env)
    spaces = env.observation_space
    width = sum(spaces[key].shape[0] for key in _KEYS)
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (width,), np.float32)
    self._seed = seed  # the first reset seeds the env; later ones continue its stream

  def _flatten(self, observation):
    return np.concatenate([np.asarray(observation[key], np.float32).ravel()
                           for key in _KEYS])

  def reset(self, *, seed=None, options=None):
    if seed is None and self._seed is not None:
      seed, self._seed = self._seed, None
    observation, info = self.env.reset(seed=seed, options=options)
    return self._flatten(observation), info

  def step(self, action):
    observation, reward, terminated, truncated, info = self.env.step(action)
    return self._flatten(observation), reward, terminated, truncated, info


class FetchPixelEnv(FlatGoalEnv):
  """A FlatGoalEnv of a Fetch task that renders agent and goal frames (pixels.PixelObservations)."""

  def __init__(self, env, seed):
    super().__init__(env, seed)
    self._frames = gym_pixels.FetchFrames(env.unwrapped)

  def agent_frame(self, height=48, width=48):
    """The scene now, as an agent sees it (gym_pixels.FetchFrames.agent_frame)."""
    return self._frames.agent_frame(height, width)

  def goal_frame(self, height=48, width=48):
    """The scene with the goal reached (gym_pixels.FetchFrames.goal_frame)."""
    return self._frames.goal_frame(height, width)

  def render(self):
    """A full-quality frame for videos (gym_pixels.FetchFrames.video_frame)."""
    # gymnasium's own viewer renders in whichever GL context is current, here
    # an agent renderer's, and corrupts its frames: one renderer family only.
    return self._frames.video_frame()

  def close(self):
    self._frames.close()
    super().close()


def _make(env_id, **kwargs):
  """gymnasium.make(env_id), registering gymnasium-robotics' tasks first where it is installed."""
  # gymnasium-robotics is an optional extra: without it, the error below says how to get it.
  if env_id not in gymnasium.registry and importlib.util.find_spec('gymnasium_robotics'):
    import gymnasium_robotics  # pylint: disable=g-import-not-at-top
    gymnasium.register_envs(gymnasium_robotics)
  if env_id not in gymnasium.registry:
    raise config.ConfigError(
        f'train_eval.env_name={PREFIX + env_id!r}: no gymnasium environment {env_id!r} is '
        "registered (Fetch and the other robotics tasks need pip install gymnasium-robotics, "
        "or the package's [robotics] extra).")
  return gymnasium.make(env_id, **kwargs)


def load(env_id, seed=0):
  """The goal env `env_id` as a time-limited PyEnvironment with a flat observation (module level: workers call it)."""
  env = _make(env_id, render_mode='rgb_array')
  return gymnasium_adapter.time_limited(FlatGoalEnv(env, seed), env.spec.max_episode_steps)


def load_fetch_pixels(env_id, seed=0):
  """The Fetch task `env_id` as load() builds it, rendering agent and goal frames (module level: workers call it)."""
  env = _make(env_id, render_mode='rgb_array')
  return gymnasium_adapter.time_limited(FetchPixelEnv(env, seed), env.spec.max_episode_steps)


@functools.lru_cache(maxsize=None)
def task_spec(env_name):
  """The TaskSpec of env_name 'gym:<id>', read off one instance of the environment."""
  env_id = env_name[len(PREFIX):]
  env = _make(env_id)
  spaces = env.observation_space
  if not (isinstance(spaces, gymnasium.spaces.Dict) and set(_KEYS) <= set(spaces.keys())):
    raise config.ConfigError(
        f'train_eval.env_name={env_name!r}: its observation must be a dict with '
        f"{', '.join(_KEYS)} (a gymnasium goal environment); got {spaces}.")
  if not env.spec.max_episode_steps:
    raise config.ConfigError(f'train_eval.env_name={env_name!r}: it registers no '
                             'max_episode_steps, so its episodes would never end.')
  observation_dim = spaces['observation'].shape[0]
  goal_dim = spaces['desired_goal'].shape[0]
  threshold = getattr(env.unwrapped, 'distance_threshold', DEFAULT_SUCCESS_THRESHOLD)
  pixel_load = None
  if gym_pixels.renders_goal_frames(env):
    pixel_load = functools.partial(pixels.load, functools.partial(load_fetch_pixels, env_id))
  env.close()
  return tasks.TaskSpec(
      env_name, functools.partial(load, env_id), state_dim=observation_dim + goal_dim,
      goal_dim=goal_dim, goal_offset=observation_dim,
      success_dims=(observation_dim, observation_dim + goal_dim),
      success_threshold=float(threshold), pixel_load=pixel_load)
