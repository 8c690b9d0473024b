"""Pixel observations of gymnasium-robotics' Fetch tasks ('gym:Fetch*'): frames, goal frames, loading, errors."""
import gin
import numpy as np
import pytest

from c_learning import config
from c_learning import envs
from c_learning.envs import gym_goal
from c_learning.envs import gym_pixels
from c_learning.envs import pixels
from tests import train_eval_helpers as helpers
from tests import test_pixel_runs
from tests.envs.test_envs_sawyer import needs_rendering

# mujoco picks its GL backend when first imported: after c_learning.envs.
mujoco = gym_pixels.mujoco

pytestmark = [pytest.mark.usefixtures('clear_gin'), needs_rendering]
ZERO_ACTION = np.zeros(4, np.float32)


def _pixel_env(env_name, seed=0, **settings):
  return envs.task_spec(env_name).pixel_load(seed=seed,
                                             settings=pixels.PixelSettings(**settings))


def _difference(a, b):
  """Mean absolute difference of two uint8 frames, in intensity levels."""
  return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


def test_fetch_reach_loads_with_pixel_observations():
  train_env, eval_env, state_dim = envs.load('gym:FetchReach-v4', observations='pixels')
  try:
    spec = train_env.observation_spec()
    assert state_dim == 13
    assert spec['pixels'].shape.as_list() == [48, 48, 3]
    assert spec['goal_pixels'].shape.as_list() == [48, 48, 3]
    assert spec['pixels'].dtype.name == spec['goal_pixels'].dtype.name == 'uint8'
    assert spec['state'].shape.as_list() == [16] and spec['state'].dtype.name == 'float32'
    assert eval_env.observation_spec() == spec
    first = train_env.reset().observation
    time_step = train_env.step(np.ones([1, 4], np.float32))
    assert time_step.observation['pixels'].shape.as_list() == [1, 48, 48, 3]
    assert not np.array_equal(time_step.observation['pixels'], first['pixels'])  # the arm moved
    np.testing.assert_array_equal(time_step.observation['goal_pixels'], first['goal_pixels'])
  finally:
    train_env.close()
    eval_env.close()


def test_reach_goal_frame_shows_the_gripper_at_the_goal_and_follows_it():
  py_env = _pixel_env('gym:FetchReach-v4', seed=1)
  task = py_env.gym_env
  fetch = task.unwrapped
  flags = fetch.model.opt.disableflags
  goal_frames = []
  for _ in range(2):
    observation = py_env.reset().observation
    goal_frames.append(observation['goal_pixels'])
    assert _difference(observation['pixels'], observation['goal_pixels']) > 2.0
    scene = task._frames._goal_scene()  # pylint: disable=protected-access
    np.testing.assert_allclose(scene.site('robot0:grip').xpos, fetch.goal, atol=2e-3)
  assert _difference(goal_frames[0], goal_frames[1]) > 1.0  # a new goal, a new frame
  assert fetch.model.opt.disableflags == flags  # contacts are back on for the task
  # Driving the real gripper to the goal makes the agent's frame the goal frame.
  away = _difference(task.agent_frame(), goal_frames[1])
  grip = observation['state'][:3]
  for _ in range(30):
    action = np.append(np.clip(10.0 * (fetch.goal - grip), -1, 1), 0.0).astype(np.float32)
    grip = py_env.step(action).observation['state'][:3]
  assert np.linalg.norm(grip - fetch.goal) < 0.01
  reached = _difference(task.agent_frame(), goal_frames[1])
  assert reached < 0.3 * away, (reached, away)


@pytest.mark.parametrize('env_name', ['gym:FetchPush-v4', 'gym:FetchPickAndPlace-v4',
                                      'gym:FetchSlide-v4'])
