"""DeepMind Control Suite domains as goal-conditioned tasks: env_name 'dmc:<domain>'.

The domains and suite tasks are those of GLAMOR (Paster et al. 2020, after
DISCERN, Warde-Farley et al. 2019): ball_in_cup (catch), cartpole (balance),
finger (spin), manipulator (bring_ball), pendulum (swingup), point_mass (easy,
each agent step 4 control steps: frame-skip 4) and reacher (hard). The suite
task only builds the scene and draws each episode's start; its reward and
target are unused (target markers are hidden from frames). Episodes are
dmc_task.max_episode_steps = 100 agent steps.

Observation: concat(state, goal), float32, where
  state = tracked positions ++ every joint velocity (the model's qvel),
  goal  = tracked positions (goal_offset 0; goal_dim = the positions' width).
The tracked positions are the domain's joints (TRACKED below), each scaled
so that its feasible range spans 1:
  a limited joint (hinge or slide): (q - low) / (high - low), from the model;
  an unlimited hinge: (cos q, sin q) / 2 (each spans [-1, 1]), so the goal
    never jumps where the angle wraps; 10% of the range of cos and sin is
    what GLAMOR's success asks of the suite's cos/sin observations;
  an unlimited slide (the cups' and balls' free positions): q / the arena's
    span along it (ARENA below: the reach of the cup's springs plus the
    string, or the manipulator's floor between its walls).
Success is then DISCERN's and GLAMOR's: every tracked position within 10% of
its feasible range at the episode's end: TaskSpec.success_norm 'max' (the
largest absolute difference) < 0.1.

Goals are states an exploring policy reaches: at each reset, from the
episode's start, k ~ U{1..max_episode_steps} random actions of the domain's
discrete set (below) are played on the physics, whose positions are the
goal and whose frame is the goal frame; the physics is then put back at the
start. Every goal is reachable within an episode. The task's own RNG draws
k and the actions (and the suite's its start states), both seeded by the
task's seed, so the same seed gives the same goals, whichever action set.

Actions (dmc_task.actions): 'continuous', the suite's Box in [-1, 1]^A;
'discrete', GLAMOR's: every combination of {-1, 0, 1} per dimension (3^A:
cartpole and pendulum 3, the others 9), and for the manipulator (A = 5) one
dimension at a time at +1 or -1, plus a no-op (11 actions). The reward is
always 0 (relabeling decides rewards), as in the Sawyer tasks.

Pixels: agent_frame() and goal_frame() render the suite's camera 0 (GLAMOR's)
without shadows, reflections, skybox or multisampling (c_learning.envs.rendering);
render() is the same camera at full quality for videos.
"""
import dataclasses
import functools
import itertools
from typing import Dict, Optional, Tuple

import gin
import gymnasium
import mujoco
import numpy as np

from c_learning import config
from c_learning.envs import gymnasium_adapter
from c_learning.envs import pixels
from c_learning.envs import rendering
from c_learning.envs import tasks

PREFIX = 'dmc:'
ACTIONS = ('continuous', 'discrete')
# Every tracked position within 10% of its feasible range (scaled ranges span 1).
SUCCESS_THRESHOLD = 0.1
SUCCESS_NORM = 'max'
EPISODE_STEPS = 100
CAMERA_ID = 0  # the suite's first camera, as GLAMOR renders
_INSTALL_HELP = 'pip install -e ".[dmc]" (or pip install dm-control==1.0.28)'


@dataclasses.dataclass(frozen=True)
class Domain:
  """A suite domain as a goal task: its suite task, tracked joints and action set."""
  suite_task: str
  tracked: Tuple[str, ...]
  # Unlimited slide joint -> the arena's span along it (model units).
  arena: Dict[str, float] = dataclasses.field(default_factory=dict)
  frame_skip: int = 1
  # GLAMOR's manipulator set: one dimension at a time (2A + 1 actions), not 3^A.
  one_axis_actions: bool = False
  # The suite task's target markers: not part of these goals, so not drawn.
  hidden_geoms: Tuple[str, ...] = ()


