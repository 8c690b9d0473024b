"""Goal-conditioned Sawyer tasks (reach, push, drawer, window, faucet, bin) on metaworld v3.

Every task's observation is concat(state, goal), float32, 6 + 6 wide:
  state = hand xyz + object xyz (puck, drawer handle, window handle, faucet
          handle or bin picking's block; reach keeps the puck),
  goal  = arm goal xyz + object goal xyz.
Reward is always 0 and no task terminates: the loaders' TimeLimit ends episodes.
The goal marker in the scene is the object goal (the hand goal for reach).

Pixel observations (c_learning.envs.pixels) come from agent_frame(), a small
fast frame without the goal marker, and goal_frame(), the scene with the goal
reached; render() is the full-quality frame for videos.

`arm_goal_type` (push, drawer, window, faucet, bin) picks the arm part of the goal:
'goal' = the object goal, 'puck' = the object's initial position, 'random' =
an independent sample from the object-goal distribution.

Each task keeps its own np.random.Generator seeded at construction; metaworld
is seeded at construction too and its own randomisation is overridden, so
the same seed gives the same episodes in any process.
"""
import gin
import gymnasium
from metaworld import env_dict
from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE
from metaworld.envs.sawyer_bin_picking_v3 import SawyerBinPickingEnvV3
import mujoco
import numpy as np

from c_learning import config
from c_learning.envs import gymnasium_adapter
from c_learning.envs import posing
from c_learning.envs import rendering

OBS_DIM = 6
ARM_GOAL_TYPES = ('random', 'puck', 'goal')
# The Sawyer's joints in metaworld's models: the arm's seven and the gripper's two.
_ARM_JOINTS = tuple(f'right_j{i}' for i in range(7)) + ('r_close', 'l_close')
_PUCK_JOINT = 'objjoint'  # the free joint of reach's and push's puck

# metaworld raises ValueError once its step counter reaches max_path_length
# (500). The TimeLimit wrapper ends our episodes; this keeps metaworld's own
# limit out of reach for any episode length a user may choose.
_NO_PATH_LIMIT = 2**62

# Agent frames: a camera in front of the table looking down at it and back at
# the robot, as RIG's (Nair et al. 2018). It frames x in [-0.2, 0.2], y in
# [0.45, 0.95], z in [0, 0.35]: every task's goals, objects and hand starts.
AGENT_CAMERA = dict(lookat=(0.0, 0.72, 0.12), distance=0.95, azimuth=-90.0,
                    elevation=-60.0)
# MuJoCo counts these when the integrator goes unstable (and resets the data).
_INSTABILITY_WARNINGS = (
    mujoco.mjtWarning.mjWARN_BADCTRL,
    mujoco.mjtWarning.mjWARN_BADQACC,
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
)


_BIN_GOAL_SITE = 'goal'
_BIN_BLOCK_BODY = 'obj'  # the block's body; its free joint has no name


class _BinPickingWithGoalMarker(SawyerBinPickingEnvV3):
  """metaworld's bin picking with a goal marker, which its model lacks (its goal is the target bin's centre)."""

  def _initialize_simulation(self):
    spec = mujoco.MjSpec.from_file(self.fullpath)
    # push's marker: a green sphere 2 cm across; agent frames draw no sites.
    # It starts at metaworld's goal, off the origin: a site compiled there is tied to the
    # world frame, and moving it later would not move it.
    spec.worldbody.add_site(name=_BIN_GOAL_SITE, pos=[0.12, 0.7, 0.02], size=[0.02, 0.02, 0.02],
                            rgba=[0.0, 0.8, 0.0, 1.0])
    model = spec.compile()
    # The block's body holds no mass (its geoms are a child's), so MuJoCo left
    # its centre of mass at an offset the physics never uses: put it at the
    # block's centre, where the other tasks' objects have theirs (xipos).
    model.body(_BIN_BLOCK_BODY).ipos = 0.0
    # The offscreen buffer size, as gymnasium's MujocoEnv sets it.
    model.vis.global_.offwidth, model.vis.global_.offheight = self.width, self.height
    return model, mujoco.MjData(model)

  @property
  def _target_site_config(self):
    return [(_BIN_GOAL_SITE, self._target_pos)]


