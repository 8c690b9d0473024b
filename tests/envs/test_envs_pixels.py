"""Tests of pixel observations: agent and goal frames of the Sawyer tasks, the wrapper, loading, errors."""

import gin
import numpy as np
import pytest
from tf_agents.environments import tf_py_environment

from c_learning import config
from c_learning import envs
from c_learning import relabel
from c_learning.envs import pixels
from c_learning.envs import rendering
from c_learning.envs import sawyer
from tests.envs.test_envs_sawyer import needs_rendering

# mujoco picks its GL backend when first imported: after c_learning.envs, which
# chooses OSMesa where it exists, never before.
mujoco = sawyer.mujoco

pytestmark = pytest.mark.usefixtures('clear_gin')
ZERO_ACTION = np.zeros(4, np.float32)


def _pixel_env(env_name='sawyer_reach', seed=0, **settings):
  return envs.task_spec(env_name).pixel_load(seed=seed,
                                             settings=pixels.PixelSettings(**settings))


def _difference(a, b):
  """Mean absolute difference of two uint8 frames, in intensity levels."""
  return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


def _move_hand(task, target, steps=200):
  """Moves the task's hand to `target` (clipped to the mocap box, as actions are) by stepping the real simulation."""
  mw = task.metaworld_env
  mocap = mw.model.body_mocapid[mw.model.body('mocap').id]
  for _ in range(steps):
    mw.data.mocap_pos[mocap] = np.clip(target, mw.mocap_low, mw.mocap_high)
    mw.data.mocap_quat[mocap] = (1.0, 0.0, 1.0, 0.0)
    mw.do_simulation([-1.0, 1.0], mw.frame_skip)
  mujoco.mj_forward(mw.model, mw.data)


@needs_rendering
@pytest.mark.parametrize('settings, frame_shape, channels', [
    ({}, (48, 48), 3),
    ({'height': 84, 'width': 84, 'frame_stack': 3, 'grayscale': True}, (84, 84), 1),
])
def test_specs_and_observations_have_the_frame_shapes(settings, frame_shape, channels):
  py_env = _pixel_env(**settings)
  stack = settings.get('frame_stack', 1)
  spec = py_env.observation_spec()
  assert set(spec) == {'pixels', 'goal_pixels', 'state'}
  assert spec['pixels'].shape == frame_shape + (channels * stack,)
  assert spec['goal_pixels'].shape == frame_shape + (channels,)
  assert spec['state'].shape == (12,) and spec['state'].dtype == np.float32
  assert {key: value.name for key, value in spec.items()} == {key: key for key in spec}
  assert spec['pixels'].dtype == spec['goal_pixels'].dtype == np.uint8
  for time_step in (py_env.reset(), py_env.step(ZERO_ACTION)):
    for key, value in time_step.observation.items():
      assert value.shape == spec[key].shape and value.dtype == spec[key].dtype, key
  tf_env = tf_py_environment.TFPyEnvironment(py_env)
  observation = tf_env.reset().observation
  assert observation['pixels'].dtype.name == 'uint8'
  assert observation['pixels'].shape.as_list() == [1, *spec['pixels'].shape]


@needs_rendering
def test_stack_is_filled_at_reset_and_shifts_with_the_newest_frame_last():
  gin.parse_config(['load_sawyer_reach.max_episode_steps = 3'])
  py_env = _pixel_env(frame_stack=3)
  task = py_env.gym_env
  frames = lambda time_step: np.split(time_step.observation['pixels'], 3, axis=-1)
  first = frames(py_env.reset())
  assert all(np.array_equal(frame, first[0]) for frame in first)
  np.testing.assert_array_equal(first[-1], task.agent_frame())
  previous = first
  for step in range(1, 4):
    time_step = py_env.step(np.array([1.0, 0.0, 0.0, 0.0], np.float32))
    stacked = frames(time_step)
    np.testing.assert_array_equal(stacked[0], previous[1])
    np.testing.assert_array_equal(stacked[1], previous[2])
    np.testing.assert_array_equal(stacked[2], task.agent_frame())
    assert not np.array_equal(stacked[2], stacked[1])  # the hand moved
    assert time_step.is_last() == (step == 3)
    previous = stacked
  # The step after the last starts a new episode: its first frame fills the stack again.
  time_step = py_env.step(ZERO_ACTION)
  assert time_step.is_first()
  stacked = frames(time_step)
  assert all(np.array_equal(frame, stacked[0]) for frame in stacked)
  np.testing.assert_array_equal(time_step.observation['goal_pixels'], task.goal_frame())