# The tracked joints are those whose positions GLAMOR's success compares
# (its labels of the suite's position observations), less the manipulator's
# hand pose (its arm joints fix it) and its ball's spin (a uniform ball shows
# none, so no goal frame could ask for it).
DOMAINS = {
    'ball_in_cup': Domain('catch', ('cup_x', 'cup_z', 'ball_x', 'ball_z'),
                          # The cup's springs (stiffness 20, motors of 5) hold it within
                          # +-0.25; the string (0.3) lets the ball 0.3 beyond that.
                          arena={'cup_x': 0.5, 'cup_z': 0.5, 'ball_x': 1.1, 'ball_z': 1.1}),
    'cartpole': Domain('balance', ('slider', 'hinge_1')),
    'finger': Domain('spin', ('proximal', 'distal', 'hinge')),
    'manipulator': Domain(
        'bring_ball', ('arm_root', 'arm_shoulder', 'arm_elbow', 'arm_wrist', 'thumb',
                       'thumbtip', 'finger', 'fingertip', 'ball_x', 'ball_z'),
        # The ball's world x and z: the 45-degree walls (|x| <= 0.4 + z) hold
        # it within x in [-1, 1] up to z = 0.6, and the arm lifts it to about 1
        # (random actions reached x -0.96 to 0.81, z up to 0.67).
        arena={'ball_x': 2.0, 'ball_z': 1.0}, one_axis_actions=True,
        hidden_geoms=('target_ball',)),
    'pendulum': Domain('swingup', ('hinge',)),
    'point_mass': Domain('easy', ('root_x', 'root_y'), frame_skip=4, hidden_geoms=('target',)),
    'reacher': Domain('hard', ('shoulder', 'wrist'), hidden_geoms=('target',)),
}
DOMAIN_NAMES = sorted(DOMAINS)


@dataclasses.dataclass(frozen=True)
class DmcSettings:
  """A dm-control task's settings (gin's dmc_task); invalid values raise config.ConfigError."""
  actions: str = 'continuous'
  max_episode_steps: int = EPISODE_STEPS

  def __post_init__(self):
    if self.actions not in ACTIONS:
      raise config.ConfigError(f'dmc_task.actions={self.actions!r}: must be one of '
                               f'{", ".join(repr(a) for a in ACTIONS)}.')
    steps = self.max_episode_steps
    if not (isinstance(steps, (int, np.integer)) and not isinstance(steps, bool) and steps >= 1):
      raise config.ConfigError(f'dmc_task.max_episode_steps={steps!r}: must be an int >= 1.')


@gin.configurable
def dmc_task(actions='continuous', max_episode_steps=EPISODE_STEPS):
  """The settings of every 'dmc:' task.

  Read where a task is built; spawned env workers replay the parent's gin
  config first (c_learning.envs.spawned), so every process builds the same task.

  Args:
    actions: 'continuous' (the suite's Box in [-1, 1]) or 'discrete' (the
      domain's discrete set; module docstring).
    max_episode_steps: agent steps an episode; goals are reached in at most
      this many random steps.

  Returns:
    A DmcSettings.
  """
  return DmcSettings(actions, max_episode_steps)


def _dm_control():
  """(dm_control.suite, dm_control.rl.control), imported when a 'dmc:' task is built."""
  try:
    # pylint: disable=g-import-not-at-top
    from dm_control import suite
    from dm_control.rl import control
  except ImportError as error:
    raise config.ConfigError(
        f'env_name {PREFIX}<domain> needs dm-control, which is not installed: {_INSTALL_HELP}.'
    ) from error
  return suite, control


def _check_domain(domain_name):
  if domain_name not in DOMAINS:
    raise config.ConfigError(
        f'train_eval.env_name={PREFIX + str(domain_name)!r}: unknown dm-control domain; '
        f'valid: {", ".join(PREFIX + name for name in DOMAIN_NAMES)}.')
  return DOMAINS[domain_name]


def action_table(domain_name, action_dim):
  """The discrete actions of a domain: an [n, action_dim] float array in {-1, 0, 1}."""
  if DOMAINS[domain_name].one_axis_actions:
    table = []
    for dim in range(action_dim):
      for sign in (1.0, -1.0):
        action = np.zeros(action_dim)
        action[dim] = sign
        table.append(action)
    table.append(np.zeros(action_dim))  # the no-op, last as in GLAMOR
    return np.array(table)
  return np.array(list(itertools.product((-1.0, 0.0, 1.0), repeat=action_dim)))


