"""Hand-written controllers that read a task's observation and drive it to the goal.

They show that each task is solvable from the state it observes (the tests
and tools/controller_demo.py run them). Each maps the full observation
concat(state, goal) (goal not sliced by obs_to_goal) to a float32 action, and
is stateless: its phase (approach, descend, push) follows from where the hand
is, so it recovers by itself when a grasp or push slips. Controllers may use
a task's fixed geometry (e.g. where the faucet's pivot is) besides the state.
"""
import functools

import numpy as np

from c_learning.envs import cartpole
from c_learning.envs import point_mass
from c_learning.envs import sawyer

_OPEN, _CLOSE = -1.0, 1.0
# How high above a grasp or contact point the hand travels between them.
_HOVER = 0.12


def _split(observation):
  observation = np.asarray(observation, np.float64)
  obs_dim = observation.shape[-1] // 2
  return observation[:obs_dim], observation[obs_dim:]


def _move(hand, target, grip, gain=10.0, max_speed=1.0):
  """A Sawyer action taking the hand toward `target` (one action unit moves 1 cm)."""
  delta = np.clip(gain * (np.asarray(target) - hand), -max_speed, max_speed)
  return np.append(delta, grip).astype(np.float32)


def _go_above(hand, point, hover, grip, tolerance):
  """Rises, then travels at `hover` height to above `point` (so nothing gets swept)."""
  if hand[2] < hover - 0.03 and np.linalg.norm(hand[:2] - point[:2]) > tolerance:
    return _move(hand, np.append(hand[:2], hover), grip)
  return _move(hand, np.append(point[:2], hover), grip)


def _grasp_and_carry(hand, grasp_point, target, height, tolerance=0.015,
                     max_speed=1.0):
  """Comes down over `grasp_point` to `height` above it, closes, carries it to `target`."""
  hover = grasp_point[2] + height + _HOVER
  if np.linalg.norm(hand[:2] - grasp_point[:2]) > tolerance:
    return _go_above(hand, grasp_point, hover, _OPEN, 2 * tolerance)
  above = hand[2] - (grasp_point[2] + height)
  if above > 0.01:
    # Start closing on the way down so the grip holds before carrying.
    grip = _CLOSE if above < 0.03 else _OPEN
    return _move(hand, grasp_point + [0.0, 0.0, height], grip)
  return _move(hand, target + [0.0, 0.0, height], _CLOSE, max_speed=max_speed)


def _push_along_axis(hand, contact, target, axis, max_speed, tolerance=0.015):
  """Comes down beside an object at `contact`; pushes along `axis` till the hand is at `target`."""
  direction = np.sign(target[axis] - contact[axis]) or 1.0
  # Come down a little short of the contact so the fingers miss the object.
  staging = contact.copy()
  staging[axis] -= direction * 0.015
  others = [i for i in range(3) if i != axis]
  lag = direction * (contact[axis] - hand[axis])
  engaged = (np.all(np.abs(hand[others] - contact[others]) < tolerance)
             and -0.01 < lag < 0.04)
  if engaged:
    # Gentle pushes: a pushed object slides on past the hand when it stops.
    return _move(hand, target, _OPEN, gain=5.0, max_speed=max_speed)
  if np.linalg.norm(hand[:2] - staging[:2]) > tolerance:
    return _go_above(hand, staging, contact[2] + _HOVER, _OPEN, tolerance)
  return _move(hand, staging, _OPEN)


def _push_along_curve(hand, contact, target, tolerance=0.02):
  """Comes down at `contact` and pushes toward `target`, a little further along a curve."""
  if np.linalg.norm(hand - contact) < tolerance:
    return _move(hand, target, _CLOSE, gain=10.0)
  if np.linalg.norm(hand[:2] - contact[:2]) > tolerance:
    return _go_above(hand, contact, contact[2] + _HOVER, _CLOSE, tolerance)
  return _move(hand, contact, _CLOSE)


def reach(observation):
  """Moves the hand straight to the arm goal."""
  state, goal = _split(observation)
  return _move(state[:3], goal[:3], _OPEN)


def push(observation):
  """Grasps the puck from above and slides it along the table to the puck goal."""
  state, goal = _split(observation)
  # With the hand 5 cm above the puck's centre the fingers hold it low.
  return _grasp_and_carry(state[:3], state[3:], goal[3:], height=0.05,
                          tolerance=0.02, max_speed=0.5)


