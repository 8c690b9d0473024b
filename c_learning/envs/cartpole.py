"""A goal-conditioned cart-pole: keep the pole upright while the cart reaches a goal position.

Dynamics: the classic cart-pole (Barto, Sutton and Anderson 1983; the equations
of gym's CartPole): gravity 9.8, a 1.0 kg cart, a 0.1 kg pole of half-length
0.5 m, frictionless, explicit Euler steps of TAU = 0.02 s. The action is one
continuous number in [-1, 1] (clipped), a horizontal force of up to
MAX_FORCE = 10 N on the cart, so the package's tanh-Gaussian actors drive it.
Nothing terminates: the pole may fall and swing all the way round; the cart
stays on the track |x| <= TRACK_LIMIT = 2.4 m (it stops dead at a wall).

Layout: observation = concat(state, goal), float32, 4 + 4 wide, with the
goal-relevant dimensions first: state = (x, theta, x_dot, theta_dot), theta
the pole's angle from upright in [-pi, pi); goal = (x_goal, 0, 0, 0), the pole
upright and at rest with the cart at x_goal. Runs set obs_to_goal 0..2, so
their goals constrain (x, theta) only. Reward is 0 (the package computes its own).

Starts are near upright and at rest: x ~ U(-0.5, 0.5) m, theta, x_dot and
theta_dot ~ U(-0.05, 0.05); x_goal ~ U(goal_xmin, goal_xmax). With
dynamic_goal the goal moves during the episode: x_goal(t) = centre +
half-range * sin(2 pi t / goal_period + phase) with a random phase, so it
sweeps smoothly between goal_xmin and goal_xmax and never leaves that range
(by default at most 0.31 m/s, up to 1.18 m in a 4 s episode), and the goal
state rides with it: (x_goal(t), 0, dx_goal/dt, 0).

The vanilla-GCSL seed's own set-up (shared/seeds 000: gym's CartPole-v1 with
goals) is two bindings away: actions='discrete' pushes the cart left or right
with the full MAX_FORCE (Discrete(2): 0 left, 1 right), and terminate_on_fall
ends an episode, as CartPole-v1 does, once the pole leans more than
FALL_ANGLE (12 degrees) from upright or the cart reaches the end of the track.

Success is a final distance in (x, theta) to (x_goal, 0) below
SUCCESS_THRESHOLD = 0.1, as point_mass's: e.g. the cart within 10 cm of the
goal (1/20 of the default 2 m goal range) with the pole upright, or within
0.1 rad (5.7 degrees) of upright with the cart on the goal. A fallen or
swinging pole is far outside it, and a balancing controller ends well inside
it (controllers.goal_cartpole_controller: under 0.01 on fixed goals).
"""
import gin
import gymnasium
import numpy as np

from c_learning import config
from c_learning.envs import gymnasium_adapter

STATE_DIM = 4
GRAVITY = 9.8
CART_MASS = 1.0
POLE_MASS = 0.1
POLE_HALF_LENGTH = 0.5
MAX_FORCE = 10.0
TAU = 0.02
TRACK_LIMIT = 2.4
SUCCESS_THRESHOLD = 0.1
# CartPole-v1's termination: the pole more than 12 degrees from upright.
FALL_ANGLE = 12 * 2 * np.pi / 360
ACTION_KINDS = ('continuous', 'discrete')
# Half-width of the uniform start of theta and both velocities; x starts in +-START_X.
START_NOISE = 0.05
START_X = 0.5


def wrap_angle(theta):
  """`theta` wrapped to [-pi, pi)."""
  return np.mod(theta + np.pi, 2 * np.pi) - np.pi


def dynamics(state, force):
  """The state one Euler step of TAU later, `force` newtons on the cart (no walls, theta unwrapped)."""
  x, theta, x_dot, theta_dot = state
  total_mass = CART_MASS + POLE_MASS
  pole_moment = POLE_MASS * POLE_HALF_LENGTH
  sin, cos = np.sin(theta), np.cos(theta)
  push = (force + pole_moment * theta_dot**2 * sin) / total_mass
  theta_acc = (GRAVITY * sin - cos * push) / (
      POLE_HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos**2 / total_mass))
  x_acc = push - pole_moment * theta_acc * cos / total_mass
  # Explicit Euler, as gym's CartPole: positions move with the old velocities.
  return np.array([x + TAU * x_dot, theta + TAU * theta_dot,
                   x_dot + TAU * x_acc, theta_dot + TAU * theta_acc])