class _Position:
  """How one tracked joint maps to scaled positions: its qpos index and its kind."""

  def __init__(self, model, joint_name, arena):
    joint = model.joint(joint_name)
    self.name = joint_name
    self.qpos = int(joint.qposadr[0])
    hinge = int(joint.type[0]) == mujoco.mjtJoint.mjJNT_HINGE
    self.low, self.high = (float(v) for v in joint.range)
    if bool(joint.limited[0]):
      self.kind, self.width = 'limited', 1
    elif hinge:
      self.kind, self.width = 'angle', 2
    elif joint_name in arena:
      self.kind, self.width, self.span = 'arena', 1, float(arena[joint_name])
    else:
      raise ValueError(f'joint {joint_name} is an unlimited slide without an arena span.')

  def scaled(self, qpos):
    q = float(qpos[self.qpos])
    if self.kind == 'limited':
      return [(q - self.low) / (self.high - self.low)]
    if self.kind == 'angle':
      return [np.cos(q) / 2.0, np.sin(q) / 2.0]
    return [q / self.span]


class DmcGoalTask(gymnasium.Env):
  """A suite domain as a goal-conditioned gymnasium env (see the module docstring)."""

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, domain_name, seed=0, actions='continuous',
               max_episode_steps=EPISODE_STEPS, render_height=240, render_width=320):
    self.domain_name = domain_name
    self._domain = _check_domain(domain_name)
    DmcSettings(actions, max_episode_steps)  # validates
    self.render_mode = 'rgb_array'
    self._render_size = (render_height, render_width)
    self._goal_steps = int(max_episode_steps)
    self._rng = np.random.default_rng(seed)
    suite, control = _dm_control()
    self._physics_error = control.PhysicsError
    self._env = suite.load(domain_name, self._domain.suite_task,
                              task_kwargs={'random': int(seed)})
    physics = self._env.physics
    self._physics, self._suite_task = physics, self._env.task
    self._model, self._data = physics.model.ptr, physics.data.ptr
    self._control_substeps = int(round(self._env.control_timestep() / physics.timestep()))
    self._positions = [_Position(self._model, name, self._domain.arena)
                       for name in self._domain.tracked]
    self.goal_dim = sum(p.width for p in self._positions)
    self.state_dim = self.goal_dim + self._model.nv
    for geom in self._domain.hidden_geoms:
      self._model.geom(geom).rgba[3] = 0.0
    action_dim = self._env.action_spec().shape[0]
    self.action_table = action_table(domain_name, action_dim)
    self.actions = actions
    if actions == 'discrete':
      self.action_space = gymnasium.spaces.Discrete(len(self.action_table))
    else:
      self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
    self.observation_space = gymnasium.spaces.Box(
        -np.inf, np.inf, (self.state_dim + self.goal_dim,), np.float32)
    self._renderers = rendering.TaskRenderers(self._model)
    # Agent frames draw no sites (markers of the suite's own tasks).
    self._agent_option = mujoco.MjvOption()
    self._agent_option.sitegroup[:] = 0
    self._goal_data = mujoco.MjData(self._model)  # the goal state, posed for goal_frame()
    self.goal = np.zeros(self.goal_dim)
    self.reset()

  @property
  def physics(self):
    """The suite's Physics (dm_control.mujoco.Physics) the task steps."""
    return self._physics

  @property
  def goal_qpos(self):
    """The joint positions (qpos) of the episode's goal state."""
    return self._goal_data.qpos.copy()

  def positions(self):
    """The tracked positions now, scaled (the goal's layout)."""
    qpos = self._data.qpos
    return np.array([v for p in self._positions for v in p.scaled(qpos)])

  def state(self):
    """The state half of the observation: tracked positions ++ joint velocities."""
    return np.concatenate([self.positions(), self._data.qvel])

  def _observation(self):
    return np.concatenate([self.state(), self.goal]).astype(np.float32)

  def _control(self, action):
    """The suite's action for one of ours: a table entry (discrete) or the clipped vector."""
    if self.actions == 'discrete':
      index = int(action)
      if not 0 <= index < len(self.action_table):
        raise ValueError(f'{self.domain_name}: action {action!r} is not in [0, '
                         f'{len(self.action_table)}).')
      return self.action_table[index]
    return np.clip(np.asarray(action, np.float64), -1.0, 1.0)

  def _simulate(self, control):
    """One agent step (frame_skip control steps); False where the physics went unstable."""
    try:
      for _ in range(self._domain.frame_skip):
        self._suite_task.before_step(control, self._physics)
        self._physics.step(self._control_substeps)
        self._suite_task.after_step(self._physics)
    except self._physics_error:
      return False
    return bool(np.all(np.isfinite(self._data.qpos)) and np.all(np.isfinite(self._data.qvel)))

  def step(self, action):
    stable = self._simulate(self._control(action))
    observation = self._observation()
    blowup = not (stable and np.all(np.isfinite(observation)))
    return observation, 0.0, False, blowup, {gymnasium_adapter.PHYSICS_BLOWUP_KEY: blowup}

  def reset(self, *, seed=None, options=None):
    """Draws the suite's start state, then a goal reached from it by random actions."""
    del options
    if seed is not None:
      self._rng = np.random.default_rng(seed)
      self._suite_task.random.seed(seed)
    for _ in range(gymnasium_adapter.RESET_TRIES):
      self._env.reset()
      start = self._physics.get_state().copy()
      if self._explore():
        break  # else the physics went unstable: draw another start
    else:
      raise FloatingPointError(f'{self.domain_name}: the physics went unstable while drawing a '
                               f'goal {gymnasium_adapter.RESET_TRIES} times in a row.')
    self.goal = self.positions()
    self._goal_data.qpos[:] = self._data.qpos
    self._goal_data.qvel[:] = 0.0
    mujoco.mj_forward(self._model, self._goal_data)
    with self._physics.reset_context():
      self._physics.set_state(start)
    return self._observation(), {}

  def _explore(self):
    """Plays k ~ U{1..max_episode_steps} random discrete-set actions; False on a blow-up."""
    steps = int(self._rng.integers(1, self._goal_steps + 1))
    indices = self._rng.integers(len(self.action_table), size=steps)
    return all(self._simulate(self.action_table[i]) for i in indices)

  def render(self):
    """An HxWx3 uint8 frame of camera 0 for videos, at full quality."""
    renderer = self._renderers.video(*self._render_size)
    renderer.update_scene(self._data, camera=CAMERA_ID)
    return renderer.render().copy()

  def agent_frame(self, height=80, width=104):
    """The scene now as an agent sees it: an HxWx3 uint8 frame of camera 0, fast."""
    return self._agent_render(self._data, height, width)

  def goal_frame(self, height=80, width=104):
    """An agent frame of the episode's goal state (posed in a copy of the simulation)."""
    return self._agent_render(self._goal_data, height, width)

  def _agent_render(self, data, height, width):
    renderer = self._renderers.agent(height, width)
    renderer.update_scene(data, camera=CAMERA_ID, scene_option=self._agent_option)
    return renderer.render()

  def close(self):
    self._renderers.close()


def load(domain_name, seed=0, settings=None):
  """The domain's goal task as a time-limited PyEnvironment (module level: workers call it).

  settings: a DmcSettings; None reads gin's dmc_task().
  """
  settings = settings or dmc_task()
  task = DmcGoalTask(domain_name, seed=seed, actions=settings.actions,
                     max_episode_steps=settings.max_episode_steps)
  return gymnasium_adapter.time_limited(task, int(settings.max_episode_steps))


@functools.lru_cache(maxsize=None)
def task_spec(env_name):
  """The TaskSpec of env_name 'dmc:<domain>', read off one instance of the task's model."""
  domain_name = env_name[len(PREFIX):]
  _check_domain(domain_name)
  task = DmcGoalTask(domain_name, seed=0)
  state_dim, goal_dim = task.state_dim, task.goal_dim
  task.close()
  loader = functools.partial(load, domain_name)
  return tasks.TaskSpec(
      env_name, loader, state_dim=state_dim, goal_dim=goal_dim, goal_offset=0,
      success_dims=(0, goal_dim), success_threshold=SUCCESS_THRESHOLD,
      success_norm=SUCCESS_NORM, pixel_load=functools.partial(pixels.load, loader))