# Made goal-observable and seeded as metaworld makes ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE's classes.
_BIN_PICKING_GOAL_OBSERVABLE = env_dict._create_observable_goal_envs(  # pylint: disable=protected-access
    {'bin-picking-v3': _BinPickingWithGoalMarker})['bin-picking-v3-goal-observable']


def _check_arm_goal_type(binding, arm_goal_type, allowed=ARM_GOAL_TYPES):
  if arm_goal_type not in allowed:
    raise config.ConfigError(f'{binding}={arm_goal_type!r} is not one of '
                     f'{", ".join(repr(a) for a in allowed)}.')


class SawyerTask(gymnasium.Env):
  """Base of the goal-conditioned Sawyer tasks: state, goals, blow-ups, rendering."""

  metadata = {'render_modes': ['rgb_array']}
  METAWORLD_NAME = None  # a metaworld v3 task name, e.g. 'push-v3'
  # A free camera looking across the table from the robot's left: the arm
  # stays at the side of the frame, clear of the goal markers.
  CAMERA = dict(lookat=(0.0, 0.72, 0.1), distance=1.05, azimuth=30.0,
                elevation=-28.0)

  def __init__(self, seed=0, render_height=240, render_width=320):
    self.render_mode = 'rgb_array'
    self._render_size = (render_height, render_width)
    self._camera = rendering.free_camera(self.CAMERA)
    self._agent_camera = rendering.free_camera(AGENT_CAMERA)
    # Agent frames draw no sites: the goal markers would give the goal away.
    self._agent_option = mujoco.MjvOption()
    self._agent_option.sitegroup[:] = 0
    self._goal_data = None  # the copy of the simulation that goal_frame() poses
    self._object_qpos = None  # its qpos indices that are not the arm's
    self._rng = np.random.default_rng(seed)
    self._mw = self._make_metaworld_env(seed)
    self._mw.max_path_length = _NO_PATH_LIMIT
    self._renderers = rendering.TaskRenderers(self._mw.model)
    self.observation_space = gymnasium.spaces.Box(
        -np.inf, np.inf, (2 * OBS_DIM,), np.float32)
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (4,), np.float32)
    self.arm_goal = np.zeros(3)
    self.object_goal = np.zeros(3)
    # A first reset makes the goal defined and checks gin bindings at load.
    self.reset()

  def _make_metaworld_env(self, seed):
    """The goal-observable metaworld env of METAWORLD_NAME, seeded."""
    return ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f'{self.METAWORLD_NAME}-goal-observable'](seed=seed)

  @property
  def metaworld_env(self):
    return self._mw

  @property
  def goal(self):
    """The goal half of the observation: arm goal xyz + object goal xyz."""
    return np.concatenate([self.arm_goal, self.object_goal])

  def hand_pos(self):
    return np.array(self._mw.get_endeff_pos(), np.float64)

  def object_pos(self):
    return np.array(self._mw._get_pos_objects(), np.float64)  # pylint: disable=protected-access

  def state(self):
    """The state half of the observation: hand xyz + object xyz."""
    return np.concatenate([self.hand_pos(), self.object_pos()])

  def _observation(self):
    return np.concatenate([self.state(), self.goal]).astype(np.float32)

  def _instability_count(self):
    return sum(int(self._mw.data.warning[w].number)
               for w in _INSTABILITY_WARNINGS)

  def _sim_is_finite(self):
    data = self._mw.data
    return bool(np.all(np.isfinite(data.qpos)) and
                np.all(np.isfinite(data.qvel)) and
                np.all(np.isfinite(data.mocap_pos)))

  def step(self, action):
    warnings_before = self._instability_count()
    self._simulate(np.asarray(action, np.float64))
    observation = self._observation()
    blowup = (self._instability_count() > warnings_before
              or not self._sim_is_finite()
              or not np.all(np.isfinite(observation)))
    info = {gymnasium_adapter.PHYSICS_BLOWUP_KEY: blowup}
    return observation, 0.0, False, blowup, info

  def _simulate(self, action):
    """metaworld's step without its reward and 39-dim observation, which these tasks never use.

    They are five sixths of the cost of metaworld's step (555 + 100 of 950 us on
    push); the physics, the arm's action scaling and the goal sites are the same.
    """
    mw = self._mw
    mw.set_xyz_action(action[:3])
    mw.do_simulation([action[3], -action[3]], n_frames=mw.frame_skip)
    for site in mw._target_site_config:  # pylint: disable=protected-access
      mw._set_pos_site(*site)  # pylint: disable=protected-access
    # mj_step leaves body positions one substep behind the state; refresh them.
    self._forward()

  def _reset_sim(self, seed, hand_init_pos=None):
    """Resets metaworld (its step counter and the arm); reseeds if `seed` is given."""
    if seed is not None:
      self._rng = np.random.default_rng(seed)
      self._mw.seed(seed)
    if hand_init_pos is not None:
      self._mw.hand_init_pos = np.asarray(hand_init_pos, np.float64)
    self._mw.reset()

  def _forward(self):
    mujoco.mj_forward(self._mw.model, self._mw.data)

  def _set_goal_marker(self, position):
    """Puts metaworld's goal site (the drawn marker) at `position`."""
    site_name = self._mw._target_site_config[0][0]  # pylint: disable=protected-access
    self._mw.model.site(site_name).pos = position
    # metaworld re-places the site at _target_pos after every step.
    self._mw._target_pos = np.array(position, np.float64)  # pylint: disable=protected-access
    self._forward()

  def _set_joint(self, joint_name, value):
    joint = self._mw.data.joint(joint_name)
    joint.qpos[0] = value
    joint.qvel[0] = 0.0
    self._forward()

  def _object_pos_at(self, joint_name, value):
    """Where the object would be with `joint_name` at `value` (state is restored)."""
    saved = float(self._mw.data.joint(joint_name).qpos[0])
    self._set_joint(joint_name, value)
    position = self.object_pos()
    self._set_joint(joint_name, saved)
    return position

  def _arm_goal(self, arm_goal_type, object_init, sample_object_goal):
    if arm_goal_type == 'goal':
      return self.object_goal.copy()
    if arm_goal_type == 'puck':
      return object_init.copy()
    return sample_object_goal()

  def render(self):
    """An HxWx3 uint8 frame for videos, at full quality (needs MUJOCO_GL=osmesa or egl when headless)."""
    renderer = self._renderers.video(*self._render_size)
    renderer.update_scene(self._mw.data, camera=self._camera)
    return renderer.render().copy()

  def agent_frame(self, height=48, width=48):
    """The scene now as an agent sees it: an HxWx3 uint8 frame from AGENT_CAMERA, fast, without goal markers."""
    return self._agent_render(self._mw.data, height, width)

  def goal_frame(self, height=48, width=48):
    """An agent frame of the scene with the goal reached: the hand at arm_goal, the object at object_goal.

    The scene is posed in a copy of the simulation, so the task's own state
    is untouched. Where the arm goal is beyond the hand's reach (below the
    lowest point the arm can be commanded to, say), the hand stops at the
    nearest point it can reach.
    """
    return self._agent_render(self._goal_scene(), height, width)

  def _agent_render(self, data, height, width):
    renderer = self._renderers.agent(height, width)
    renderer.update_scene(data, camera=self._agent_camera,
                          scene_option=self._agent_option)
    return renderer.render()

  def _goal_scene(self):
    """A copy of the simulation (MjData) with the hand at arm_goal and the object at object_goal."""
    model, data = self._mw.model, self._mw.data
    if self._goal_data is None:
      self._goal_data = mujoco.MjData(model)
      arm = [model.joint(name).qposadr[0] for name in _ARM_JOINTS]
      self._object_qpos = np.setdiff1d(np.arange(model.nq), arm)
    goal = self._goal_data
    posing.copy_state(model, data, goal)
    # Within the box the arm's actions are clipped to.
    target = np.clip(self.arm_goal, self._mw.mocap_low, self._mw.mocap_high)
    posing.pull_with_mocap(model, goal, 'mocap', target, lambda scene: scene.body('hand').xpos,
                           target, self._mw.frame_skip)
    # The objects fell or slid while contacts were off: back as they were, then at the goal.
    goal.qpos[self._object_qpos] = data.qpos[self._object_qpos]
    goal.qvel[:] = 0.0
    self._place_object_at_goal(goal)
    mujoco.mj_forward(model, goal)
    return goal

  def _place_object_at_goal(self, goal_data):
    """Puts the puck (a free joint) at object_goal in `goal_data`, a copy of the simulation."""
    # object_pos() is the puck's centre of mass; the joint holds its frame's origin.
    offset = self.object_pos() - self._mw.data.joint(_PUCK_JOINT).qpos[:3]
    goal_data.joint(_PUCK_JOINT).qpos[:3] = self.object_goal - offset
    goal_data.joint(_PUCK_JOINT).qvel[:] = 0.0

  def close(self):
    self._renderers.close()
    self._mw.close()