def _is_number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _check_goal_settings(goal_xmin, goal_xmax, dynamic_goal, goal_period, actions='continuous',
                         terminate_on_fall=False):
  """Raises a one-line ConfigError naming the binding unless the goal settings can run."""
  if actions not in ACTION_KINDS:
    raise config.ConfigError(f'load_goal_cartpole.actions={actions!r} is unknown; valid: '
                             f'{", ".join(ACTION_KINDS)}.')
  if not isinstance(terminate_on_fall, bool):
    raise config.ConfigError(
        f'load_goal_cartpole.terminate_on_fall={terminate_on_fall!r}: must be True or False.')
  if not (_is_number(goal_xmin) and _is_number(goal_xmax)
          and -TRACK_LIMIT <= goal_xmin <= goal_xmax <= TRACK_LIMIT):
    raise config.ConfigError(
        f'load_goal_cartpole.goal_xmin={goal_xmin!r}, load_goal_cartpole.goal_xmax='
        f'{goal_xmax!r}: need -{TRACK_LIMIT} <= goal_xmin <= goal_xmax <= {TRACK_LIMIT} '
        '(the goals must lie on the track).')
  if not isinstance(dynamic_goal, bool):
    raise config.ConfigError(
        f'load_goal_cartpole.dynamic_goal={dynamic_goal!r}: must be True or False.')
  if not (_is_number(goal_period) and goal_period > 0):
    raise config.ConfigError(
        f'load_goal_cartpole.goal_period={goal_period!r}: must be a positive number of seconds.')


class GoalCartPole(gymnasium.Env):
  """A cart-pole pushed by a continuous force (or left or right) to balance the pole at a goal cart position."""

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, seed=0, goal_xmin=-1.0, goal_xmax=1.0, dynamic_goal=False,
               goal_period=20.0, render_size=128, actions='continuous', terminate_on_fall=False):
    _check_goal_settings(goal_xmin, goal_xmax, dynamic_goal, goal_period, actions,
                         terminate_on_fall)
    self._discrete = actions == 'discrete'
    self._terminate_on_fall = terminate_on_fall
    self.render_mode = 'rgb_array'
    self._render_size = render_size
    self._rng = np.random.default_rng(seed)
    self._goal_xmin, self._goal_xmax = float(goal_xmin), float(goal_xmax)
    self._dynamic_goal = dynamic_goal
    self._goal_period = float(goal_period)
    self.observation_space = gymnasium.spaces.Box(
        -np.inf, np.inf, (2 * STATE_DIM,), np.float32)
    self.action_space = (gymnasium.spaces.Discrete(2) if self._discrete
                         else gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32))
    self.state = np.zeros(STATE_DIM)
    self.goal = np.zeros(STATE_DIM)
    self._phase = 0.0
    self._steps = 0
    self.reset()

  def _observation(self):
    return np.concatenate([self.state, self.goal]).astype(np.float32)

  def _move_goal(self):
    """Puts a dynamic goal where its sinusoid is at the episode's time, with its velocity."""
    centre = (self._goal_xmin + self._goal_xmax) / 2
    half_range = (self._goal_xmax - self._goal_xmin) / 2
    frequency = 2 * np.pi / self._goal_period
    angle = frequency * self._steps * TAU + self._phase
    self.goal[0] = centre + half_range * np.sin(angle)
    # A moving goal state moves with the goal: a state that tracks it has this x_dot.
    self.goal[2] = half_range * frequency * np.cos(angle)

  def reset(self, *, seed=None, options=None):
    del options
    if seed is not None:
      self._rng = np.random.default_rng(seed)
    noise = self._rng.uniform(-START_NOISE, START_NOISE, STATE_DIM - 1)
    self.state = np.array([self._rng.uniform(-START_X, START_X), *noise])
    self._steps = 0
    self.goal = np.zeros(STATE_DIM)
    if self._dynamic_goal:
      self._phase = self._rng.uniform(0.0, 2 * np.pi)
      self._move_goal()
    else:
      self.goal[0] = self._rng.uniform(self._goal_xmin, self._goal_xmax)
    return self._observation(), {}

  def _force(self, action):
    """The force on the cart: MAX_FORCE times the action in [-1, 1], or left (0) / right (1)."""
    action = np.asarray(action).reshape(-1)[0]
    if self._discrete:
      return MAX_FORCE if int(action) == 1 else -MAX_FORCE
    return MAX_FORCE * float(np.clip(action, -1.0, 1.0))

  def step(self, action):
    force = self._force(action)
    state = dynamics(self.state, force)
    state[1] = wrap_angle(state[1])
    if abs(state[0]) > TRACK_LIMIT:
      # The cart stops dead at the wall; the pole swings on.
      state[0], state[2] = np.clip(state[0], -TRACK_LIMIT, TRACK_LIMIT), 0.0
    self.state = state
    self._steps += 1
    if self._dynamic_goal:
      self._move_goal()
    fallen = abs(state[1]) > FALL_ANGLE or abs(state[0]) >= TRACK_LIMIT
    return self._observation(), 0.0, self._terminate_on_fall and fallen, False, {}

  def render(self):
    """A side view, HxWx3 uint8 (H = render_size, W = 2H): goal green, cart blue, pole red."""
    height, width = self._render_size, 2 * self._render_size
    frame = np.full((height, width, 3), 255, np.uint8)
    rows, cols = np.mgrid[0:height, 0:width]
    # The track plus half a cart on either side spans the width.
    scale = width / (2 * TRACK_LIMIT + 0.6)
    track_row = int(0.6 * height)

    def column(x):
      return (x + TRACK_LIMIT + 0.3) * scale

    frame[track_row, :] = (150, 150, 150)
    goal_col = column(self.goal[0])
    frame[np.abs(cols - goal_col) <= 1.0] = (0, 170, 0)
    x, theta = self.state[0], self.state[1]
    cart_col = column(x)
    cart = (np.abs(cols - cart_col) <= 0.25 * scale) & (np.abs(rows - track_row) <= 0.1 * scale)
    frame[cart] = (0, 0, 220)
    # The pole: a thick segment from the cart's centre, theta from upright.
    tip_col = cart_col + 2 * POLE_HALF_LENGTH * scale * np.sin(theta)
    tip_row = track_row - 2 * POLE_HALF_LENGTH * scale * np.cos(theta)
    along = np.array([tip_row - track_row, tip_col - cart_col])
    fraction = np.clip(((rows - track_row) * along[0] + (cols - cart_col) * along[1])
                       / (along @ along), 0.0, 1.0)
    off = np.hypot(rows - track_row - fraction * along[0], cols - cart_col - fraction * along[1])
    frame[off <= max(1.0, 0.03 * scale)] = (200, 0, 0)
    return frame


