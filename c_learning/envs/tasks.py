"""One record per task: how to build it, how its observation is laid out, what success is."""
import dataclasses
import functools
from typing import Callable, Optional, Tuple

import numpy as np
from tf_agents.environments import py_environment

from c_learning import metrics
from c_learning import relabel
from c_learning.envs import cartpole
from c_learning.envs import controllers
from c_learning.envs import pixels
from c_learning.envs import point_mass
from c_learning.envs import sawyer


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """A goal-conditioned task.

  Its environment's observation is concat(state, goal): the state is state_dim
  wide, the goal goal_dim wide, and the goal lives in the state dimensions
  [goal_offset, goal_offset + goal_dim) (where a state reaches the goal). The
  package's own tasks have goals shaped like the whole state (goal_offset 0);
  a gymnasium dict-goal task's state is concat(observation, achieved_goal);
  a dm-control task's goal is the first goal_dim state dimensions (its
  tracked positions; the velocities after them have no goal).
  obs_to_goal picks dimensions of the goal, so goal_slice() says which state
  dimensions a run's goals constrain.
  """
  name: str
  # seed -> a time-limited PyEnvironment (a module-level function: parallel
  # envs build it in their own processes).
  load: Callable[[int], py_environment.PyEnvironment]
  state_dim: int
  goal_dim: int
  goal_offset: int = 0
  # The state dimensions [start, end) whose distance to the goal's decides success.
  success_dims: Tuple[int, int] = (0, 0)
  success_threshold: float = 0.05
  # How that distance is measured: 'l2' (Euclidean) or 'max' (the largest
  # absolute difference of any dimension, L-infinity: every dimension within
  # the threshold, as DISCERN's and GLAMOR's success on dm-control).
  success_norm: str = 'l2'
  # A scripted policy of the full observation (concat(state, goal)) that solves the task.
  controller: Optional[Callable] = None
  # (seed, pixels.PixelSettings) -> the task with pixel observations (a
  # pixels.PixelObservations PyEnvironment); None: the task has no pixel version.
  pixel_load: Optional[Callable[..., py_environment.PyEnvironment]] = None

  def __post_init__(self):
    if self.success_norm not in metrics.SUCCESS_NORMS:
      raise ValueError(f'TaskSpec {self.name}: success_norm={self.success_norm!r} is not one '
                       f'of {", ".join(repr(n) for n in metrics.SUCCESS_NORMS)}.')

  @property
  def has_pixels(self):
    """Whether the task can observe pixels (envs.load's observations='pixels')."""
    return self.pixel_load is not None

  def goal_slice(self, goal_dims=None):
    """The state dimensions that the goal dimensions `goal_dims` (a relabel.GoalSlice; None: all) constrain."""
    goal_dims = goal_dims or relabel.GoalSlice()
    start, end = goal_dims.resolve(self.goal_dim)
    if self.goal_offset == 0 and self.goal_dim == self.state_dim:
      return goal_dims  # goal and state dimensions coincide; keep the user's slice as given
    # Explicit ints: an open end (None) would reach past the goal into the
    # rest of the state where the metrics and relabeler resolve it.
    return relabel.GoalSlice(self.goal_offset + start, self.goal_offset + end)

  def distance(self, observation):
    """How far a full observation's state is from its goal in the success dimensions."""
    observation = np.asarray(observation, np.float64)
    start, end = self.success_dims
    goal_start, goal_end = start - self.goal_offset, end - self.goal_offset
    goal = observation[self.state_dim:]
    difference = observation[start:end] - goal[goal_start:goal_end]
    if self.success_norm == 'max':
      return float(np.max(np.abs(difference)))
    return float(np.linalg.norm(difference))


def _sawyer(name, loader, controller, success_dims):
  # Every Sawyer task renders agent and goal frames (SawyerTask.agent_frame, goal_frame).
  return TaskSpec(name, loader, state_dim=sawyer.OBS_DIM, goal_dim=sawyer.OBS_DIM,
                  success_dims=success_dims, success_threshold=0.05, controller=controller,
                  pixel_load=functools.partial(pixels.load, loader))


# The package's own tasks. Success: the hand for reach, the object for the
# other Sawyer tasks, the point for point_mass, the cart position and pole
# angle (x, theta) for goal_cartpole.
TASKS = {spec.name: spec for spec in [
    _sawyer('sawyer_reach', sawyer.load_sawyer_reach, controllers.reach, (0, 3)),
    _sawyer('sawyer_push', sawyer.load_sawyer_push, controllers.push, (3, 6)),
    _sawyer('sawyer_drawer', sawyer.load_sawyer_drawer, controllers.drawer, (3, 6)),
    _sawyer('sawyer_window', sawyer.load_sawyer_window, controllers.window, (3, 6)),
    _sawyer('sawyer_faucet', sawyer.load_sawyer_faucet, controllers.faucet, (3, 6)),
    _sawyer('sawyer_bin', sawyer.load_sawyer_bin, controllers.bin_picking, (3, 6)),
    TaskSpec('point_mass', point_mass.load_point_mass, state_dim=point_mass.OBS_DIM,
             goal_dim=point_mass.OBS_DIM, success_dims=(0, point_mass.OBS_DIM),
             success_threshold=point_mass.SUCCESS_THRESHOLD,
             controller=controllers.point_mass_controller),
    TaskSpec('goal_cartpole', cartpole.load_goal_cartpole, state_dim=cartpole.STATE_DIM,
             goal_dim=cartpole.STATE_DIM, success_dims=(0, 2),
             success_threshold=cartpole.SUCCESS_THRESHOLD,
             controller=controllers.goal_cartpole_controller),
]}