class SawyerReach(SawyerTask):
  """Move the hand to a goal; the puck stays put and is its own (constant) goal."""

  METAWORLD_NAME = 'reach-v3'
  HAND_GOAL_LOW = (-0.1, 0.8, 0.05)
  HAND_GOAL_HIGH = (0.1, 0.9, 0.3)
  PUCK_XY = (0.0, 0.6)

  def reset(self, *, seed=None, options=None):
    del options
    self._reset_sim(seed)
    puck = self.object_pos()
    self._mw._set_obj_xyz(np.array([*self.PUCK_XY, puck[2]]))  # pylint: disable=protected-access
    self.arm_goal = self._rng.uniform(self.HAND_GOAL_LOW, self.HAND_GOAL_HIGH)
    # The puck is not part of the task: its goal is where it already is.
    self.object_goal = self.object_pos()
    self._set_goal_marker(self.arm_goal)
    return self._observation(), {}


class SawyerPush(SawyerTask):
  """Push the puck to a goal on the table (or, with fix_z=False, above it)."""

  METAWORLD_NAME = 'push-v3'
  HAND_INIT = (0.0, 0.6, 0.2)
  PUCK_INIT_XY = (0.0, 0.6)
  PUCK_INIT_LOW = (-0.1, 0.6)
  PUCK_INIT_HIGH = (0.1, 0.7)
  # The 2020 code's Meta-World drew the puck with a goal of its own and drew
  # again until the two were this far apart in xy; that goal was then replaced.
  PUCK_GOAL_MIN_XY_DISTANCE = 0.15
  GOAL_X = (-0.1, 0.1)
  GOAL_Y_HIGH = 0.9
  GOAL_Z = (0.05, 0.3)

  def __init__(self, seed=0, random_init=False, goal_y_low=0.8, **kwargs):
    self.random_init = random_init
    self.goal_low = np.array([self.GOAL_X[0], goal_y_low, self.GOAL_Z[0]])
    self.goal_high = np.array([self.GOAL_X[1], self.GOAL_Y_HIGH, self.GOAL_Z[1]])
    super().__init__(seed=seed, **kwargs)

  @gin.configurable(module='SawyerPush', denylist=config.denylist('SawyerPush.reset'))
  def reset(self, *, seed=None, options=None, arm_goal_type='random',
            fix_z=True):
    """Resets the arm and puck and samples the goals.

    Args:
      seed: reseeds the task when given.
      options: unused (gymnasium API).
      arm_goal_type: 'random', 'puck' or 'goal' (see the module docstring).
      fix_z: put the goals at the resting puck's height (on the table);
        otherwise their z is uniform in GOAL_Z. (The 2020 code defaulted to
        False; the paper's push runs all set True, the default here.)
    """
    del options
    _check_arm_goal_type('SawyerPush.reset.arm_goal_type', arm_goal_type)
    # As in the 2020 code, random_init moves the puck only: it never reached the hand.
    self._reset_sim(seed, hand_init_pos=self.HAND_INIT)
    puck_xy = self._random_puck_xy() if self.random_init else self.PUCK_INIT_XY
    table_z = self.object_pos()[2]
    self._mw._set_obj_xyz(np.array([*puck_xy, table_z]))  # pylint: disable=protected-access
    puck = self.object_pos()

    def sample_goal():
      goal = self._rng.uniform(self.goal_low, self.goal_high)
      if fix_z:
        goal[2] = table_z
      return goal

    self.object_goal = sample_goal()
    self.arm_goal = self._arm_goal(arm_goal_type, puck, sample_goal)
    self._set_goal_marker(self.object_goal)
    return self._observation(), {}

  def _random_puck_xy(self):
    """The 2020 puck start: uniform, redrawn with a discarded goal until the two are apart."""
    while True:
      puck_xy = self._rng.uniform(self.PUCK_INIT_LOW, self.PUCK_INIT_HIGH)
      discarded_goal = self._rng.uniform(self.goal_low, self.goal_high)
      if np.linalg.norm(puck_xy - discarded_goal[:2]) >= self.PUCK_GOAL_MIN_XY_DISTANCE:
        return puck_xy