@gin.configurable(denylist=config.denylist('load_goal_cartpole'))
def load_goal_cartpole(seed=0, max_episode_steps=200, goal_xmin=-1.0, goal_xmax=1.0,
                       dynamic_goal=False, goal_period=20.0, actions='continuous',
                       terminate_on_fall=False):
  """The goal cart-pole as a time-limited PyEnvironment (200 steps = 4 s by default).

  Args:
    seed: seeds the starts and goals (set by train_eval.random_seed).
    max_episode_steps: steps of TAU = 0.02 s an episode lasts.
    goal_xmin, goal_xmax: the goal cart positions, within the track (+-2.4 m).
    dynamic_goal: the goal sweeps between goal_xmin and goal_xmax during each
      episode, on a sinusoid of period goal_period seconds with a random phase.
      The same loader builds a run's train and eval envs, so it moves the goals
      of both. To train on fixed goals and test on moving ones (a policy
      chasing a goal), evaluate the trained run with a binding:
      python -m c_learning.evaluate --root_dir=RUN
          --gin_bindings='load_goal_cartpole.dynamic_goal = True'
    goal_period: seconds of one sweep there and back.
    actions: 'continuous' (a force in [-1, 1] x MAX_FORCE) or 'discrete'
      (left or right at MAX_FORCE, the seed's).
    terminate_on_fall: end an episode when the pole leans past FALL_ANGLE or
      the cart reaches the end of the track (CartPole-v1's rule, the seed's).
  """
  return gymnasium_adapter.time_limited(
      GoalCartPole(seed=seed, goal_xmin=goal_xmin, goal_xmax=goal_xmax,
                   dynamic_goal=dynamic_goal, goal_period=goal_period, actions=actions,
                   terminate_on_fall=terminate_on_fall),
      max_episode_steps)