def drawer(observation):
  """Grasps the drawer handle's bar and slides it along y to the goal."""
  state, goal = _split(observation)
  # The bar is 1 cm behind the tracked point; the fingers close around it
  # with the hand 3 cm below the bar's axis.
  bar = np.array([0.0, 0.01, 0.0])
  return _grasp_and_carry(state[:3], state[3:] + bar, goal[3:] + bar,
                          height=-0.03)


def window(observation):
  """Comes down beside the window handle's vertical bar and pushes it along x."""
  state, goal = _split(observation)
  handle, handle_goal = state[3:], goal[3:]
  direction = 1.0 if handle_goal[0] >= handle[0] else -1.0
  # The bar is 2.6 cm to +x of the tracked point; the open gripper's +y
  # finger (4.7 cm from the hand) touches it with the hand 2.3 cm to its side.
  offset = np.array([0.026 - direction * 0.023, -0.047, 0.0])
  return _push_along_axis(state[:3], handle + offset, handle_goal + offset,
                          axis=0, max_speed=0.3)


def _faucet_angle(handle):
  """The faucet joint's angle, from where the tracked handle point is."""
  offset = handle[:2] - np.asarray(sawyer.SawyerFaucet.BASE_POS[:2])
  # At angle 0 the lever points along -y, and the tracked point (metaworld's
  # handleStartOpen site) sits 1.5 cm to its side at 17.5 cm from the pivot.
  angle = (np.arctan2(offset[1], offset[0]) + np.pi / 2
           + np.arctan2(0.015, 0.175))
  return np.angle(np.exp(1j * angle))


def faucet(observation):
  """Comes down beside the faucet lever and turns it to the goal angle."""
  state, goal = _split(observation)
  hand, handle = state[:3], state[3:]
  angle, goal_angle = _faucet_angle(handle), _faucet_angle(goal[3:])
  direction = 1.0 if goal_angle >= angle else -1.0
  pivot = np.asarray(sawyer.SawyerFaucet.BASE_POS[:2])

  def contact(lever_angle):
    """Where the closed gripper pushes the lever (15 cm out, on its trailing side)."""
    along = np.array([np.sin(lever_angle), -np.cos(lever_angle)])
    tangent = np.array([np.cos(lever_angle), np.sin(lever_angle)])
    xy = pivot + 0.15 * along - direction * 0.04 * tangent
    return np.append(xy, handle[2])

  # Push toward a point at most 0.6 rad ahead on the lever's circle: a
  # straight line to the goal would cut across the faucet.
  ahead = angle + np.clip(goal_angle - angle, -0.6, 0.6)
  return _push_along_curve(hand, contact(angle), contact(ahead))


# Bin picking: the hand grips the block 4 cm above its centre, as low as the
# task's mocap box lets it go over a block on a bin's floor (z 0.07 over
# 0.03); the block crosses between the bins with its centre at 14 cm, its
# bottom 6 cm above the walls' tops (6 cm high).
_BIN_GRIP_HEIGHT = 0.04
_BIN_FLOOR_Z = 0.03  # the centre of a block on a bin's floor
_BIN_CARRY_Z = 0.14
_BIN_CROSSING_Z = 0.11  # the block's bottom clears the walls from here up


def bin_picking(observation):
  """Grips the block from above, lifts it over the bins' walls and lowers it to the block goal."""
  state, goal = _split(observation)
  hand, block, block_goal = state[:3], state[3:], goal[3:]
  # The fingers close along y, their open claws 4.4-5.3 cm to each side of
  # the hand: over a block near a y wall one would land on the wall or the
  # block, so the hand stays 3.2 cm or less from the bin's middle in y (as
  # metaworld's scripted policy keeps it nearer the middle); the claw then
  # comes down between wall and block, and closing drags the block over.
  bin_y = sawyer.SawyerBin.SOURCE_BIN_XY[1]
  grip = block.copy()
  grip[1] = np.clip(grip[1], bin_y - 0.032, bin_y + 0.032)
  hover = _BIN_FLOOR_Z + _BIN_GRIP_HEIGHT + _HOVER
  if np.linalg.norm(hand[:2] - grip[:2]) > 0.02:
    return _go_above(hand, grip, hover, _OPEN, 0.04)
  gap = hand[2] - (block[2] + _BIN_GRIP_HEIGHT)  # about 0.01 with the hand as low as it goes
  held = gap < 0.02 and block[2] > _BIN_FLOOR_Z + 0.01
  at_goal = np.linalg.norm(block - block_goal) < 0.02
  if at_goal and gap < 0.02:
    return _move(hand, block_goal + [0.0, 0.0, _BIN_GRIP_HEIGHT], _CLOSE)
  if held:
    if np.linalg.norm(block[:2] - block_goal[:2]) < 0.02:
      waypoint = block_goal
    elif block[2] < _BIN_CROSSING_Z:
      waypoint = np.append(block[:2], _BIN_CARRY_Z)
    else:
      waypoint = np.append(block_goal[:2], _BIN_CARRY_Z)
    return _move(hand, waypoint + [0.0, 0.0, _BIN_GRIP_HEIGHT], _CLOSE)
  if gap > 0.025:
    return _move(hand, grip + [0.0, 0.0, _BIN_GRIP_HEIGHT], _OPEN)  # down, open
  # At the bottom: close, rising slowly so the fingers shut before the
  # block leaves the floor; one that did not come along is let go above.
  return _move(hand, np.append(grip[:2], hover), _CLOSE, max_speed=0.1)