class SawyerArticulated(SawyerTask):
  """A task whose object moves on one joint; goals are where the object is at a joint value."""

  JOINT = None  # the object's joint in metaworld's model
  INIT_RANGE = None  # where the joint starts, uniform
  GOAL_RANGE = None  # where the joint's goal is, uniform
  HAND_INIT = None  # where the hand starts; None: metaworld's default for the task

  def _place_body(self):
    """Puts the object's body where the task wants it (before sampling)."""

  def _sample_goal(self):
    """(joint value, object position) of a goal: the joint at a uniform value of GOAL_RANGE."""
    value = self._rng.uniform(*self.GOAL_RANGE)
    return value, self._object_pos_at(self.JOINT, value)

  def _reset_articulated(self, seed, binding, arm_goal_type):
    _check_arm_goal_type(binding, arm_goal_type)
    self._reset_sim(seed, hand_init_pos=self.HAND_INIT)
    self._place_body()
    self._set_joint(self.JOINT, self._rng.uniform(*self.INIT_RANGE))
    handle = self.object_pos()
    # The joint value is kept for goal_frame(), which poses the object by it.
    self._goal_joint, self.object_goal = self._sample_goal()
    self.arm_goal = self._arm_goal(arm_goal_type, handle, lambda: self._sample_goal()[1])
    self._set_goal_marker(self.object_goal)
    return self._observation(), {}

  def _place_object_at_goal(self, goal_data):
    goal_data.joint(self.JOINT).qpos[0] = self._goal_joint
    goal_data.joint(self.JOINT).qvel[0] = 0.0


