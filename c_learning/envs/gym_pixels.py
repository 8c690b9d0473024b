"""Agent and goal frames of gymnasium-robotics' Fetch tasks ('gym:Fetch*' pixel observations).

Agent frames come from a fixed camera over the table, rendered with the fast
settings of c_learning.envs.rendering, as the Sawyer tasks' (no shadows,
reflections, skybox or multisampling), without sites, so the target marker never shows (the goal
arrives as a frame of its own), and without the mocap's crosshair. A goal
frame is an agent frame of a copy of the simulation with the goal reached:
the gripper at the goal for Reach, the object at the goal for Push, Slide and
PickAndPlace (the arm as it is: at an episode's start, where it starts).
"""
import importlib.util

import mujoco
import numpy as np

from c_learning.envs import posing
from c_learning.envs import rendering

# The Fetch tasks on the official mujoco bindings (v1 needs mujoco-py); each
# also renders as its Dense-reward variant, e.g. FetchReachDense-v4.
FETCH_IDS = ('FetchReach-v4', 'FetchPush-v4', 'FetchSlide-v4', 'FetchPickAndPlace-v4')

# Fixed cameras from across the table, as Fetch's default external view, but
# facing the robot (azimuth 180, not 132), nearer and steeper, so that at
# 48x48 the table's working area fills the frame (gripper, object, and goals
# up to PickAndPlace's 0.45 m above the table) and the arm, seen edge-on,
# hides the least of it. Slide's goals lie up to 0.7 m beyond the gripper.
CAMERA = dict(lookat=(1.3, 0.75, 0.55), distance=1.0, azimuth=180.0, elevation=-45.0)
SLIDE_CAMERA = dict(lookat=(1.25, 0.75, 0.45), distance=1.3, azimuth=180.0, elevation=-55.0)
_GRIP_SITE = 'robot0:grip'  # Reach's achieved goal
_GRIPPER_BODY = 'robot0:gripper_link'  # what the mocap weld pulls
_MOCAP_BODY = 'robot0:mocap'
_OBJECT_JOINT = 'object0:joint'
_OBJECT_SITE = 'object0'  # the other tasks' achieved goal


def renders_goal_frames(env):
  """Whether the gymnasium env `env` (wrappers and all) is a Fetch task that FetchFrames renders."""
  if importlib.util.find_spec('gymnasium_robotics') is None:
    return False  # then no Fetch task can have been made
  from gymnasium_robotics.envs.fetch import fetch_env  # pylint: disable=g-import-not-at-top
  return isinstance(env.unwrapped, fetch_env.MujocoFetchEnv)


def camera_settings(fetch_env):
  """The agent camera (free camera settings) of a Fetch task: SLIDE_CAMERA for Slide, else CAMERA."""
  from gymnasium_robotics.envs.fetch import slide  # pylint: disable=g-import-not-at-top
  return SLIDE_CAMERA if isinstance(fetch_env, slide.MujocoFetchSlideEnv) else CAMERA


class FetchFrames:
  """Agent, goal and video frames of a Fetch task (a gymnasium_robotics MujocoFetchEnv)."""

  def __init__(self, fetch_env):
    self._env = fetch_env
    model = fetch_env.model
    self._camera = rendering.free_camera(camera_settings(fetch_env))
    self._option = mujoco.MjvOption()
    self._option.sitegroup[:] = 0  # the target marker would give the goal away
    # The mocap's crosshair (faint bars 2 m long) would mark the goal in Reach's goal frames.
    self._mocap_geoms = np.flatnonzero(model.geom_bodyid == model.body(_MOCAP_BODY).id)
    self._renderers = rendering.TaskRenderers(model)
    self._video_camera = rendering.free_camera(fetch_env.mujoco_renderer.default_cam_config)
    self._goal_data = None  # the copy of the simulation that goal_frame() poses

  def agent_frame(self, height=48, width=48):
    """The scene now: an HxWx3 uint8 frame from the fixed camera, fast, no target marker."""
    return self._render(self._env.data, height, width)

  def goal_frame(self, height=48, width=48):
    """An agent frame of the scene with the task's desired_goal reached (the task is untouched)."""
    return self._render(self._goal_scene(), height, width)

  def video_frame(self):
    """The scene now at full quality from Fetch's default view, target shown (for videos)."""
    env = self._env
    renderer = self._renderers.video(env.height, env.width)
    if np.size(env.goal):  # there is no goal before the first reset
      # Where Fetch's own render() puts the target marker: at the goal.
      env._render_callback()  # pylint: disable=protected-access
    renderer.update_scene(env.data, camera=self._video_camera)
    return renderer.render().copy()

  def _render(self, data, height, width):
    renderer = self._renderers.agent(height, width)  # config.ConfigError where there is no OpenGL
    rgba = self._env.model.geom_rgba
    alpha = rgba[self._mocap_geoms, 3].copy()
    # The scene copies colours in update_scene: only agent frames lose the crosshair.
    rgba[self._mocap_geoms, 3] = 0.0
    try:
      renderer.update_scene(data, camera=self._camera, scene_option=self._option)
    finally:
      rgba[self._mocap_geoms, 3] = alpha
    return renderer.render()

  def _goal_scene(self):
    """A copy of the simulation (MjData) whose achieved goal is the desired goal."""
    model, data = self._env.model, self._env.data
    if self._goal_data is None:
      self._goal_data = mujoco.MjData(model)
    scene = self._goal_data
    posing.copy_state(model, data, scene)
    goal = np.asarray(self._env.goal, np.float64)
    if self._env.has_object:
      # The achieved goal is the object's site; its joint holds the body's origin.
      offset = data.site(_OBJECT_SITE).xpos - data.joint(_OBJECT_JOINT).qpos[:3]
      scene.joint(_OBJECT_JOINT).qpos[:3] = goal - offset
      scene.joint(_OBJECT_JOINT).qvel[:] = 0.0
    else:
      self._pose_gripper(scene, goal)
    mujoco.mj_forward(model, scene)
    return scene

  def _pose_gripper(self, scene, goal):
    """Steps `scene` until the grip site is at `goal`, pulled by the mocap as actions pull it."""
    # The weld pulls the gripper link onto the mocap; the grip site sits a
    # fixed offset from it (the gripper never turns).
    offset = scene.body(_GRIPPER_BODY).xpos - scene.site(_GRIP_SITE).xpos
    posing.pull_with_mocap(self._env.model, scene, _MOCAP_BODY, goal + offset,
                           lambda pose: pose.site(_GRIP_SITE).xpos, goal, self._env.n_substeps)
    scene.qvel[:] = 0.0

  def close(self):
    self._renderers.close()