@needs_rendering
@pytest.mark.parametrize('env_name', ['sawyer_reach', 'sawyer_push'])
def test_goal_frame_is_the_scene_with_the_goal_reached(env_name):
  py_env = _pixel_env(env_name)
  observation = py_env.reset().observation
  task = py_env.gym_env
  goal_frame = observation['goal_pixels']
  np.testing.assert_array_equal(goal_frame, task.goal_frame())
  away = _difference(observation['pixels'], goal_frame)
  assert away > 2.0
  # Reach the goal in the real simulation: the hand by the mocap (with
  # contacts on), then the puck (reach's goal for it: where it started).
  _move_hand(task, task.arm_goal)
  offset = task.object_pos() - task.metaworld_env.data.joint('objjoint').qpos[:3]
  task.metaworld_env._set_obj_xyz(task.object_goal - offset)  # pylint: disable=protected-access
  np.testing.assert_allclose(task.object_pos(), task.object_goal, atol=1e-6)
  reached = _difference(task.agent_frame(), goal_frame)
  assert reached < 0.5 * away, (reached, away)


@needs_rendering
@pytest.mark.parametrize('env_name', envs.PIXEL_ENV_NAMES)
def test_goal_scene_puts_hand_and_object_at_their_goals(env_name):
  task = envs.load_py_environment(env_name, seed=2).gym_env
  task.reset()
  scene = task._goal_scene()  # pylint: disable=protected-access
  mw = task.metaworld_env
  hand_goal = np.clip(task.arm_goal, mw.mocap_low, mw.mocap_high)
  np.testing.assert_allclose(scene.body('hand').xpos, hand_goal, atol=0.02)
  if isinstance(task, sawyer.SawyerArticulated):
    joint = scene.joint(task.JOINT).qpos[0]
    object_pos = task._object_pos_at(task.JOINT, joint)  # pylint: disable=protected-access
    if env_name != 'sawyer_window':  # the window's 2020 goals may be out of the handle's reach
      np.testing.assert_allclose(object_pos, task.object_goal, atol=1e-6)
  else:
    np.testing.assert_allclose(scene.body('obj').xipos, task.object_goal, atol=1e-6)
  assert _difference(task.goal_frame(), task.agent_frame()) > 0.5


@needs_rendering
def test_goal_rendering_leaves_the_episode_as_it_was():
  plain, rendered = (envs.load_py_environment('sawyer_push', seed=5) for _ in range(2))
  rng = np.random.default_rng(0)
  plain.reset()
  rendered.reset()
  for step in range(15):
    if step % 5 == 0:
      rendered.gym_env.goal_frame()
      rendered.gym_env.agent_frame()
    action = rng.uniform(-1, 1, 4).astype(np.float32)
    expected, observed = plain.step(action), rendered.step(action)
    np.testing.assert_array_equal(observed.observation, expected.observation)
  for name in ('qpos', 'qvel', 'act', 'mocap_pos', 'mocap_quat', 'qacc_warmstart', 'time'):
    np.testing.assert_array_equal(getattr(rendered.gym_env.metaworld_env.data, name),
                                  getattr(plain.gym_env.metaworld_env.data, name), name)


@needs_rendering
def test_state_is_the_state_tasks_observation():
  gin.parse_config(['load_sawyer_push.max_episode_steps = 4'])
  state_env = envs.load_py_environment('sawyer_push', seed=3)
  pixel_env = envs.load_py_environment('sawyer_push', seed=3, observations='pixels')
  rng = np.random.default_rng(1)
  expected, observed = state_env.reset(), pixel_env.reset()
  for _ in range(10):  # across an episode's end and the next reset
    np.testing.assert_array_equal(observed.observation['state'], expected.observation)
    assert observed.step_type == expected.step_type
    action = rng.uniform(-1, 1, 4).astype(np.float32)
    expected, observed = state_env.step(action), pixel_env.step(action)


@needs_rendering
def test_a_physics_blowup_keeps_the_last_frames():
  py_env = _pixel_env(frame_stack=2)
  py_env.reset()
  before = py_env.step(np.array([0.5, 0.5, 0.0, 0.0], np.float32)).observation
  time_step = py_env.step(np.full(4, np.nan, np.float32))  # a blow-up, as in test_envs_sawyer
  assert time_step.is_last() and py_env.physics_blowups == 1
  for key in ('pixels', 'goal_pixels', 'state'):
    np.testing.assert_array_equal(time_step.observation[key], before[key])
  time_step = py_env.step(ZERO_ACTION)
  assert time_step.is_first()
  np.testing.assert_array_equal(time_step.observation['pixels'][..., 3:],
                                py_env.gym_env.agent_frame())