class SawyerDrawer(SawyerArticulated):
  """Slide the drawer so its handle reaches a goal along y (open or close)."""

  METAWORLD_NAME = 'drawer-open-v3'
  JOINT = 'goal_slidey'
  # The whole joint range: the drawer starts anywhere from closed to open.
  INIT_RANGE = (-0.16, 0.0)
  GOAL_RANGE = (-0.16, 0.0)
  DRAWER_POS = (0.0, 0.9, 0.0)

  def _place_body(self):
    self._mw.model.body('drawer').pos = self.DRAWER_POS

  @gin.configurable(module='SawyerDrawer', denylist=config.denylist('SawyerDrawer.reset'))
  def reset(self, *, seed=None, options=None, arm_goal_type='puck'):
    """Resets the arm and drawer and samples the goals (arm_goal_type: module docstring)."""
    del options
    return self._reset_articulated(
        seed, 'SawyerDrawer.reset.arm_goal_type', arm_goal_type)


class SawyerWindow(SawyerArticulated):
  """Slide the window so its handle reaches a goal along x; the window's x is random.

  Goals, as the 2020 code drew them: the handle at x ~ U(-0.09, 0.09) in the 2020
  model's handle frame, independent of where the window is, so only about 40% of
  goals lie within the handle's travel (the rest: leave the window shut). With
  reachable_goals, the handle where the window is open by U(0, 0.2) instead.
  """

  METAWORLD_NAME = 'window-open-v3'
  JOINT = 'window_slide'
  INIT_RANGE = (0.0, 0.0)  # closed
  GOAL_RANGE = (0.0, 0.2)
  WINDOW_X = (-0.09, 0.09)
  WINDOW_YZ = (0.785, 0.16)
  HAND_INIT = (0.0, 0.6, 0.2)
  GOAL_X_2020 = (-0.09, 0.09)
  # The 2020 handle site sat this far to +x of the window body; here the
  # tracked site's offset is measured (about -0.038 m).
  HANDLE_OFFSET_2020 = 0.02

  def __init__(self, seed=0, reachable_goals=False, **kwargs):
    self.reachable_goals = reachable_goals
    super().__init__(seed=seed, **kwargs)

  def _place_body(self):
    x = self._rng.uniform(*self.WINDOW_X)
    self._mw.model.body('window').pos = (x, *self.WINDOW_YZ)

  def _sample_goal(self):
    if self.reachable_goals:
      return super()._sample_goal()
    closed = self._object_pos_at(self.JOINT, 0.0)
    handle_offset = closed[0] - self._mw.model.body('window').pos[0]
    # A 2020 goal g asks for the slide g - window - 0.02; here that slide puts
    # the handle at window + offset + slide = g + offset - 0.02.
    goal_x = self._rng.uniform(*self.GOAL_X_2020) + handle_offset - self.HANDLE_OFFSET_2020
    # The slide that puts the handle there, within the window's travel: an
    # out-of-reach goal's frame shows the window as near to it as it goes.
    slide = np.clip(goal_x - closed[0], *self._mw.model.joint(self.JOINT).range)
    return slide, np.array([goal_x, closed[1], closed[2]])

  @gin.configurable(module='SawyerWindow', denylist=config.denylist('SawyerWindow.reset'))
  def reset(self, *, seed=None, options=None, arm_goal_type='random'):
    """Resets the arm and window and samples the goals (arm_goal_type: module docstring)."""
    del options
    return self._reset_articulated(
        seed, 'SawyerWindow.reset.arm_goal_type', arm_goal_type)


