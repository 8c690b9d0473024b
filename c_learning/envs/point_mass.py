"""A 2-D point-mass goal task: a small, known-solvable task for fast learning checks.

The point lives in the box [0, 1]^2; an action in [-1, 1]^2 moves it by at most
STEP_SIZE = 0.05 per axis per step (clipped at the walls), so a straight line
crosses the box in 20 steps, under half of the default 50-step episode. Start
and goal are uniform in the box. Observation = concat(xy, goal xy), float32,
obs_dim = 2. Reward is 0 and the task never terminates.

Success is a final distance to the goal below SUCCESS_THRESHOLD = 0.1; with
continuous actions a controller lands on any goal exactly, so 0.05 (a single
step) is achievable too.
"""
import gin
import gymnasium
import numpy as np

from c_learning import config
from c_learning.envs import gymnasium_adapter

OBS_DIM = 2
BOX_LOW, BOX_HIGH = 0.0, 1.0
STEP_SIZE = 0.05
SUCCESS_THRESHOLD = 0.1


class PointMass(gymnasium.Env):
  """A point in [0, 1]^2 moved by clipped, scaled 2-D actions toward a uniform goal."""

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, seed=0, render_size=128):
    self.render_mode = 'rgb_array'
    self._render_size = render_size
    self._rng = np.random.default_rng(seed)
    self.observation_space = gymnasium.spaces.Box(
        BOX_LOW, BOX_HIGH, (2 * OBS_DIM,), np.float32)
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (OBS_DIM,), np.float32)
    self.position = np.zeros(OBS_DIM)
    self.goal = np.zeros(OBS_DIM)
    self.reset()

  def _observation(self):
    return np.concatenate([self.position, self.goal]).astype(np.float32)

  def reset(self, *, seed=None, options=None):
    del options
    if seed is not None:
      self._rng = np.random.default_rng(seed)
    self.position = self._rng.uniform(BOX_LOW, BOX_HIGH, OBS_DIM)
    self.goal = self._rng.uniform(BOX_LOW, BOX_HIGH, OBS_DIM)
    return self._observation(), {}

  def step(self, action):
    action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
    self.position = np.clip(self.position + STEP_SIZE * action, BOX_LOW,
                            BOX_HIGH)
    return self._observation(), 0.0, False, False, {}

  def render(self):
    """A top-down HxWx3 uint8 frame: the point in blue, the goal in green."""
    size = self._render_size
    frame = np.full((size, size, 3), 255, np.uint8)
    rows, cols = np.mgrid[0:size, 0:size]
    for xy, color in ((self.goal, (0, 170, 0)), (self.position, (0, 0, 220))):
      if not np.all(np.isfinite(xy)):
        continue
      # y points up in the box and down in the image.
      col = (xy[0] - BOX_LOW) / (BOX_HIGH - BOX_LOW) * (size - 1)
      row = (BOX_HIGH - xy[1]) / (BOX_HIGH - BOX_LOW) * (size - 1)
      disk = (rows - row)**2 + (cols - col)**2 <= (size / 20)**2
      frame[disk] = color
    return frame


@gin.configurable(denylist=config.denylist('load_point_mass'))
def load_point_mass(seed=0, max_episode_steps=50):
  """The point-mass task as a time-limited PyEnvironment."""
  return gymnasium_adapter.time_limited(PointMass(seed=seed), max_episode_steps)