@needs_rendering
def test_agent_frames_do_not_show_the_goal_marker():
  task = envs.load_py_environment('sawyer_reach').gym_env
  before, video_before = task.agent_frame(), task.render()
  task._set_goal_marker(task.arm_goal + np.array([0.1, -0.15, 0.05]))  # pylint: disable=protected-access
  np.testing.assert_array_equal(task.agent_frame(), before)
  assert not np.array_equal(task.render(), video_before)  # videos still show it


@needs_rendering
def test_agent_renderer_leaves_the_video_settings_alone():
  task = envs.load_py_environment('sawyer_reach').gym_env
  quality = task.metaworld_env.model.vis.quality
  settings = (quality.offsamples, quality.shadowsize)
  task.agent_frame(32, 40)
  assert (quality.offsamples, quality.shadowsize) == settings
  renderer = task._renderers.agent(32, 40)  # pylint: disable=protected-access
  for flag in ('mjRND_SHADOW', 'mjRND_REFLECTION', 'mjRND_SKYBOX'):
    assert not renderer.scene.flags[getattr(mujoco.mjtRndFlag, flag)]
  assert task.agent_frame(32, 40).shape == (32, 40, 3)


@needs_rendering
def test_closing_one_task_leaves_another_tasks_frames_intact():
  kept, closed = (envs.load_py_environment('sawyer_reach').gym_env for _ in range(2))
  closed.agent_frame()
  frame = kept.agent_frame()  # kept's GL context is the current one now
  closed.close()  # mujoco's own close would delete kept's textures here
  np.testing.assert_array_equal(kept.agent_frame(), frame)


@needs_rendering
def test_parallel_pixel_envs_in_worker_processes():
  gin.parse_config(['pixel_observations.frame_stack = 2'])
  train_env, eval_env, state_dim = envs.load('sawyer_reach', observations='pixels',
                                             num_train_envs=2)
  try:
    assert state_dim == 6
    assert train_env.observation_spec()['pixels'].shape.as_list() == [48, 48, 6]
    assert eval_env.observation_spec() == train_env.observation_spec()
    observation = train_env.reset().observation
    assert observation['pixels'].shape.as_list() == [2, 48, 48, 6]
    assert observation['state'].shape.as_list() == [2, 12]
    goals = observation['goal_pixels'].numpy()
    assert not np.array_equal(goals[0], goals[1])  # differently seeded tasks
    time_step = train_env.step(np.ones([2, 4], np.float32))
    assert time_step.observation['pixels'].dtype.name == 'uint8'
  finally:
    train_env.close()


def test_config_errors_are_one_line():
  cases = [
      (lambda: envs.load('sawyer_reach', observations='rgb'), "'state', 'pixels'"),
      (lambda: envs.load_py_environment('point_mass', observations='pixels'),
       ', '.join(envs.PIXEL_ENV_NAMES)),
      (lambda: envs.load('sawyer_push', observations='pixels',
                         goal_slice=relabel.GoalSlice(3, 6)), 'whole frame'),
      (lambda: pixels.PixelSettings(height=8), 'pixel_observations.height=8: must be'),
      (lambda: pixels.PixelSettings(width=300), 'pixel_observations.width=300: must be'),
      (lambda: pixels.PixelSettings(frame_stack=0), 'pixel_observations.frame_stack=0'),
      (lambda: pixels.PixelSettings(grayscale='yes'), "pixel_observations.grayscale='yes'"),
  ]
  for make, named in cases:
    with pytest.raises(config.ConfigError) as error:
      make()
    message = str(error.value)
    assert named in message and '\n' not in message, message
  # Through gin, as a run sets it: gin adds its own lines below the first.
  gin.parse_config(['pixel_observations.height = 512'])
  with pytest.raises(config.ConfigError) as error:
    envs.load_py_environment('sawyer_reach', observations='pixels')
  assert config.first_line(error.value).startswith('pixel_observations.height=512: must be')


def test_a_machine_that_cannot_render_fails_with_one_line(monkeypatch):
  def no_gl(*args, **kwargs):
    raise mujoco.FatalError('an OpenGL platform library has not been loaded into this process')
  monkeypatch.setattr(rendering, 'Renderer', no_gl)
  with pytest.raises(config.ConfigError) as error:
    envs.load_py_environment('sawyer_reach', observations='pixels')
  message = str(error.value)
  assert 'MUJOCO_GL' in message and 'libosmesa6' in message and '\n' not in message


def test_pixel_tasks_are_the_sawyer_tasks():
  assert envs.PIXEL_ENV_NAMES == sorted(name for name in envs.ENV_NAMES
                                        if name.startswith('sawyer_'))
  assert not envs.task_spec('point_mass').has_pixels
  assert pixels.pixel_observations() == pixels.PixelSettings(48, 48, 1, False)