class SawyerFaucet(SawyerArticulated):
  """Turn the faucet so its handle reaches a goal angle (both start and goal random)."""

  METAWORLD_NAME = 'faucet-open-v3'
  JOINT = 'knob_Joint_1'
  INIT_RANGE = (-np.pi / 2, np.pi / 2)
  GOAL_RANGE = (-np.pi / 2, np.pi / 2)
  BASE_POS = (0.0, 0.8, 0.0)
  HAND_INIT = (0.0, 0.6, 0.2)  # the 2020 code's (v3's default is (0, 0.4, 0.2))

  def _place_body(self):
    self._mw.model.body('faucetBase').pos = self.BASE_POS
    # metaworld draws this goal as a 5 mm dot; make it as visible as the
    # others, and hide its unused 'close' goal so one marker shows.
    self._mw.model.site('goal_open').size[0] = 0.02
    self._mw.model.site('goal_close').rgba[3] = 0.0

  @gin.configurable(module='SawyerFaucet', denylist=config.denylist('SawyerFaucet.reset'))
  def reset(self, *, seed=None, options=None, arm_goal_type='goal'):
    """Resets the arm and faucet and samples the goals (arm_goal_type: module docstring)."""
    del options
    return self._reset_articulated(
        seed, 'SawyerFaucet.reset.arm_goal_type', arm_goal_type)