def test_goal_frame_shows_the_object_at_the_goal(env_name):
  py_env = _pixel_env(env_name, seed=3, height=84, width=84)
  observation = py_env.reset().observation
  task = py_env.gym_env
  fetch = task.unwrapped
  assert _difference(observation['pixels'], observation['goal_pixels']) > 0.1  # the object moved
  # The same move in the real simulation: the agent then sees the goal frame.
  joint = fetch.data.joint('object0:joint')
  joint.qpos[:3] += fetch.goal - fetch.data.site('object0').xpos
  mujoco.mj_forward(fetch.model, fetch.data)
  np.testing.assert_allclose(fetch.data.site('object0').xpos, fetch.goal, atol=1e-9)
  assert _difference(task.agent_frame(84, 84), observation['goal_pixels']) < 0.01


def test_state_is_the_state_runs_observation():
  state_env = envs.load_py_environment('gym:FetchPush-v4', seed=4)
  pixel_env = envs.load_py_environment('gym:FetchPush-v4', seed=4, observations='pixels')
  rng = np.random.default_rng(0)
  expected, observed = state_env.reset(), pixel_env.reset()
  for _ in range(55):  # across an episode's end (50 steps) and the next reset
    np.testing.assert_array_equal(observed.observation['state'], expected.observation)
    assert observed.step_type == expected.step_type
    action = rng.uniform(-1, 1, 4).astype(np.float32)
    expected, observed = state_env.step(action), pixel_env.step(action)


def test_agent_frames_hide_the_target_and_videos_do_not_spoil_them():
  py_env = _pixel_env('gym:FetchReach-v4')
  py_env.reset()
  task = py_env.gym_env
  before = task.agent_frame()
  video = task.render()  # the full-quality frame, target marker shown
  assert video.shape == (480, 480, 3) and video.std() > 10.0
  np.testing.assert_array_equal(task.agent_frame(), before)  # same GL state after a video frame
  fetch = task.unwrapped
  fetch.goal = fetch.goal + np.array([0.0, 0.1, 0.05])
  np.testing.assert_array_equal(task.agent_frame(), before)  # the marker is not drawn
  assert not np.array_equal(task.render(), video)  # videos show it
  task.close()


def test_gin_selects_the_frames():
  gin.parse_config(['pixel_observations.height = 84', 'pixel_observations.width = 64',
                    'pixel_observations.frame_stack = 2', 'pixel_observations.grayscale = True'])
  py_env = envs.load_py_environment('gym:FetchPush-v4', observations='pixels')
  spec = py_env.observation_spec()
  assert spec['pixels'].shape == (84, 64, 2) and spec['goal_pixels'].shape == (84, 64, 1)
  observation = py_env.step(ZERO_ACTION).observation
  assert observation['pixels'].shape == (84, 64, 2) and observation['state'].shape == (31,)


def test_which_gym_ids_have_pixels():
  for env_id in gym_goal.PIXEL_IDS + ('FetchReachDense-v4',):
    assert envs.task_spec('gym:' + env_id).has_pixels, env_id
  # A goal environment that is not a Fetch task has no goal frames.
  assert not envs.task_spec('gym:PointMaze_UMaze-v3').has_pixels
  with pytest.raises(config.ConfigError) as error:
    envs.load_py_environment('gym:PointMaze_UMaze-v3', observations='pixels')
  message = str(error.value)
  assert 'gym:PointMaze_UMaze-v3 has no pixel observations' in message and '\n' not in message
  assert 'gym:FetchPush-v4' in message and 'dmc:<domain>' in message


@pytest.mark.slow  # about 25 s
def test_a_fetch_reach_pixel_run_trains_and_evaluates(tmp_path):
  bindings = [binding for binding in test_pixel_runs.PIXEL_RUN if 'load_sawyer' not in binding]
  result = helpers.run(tmp_path, ['gin/fetch_reach.gin', 'gin/setups/pixels.gin'], bindings + [
      'train_eval.num_iterations = 10', 'train_eval.initial_collect_steps = 60'])
  assert 0.0 <= result['SuccessRate'] <= 1.0 and np.isfinite(result['FinalDistance'])