def point_mass_controller(observation):
  """Moves the point straight at the goal, landing on it."""
  state, goal = _split(observation)
  action = np.clip((goal - state) / point_mass.STEP_SIZE, -1.0, 1.0)
  return action.astype(np.float32)


# The LQR weights of the cart-pole controller (metres, radians, their rates,
# newtons): the pole angle weighs most. The small velocity weights damp the
# cart's approach; they keep the pole up when the force saturates far from the
# goal (goals across the whole track, 2.9 m away), where weights on x and theta
# alone let it fall. The cart settles within 0.1 of a goal in under 3 s.
_CARTPOLE_Q = np.diag([3.0, 30.0, 1.0, 1.0])
_CARTPOLE_R = np.array([[0.01]])


def _cartpole_linearised():
  """(A, B) of one cart-pole step about the upright pole at rest: state' = A state + B force."""
  # Central differences of the task's own Euler step, so the model is the
  # simulator's, not a second copy of its equations.
  eps, rest = 1e-6, np.zeros(cartpole.STATE_DIM)
  columns = [(cartpole.dynamics(rest + eps * unit, 0.0) - cartpole.dynamics(rest - eps * unit, 0.0))
             / (2 * eps) for unit in np.eye(cartpole.STATE_DIM)]
  force = (cartpole.dynamics(rest, eps) - cartpole.dynamics(rest, -eps)) / (2 * eps)
  return np.stack(columns, axis=1), force[:, None]


@functools.lru_cache(maxsize=None)
def cartpole_gain():
  """The LQR gain K (force = -K error, 1x4) of the upright cart-pole, from the discrete Riccati equation."""
  a, b = _cartpole_linearised()
  p = _CARTPOLE_Q
  # It converges in a few hundred iterations; the cap only stops a bad edit of the weights.
  for _ in range(10000):
    gain = np.linalg.solve(_CARTPOLE_R + b.T @ p @ b, b.T @ p @ a)
    p_next = _CARTPOLE_Q + a.T @ p @ (a - b @ gain)
    if np.max(np.abs(p_next - p)) <= 1e-10 * np.max(np.abs(p_next)):
      return gain
    p = p_next
  raise ArithmeticError('the cart-pole Riccati iteration did not converge.')


def goal_cartpole_controller(observation):
  """Balances the pole upright and brings the cart to the goal (LQR about the goal state)."""
  state, goal = _split(observation)
  # The goal state is (x_goal, 0, 0, 0); a dynamic goal's x_dot is the goal's
  # velocity, so the cart rides with it instead of trailing behind.
  error = state - goal
  error[1] = cartpole.wrap_angle(error[1])
  force = -cartpole_gain() @ error
  return np.clip(force / cartpole.MAX_FORCE, -1.0, 1.0).astype(np.float32)


def goal_cartpole_bang_bang(observation):
  """goal_cartpole with discrete actions (left 0, right 1): full force the way the LQR controller pushes."""
  return np.int32(1 if goal_cartpole_controller(observation)[0] > 0 else 0)


def random_policy(seed, action_dim):
  """A uniform random policy over [-1, 1]^action_dim, as a baseline for the controllers."""
  rng = np.random.default_rng(seed)
  return lambda observation: rng.uniform(-1.0, 1.0, action_dim).astype(
      np.float32)


def rollout(py_env, policy, num_episodes):
  """Runs `num_episodes` episodes of `policy` on a PyEnvironment; returns the last observations."""
  finals = []
  for _ in range(num_episodes):
    time_step = py_env.reset()
    while not time_step.is_last():
      time_step = py_env.step(policy(time_step.observation))
    finals.append(time_step.observation)
  return finals