class SawyerBin(SawyerTask):
  """Pick the block up from the red bin and put it at a goal in the blue bin.

  Contrastive RL's sawyer_bin (Eysenbach et al. 2022, google-research
  contrastive_rl/env_utils.py), on metaworld's bin picking. The block starts
  anywhere in the red bin, as there (see BLOCK_INIT_LOW). Goals
  (`goal_distribution`):
    'bin': the block resting on the blue bin's floor, its xy within 5 cm of
      the bin's centre in x and y: the spread contrastive RL's image version
      gave its goals about metaworld's one goal, the bin's centre.
    'contrastive_rl': contrastive RL's state-based goals: a point drawn
      uniformly on the segment from the block's start to the blue bin's centre
      (+- 5 cm in x, y, z), at a height of U(3, 12) cm: often in the air, above
      the red bin or between the bins.
  """

  METAWORLD_NAME = 'bin-picking-v3'
  GOAL_DISTRIBUTIONS = ('bin', 'contrastive_rl')
  # metaworld's start range for the block (obj_low, obj_high), from which
  # contrastive RL's starts came (metaworld's own random reset). It reaches
  # 2 cm into the red bin's x walls, which push such a block back inside
  # within a step or two; x is clipped to where the block fits instead.
  BLOCK_INIT_LOW = (-0.21, 0.65)
  BLOCK_INIT_HIGH = (-0.03, 0.75)
  SOURCE_BIN_XY = (-0.12, 0.7)  # body bin_start
  TARGET_BIN_XY = (0.12, 0.7)  # body bin_goal, metaworld's goal
  # A bin's inner walls are 9 cm from its centre and the block is 2 cm half-wide.
  BLOCK_FITS = 0.07
  GOAL_SPREAD = 0.05  # contrastive RL's jitter about the blue bin's centre
  CONTRASTIVE_RL_GOAL_Z = (0.03, 0.12)

  def __init__(self, seed=0, goal_distribution='bin', **kwargs):
    if goal_distribution not in self.GOAL_DISTRIBUTIONS:
      raise config.ConfigError(
          f'load_sawyer_bin.goal_distribution={goal_distribution!r} is not one of '
          f'{", ".join(repr(g) for g in self.GOAL_DISTRIBUTIONS)}.')
    self.goal_distribution = goal_distribution
    super().__init__(seed=seed, **kwargs)

  def _make_metaworld_env(self, seed):
    return _BIN_PICKING_GOAL_OBSERVABLE(seed=seed)

  @gin.configurable(module='SawyerBin', denylist=config.denylist('SawyerBin.reset'))
  def reset(self, *, seed=None, options=None, arm_goal_type='goal'):
    """Resets the arm and block and samples the goals (arm_goal_type: module docstring)."""
    del options
    _check_arm_goal_type('SawyerBin.reset.arm_goal_type', arm_goal_type)
    self._reset_sim(seed)
    block_xy = np.clip(self._rng.uniform(self.BLOCK_INIT_LOW, self.BLOCK_INIT_HIGH),
                       np.subtract(self.SOURCE_BIN_XY, self.BLOCK_FITS),
                       np.add(self.SOURCE_BIN_XY, self.BLOCK_FITS))
    floor_z = self.object_pos()[2]  # the block at rest on a bin's floor
    self._mw._set_obj_xyz(np.array([*block_xy, floor_z]))  # pylint: disable=protected-access
    block = self.object_pos()

    def sample_goal():
      if self.goal_distribution == 'bin':
        xy = self._rng.uniform(-self.GOAL_SPREAD, self.GOAL_SPREAD, 2) + self.TARGET_BIN_XY
        return np.array([*xy, floor_z])
      bin_point = (np.array([*self.TARGET_BIN_XY, 0.0])
                   + self._rng.uniform(-self.GOAL_SPREAD, self.GOAL_SPREAD, 3))
      along = self._rng.uniform()
      goal = along * bin_point + (1.0 - along) * block
      goal[2] = self._rng.uniform(*self.CONTRASTIVE_RL_GOAL_Z)
      return goal

    self.object_goal = sample_goal()
    self.arm_goal = self._arm_goal(arm_goal_type, block, sample_goal)
    self._set_goal_marker(self.object_goal)
    return self._observation(), {}

  def _place_object_at_goal(self, goal_data):
    """Puts the block (a free joint without a name) at object_goal, upright, in `goal_data`."""
    model = self._mw.model
    joint = model.body(_BIN_BLOCK_BODY).jntadr[0]
    # The observed block is its body's frame, which the joint's position sets.
    position, velocity = model.jnt_qposadr[joint], model.jnt_dofadr[joint]
    goal_data.qpos[position:position + 3] = self.object_goal
    goal_data.qpos[position + 3:position + 7] = (1.0, 0.0, 0.0, 0.0)
    goal_data.qvel[velocity:velocity + 6] = 0.0


@gin.configurable(denylist=config.denylist('load_sawyer_reach'))
def load_sawyer_reach(seed=0, max_episode_steps=50):
  """The reach task as a time-limited PyEnvironment."""
  return gymnasium_adapter.time_limited(SawyerReach(seed=seed),
                                        max_episode_steps)


@gin.configurable(denylist=config.denylist('load_sawyer_push'))
def load_sawyer_push(seed=0, max_episode_steps=151, random_init=False,
                     wide_goals=False):
  """The push task as a time-limited PyEnvironment.

  Args:
    seed: seeds metaworld and the task's goal sampling.
    max_episode_steps: episode length.
    random_init: randomise the puck's start (as the 2020 code did: its
      docstring promised the arm too, but the arm never moved); otherwise the
      puck starts at the same place every episode. The hand always starts at
      HAND_INIT.
    wide_goals: puck goals with y in [0.5, 0.9] instead of [0.8, 0.9] (y points
      from the robot across the table).
  """
  goal_y_low = 0.5 if wide_goals else 0.8
  task = SawyerPush(seed=seed, random_init=random_init, goal_y_low=goal_y_low)
  return gymnasium_adapter.time_limited(task, max_episode_steps)


@gin.configurable(denylist=config.denylist('load_sawyer_drawer'))
def load_sawyer_drawer(seed=0, max_episode_steps=151):
  """The drawer task as a time-limited PyEnvironment."""
  return gymnasium_adapter.time_limited(SawyerDrawer(seed=seed),
                                        max_episode_steps)


@gin.configurable(denylist=config.denylist('load_sawyer_window'))
def load_sawyer_window(seed=0, max_episode_steps=151, reachable_goals=False):
  """The window task as a time-limited PyEnvironment.

  reachable_goals: goals only within the handle's travel (the window open by
  U(0, 0.2)) instead of the 2020 code's, of which about 60% are out of reach.
  """
  return gymnasium_adapter.time_limited(SawyerWindow(seed=seed, reachable_goals=reachable_goals),
                                        max_episode_steps)


@gin.configurable(denylist=config.denylist('load_sawyer_faucet'))
def load_sawyer_faucet(seed=0, max_episode_steps=151):
  """The faucet task as a time-limited PyEnvironment."""
  return gymnasium_adapter.time_limited(SawyerFaucet(seed=seed),
                                        max_episode_steps)


@gin.configurable(denylist=config.denylist('load_sawyer_bin'))
def load_sawyer_bin(seed=0, max_episode_steps=150, goal_distribution='bin'):
  """The bin-picking task as a time-limited PyEnvironment.

  max_episode_steps: 150, contrastive RL's for sawyer_bin.
  goal_distribution: 'bin' (the block on the blue bin's floor) or
    'contrastive_rl' (contrastive RL's goals, often in the air; SawyerBin).
  """
  return gymnasium_adapter.time_limited(
      SawyerBin(seed=seed, goal_distribution=goal_distribution), max_episode_steps)
