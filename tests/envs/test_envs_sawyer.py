"""Tests of the Sawyer tasks: time limit, goals, gin knobs, blow-ups, rendering."""
import ctypes.util
import logging
import os

import gin
import numpy as np
import pytest

from c_learning import envs
from c_learning.envs import sawyer

SAWYER_NAMES = [name for name in envs.ENV_NAMES if name.startswith('sawyer_')]
LOADERS = {
    'sawyer_reach': sawyer.load_sawyer_reach,
    'sawyer_push': sawyer.load_sawyer_push,
    'sawyer_drawer': sawyer.load_sawyer_drawer,
    'sawyer_window': sawyer.load_sawyer_window,
    'sawyer_faucet': sawyer.load_sawyer_faucet,
    'sawyer_bin': sawyer.load_sawyer_bin,
}
ZERO_ACTION = np.zeros(4, np.float32)


pytestmark = pytest.mark.usefixtures('clear_gin')


def _resets(py_env, count):
  """The first observation and the task's goal of `count` episodes."""
  episodes = []
  for _ in range(count):
    observation = py_env.reset().observation
    episodes.append((observation, py_env.gym_env.goal.copy()))
  return episodes


@pytest.mark.parametrize('env_name', SAWYER_NAMES)
def test_episode_ends_last_at_exactly_max_episode_steps(env_name):
  gin.parse_config([f'load_{env_name}.max_episode_steps = 20'])
  py_env = envs.load_py_environment(env_name)
  rng = np.random.default_rng(0)
  for _ in range(2):
    time_step = py_env.reset()
    for step in range(1, 21):
      time_step = py_env.step(rng.uniform(-1, 1, 4).astype(np.float32))
      assert time_step.discount == 1.0
      assert time_step.reward == 0.0
      assert time_step.is_last() == (step == 20)


def test_default_episode_lengths():
  assert envs.load_py_environment('sawyer_reach').duration == 50
  for env_name in ['sawyer_push', 'sawyer_drawer', 'sawyer_window',
                   'sawyer_faucet']:
    assert envs.load_py_environment(env_name).duration == 151
  assert envs.load_py_environment('sawyer_bin').duration == 150  # contrastive RL's
  assert envs.load_py_environment('point_mass').duration == 50


def test_many_episodes_never_hit_metaworld_path_limit():
  # 4 x 151 steps is past metaworld's 500-step limit, which raises if hit.
  py_env = envs.load_py_environment('sawyer_drawer')
  metaworld_env = py_env.gym_env.metaworld_env
  for _ in range(4):
    time_step = py_env.reset()
    assert metaworld_env.curr_path_length == 0
    steps = 0
    while not time_step.is_last():
      time_step = py_env.step(ZERO_ACTION)
      steps += 1
      assert time_step.discount == 1.0
    assert steps == 151


@pytest.mark.parametrize('env_name', SAWYER_NAMES)
def test_observation_is_state_then_goal(env_name):
  py_env = envs.load_py_environment(env_name)
  task = py_env.gym_env
  for reset in (True, False, False, True):
    time_step = py_env.reset() if reset else py_env.step(ZERO_ACTION)
    observation = time_step.observation
    assert observation.dtype == np.float32 and observation.shape == (12,)
    np.testing.assert_allclose(observation[:3], task.hand_pos(), atol=1e-6)
    np.testing.assert_allclose(observation[3:6], task.object_pos(), atol=1e-6)
    np.testing.assert_allclose(observation[6:], task.goal, atol=1e-6)


@pytest.mark.parametrize('env_name', SAWYER_NAMES)
def test_goal_marker_is_the_sampled_goal(env_name):
  py_env = envs.load_py_environment(env_name)
  task = py_env.gym_env
  metaworld_env = task.metaworld_env
  site = metaworld_env._target_site_config[0][0]  # pylint: disable=protected-access
  for _ in range(2):
    py_env.reset()
    marked = task.arm_goal if env_name == 'sawyer_reach' else task.object_goal
    np.testing.assert_allclose(metaworld_env.data.site(site).xpos, marked,
                               atol=1e-9)
    py_env.step(ZERO_ACTION)
    np.testing.assert_allclose(metaworld_env.data.site(site).xpos, marked,
                               atol=1e-9)


def test_reach_object_goal_is_the_resting_puck():
  py_env = envs.load_py_environment('sawyer_reach')
  for observation, goal in _resets(py_env, 3):
    np.testing.assert_allclose(goal[3:], observation[3:6], atol=1e-6)
    assert np.all(goal[:3] >= sawyer.SawyerReach.HAND_GOAL_LOW)
    assert np.all(goal[:3] <= sawyer.SawyerReach.HAND_GOAL_HIGH)


@pytest.mark.parametrize('fix_z', [True, False])
def test_push_fix_z_puts_goals_on_the_table(fix_z):
  gin.parse_config([f'SawyerPush.reset.fix_z = {fix_z}',
                    'SawyerPush.reset.arm_goal_type = "random"'])
  py_env = envs.load_py_environment('sawyer_push')
  for observation, goal in _resets(py_env, 10):
    table_z = observation[5]  # the resting puck's height
    on_table = np.isclose(goal[[2, 5]], table_z, atol=1e-6)
    assert np.all(on_table) if fix_z else not np.any(on_table)


@pytest.mark.parametrize('wide_goals, y_low', [(False, 0.8), (True, 0.5)])
def test_push_wide_goals_widens_the_y_range(wide_goals, y_low):
  gin.parse_config([f'load_sawyer_push.wide_goals = {wide_goals}'])
  py_env = envs.load_py_environment('sawyer_push')
  goal_y = np.array([goal[4] for _, goal in _resets(py_env, 40)])
  assert np.all(goal_y >= y_low) and np.all(goal_y <= 0.9)
  # The sampled range covers most of [y_low, 0.9].
  assert goal_y.min() < y_low + 0.1 * (0.9 - y_low)
  assert goal_y.max() > 0.9 - 0.1 * (0.9 - y_low)


@pytest.mark.parametrize('random_init', [False, True])
def test_push_random_init_randomises_the_puck_only(random_init):
  # As the 2020 code did: its random_init never reached the arm.
  gin.parse_config([f'load_sawyer_push.random_init = {random_init}'])
  py_env = envs.load_py_environment('sawyer_push')
  starts = np.array([observation[:6] for observation, _ in _resets(py_env, 6)])
  spread = starts.max(axis=0) - starts.min(axis=0)
  np.testing.assert_allclose(spread[:3], 0.0, atol=1e-3)  # the hand
  if random_init:
    assert np.all(spread[3:5] > 0.01)
    assert np.all(starts[:, 3] >= -0.1 - 1e-3) and np.all(starts[:, 3] <= 0.1 + 1e-3)
    assert np.all(starts[:, 4] >= 0.6 - 1e-3) and np.all(starts[:, 4] <= 0.7 + 1e-3)
  else:
    np.testing.assert_allclose(spread, 0.0, atol=1e-6)


ARM_GOAL_TASKS = [('sawyer_push', 'SawyerPush'),
                  ('sawyer_drawer', 'SawyerDrawer'),
                  ('sawyer_window', 'SawyerWindow'),
                  ('sawyer_faucet', 'SawyerFaucet'),
                  ('sawyer_bin', 'SawyerBin')]


@pytest.mark.parametrize('env_name, class_name', ARM_GOAL_TASKS)
@pytest.mark.parametrize('arm_goal_type', ['goal', 'puck', 'random'])
def test_arm_goal_type(env_name, class_name, arm_goal_type):
  gin.parse_config([f'{class_name}.reset.arm_goal_type = "{arm_goal_type}"'])
  py_env = envs.load_py_environment(env_name)
  for observation, goal in _resets(py_env, 5):
    arm_goal, object_goal, object_init = goal[:3], goal[3:], observation[3:6]
    if arm_goal_type == 'goal':
      np.testing.assert_allclose(arm_goal, object_goal)
    elif arm_goal_type == 'puck':
      np.testing.assert_allclose(arm_goal, object_init, atol=1e-6)
    else:
      assert not np.allclose(arm_goal, object_goal)
      assert not np.allclose(arm_goal, object_init)


@pytest.mark.parametrize('env_name, class_name', ARM_GOAL_TASKS)
def test_bad_arm_goal_type_fails_naming_the_binding(env_name, class_name):
  gin.parse_config([f'{class_name}.reset.arm_goal_type = "hand"'])
  with pytest.raises(ValueError) as error:
    envs.load_py_environment(env_name)
  first_line = str(error.value).splitlines()[0]
  assert first_line.startswith(f"{class_name}.reset.arm_goal_type='hand'")
  assert "'random', 'puck', 'goal'" in first_line


def test_drawer_goal_and_start_move_along_y_only():
  py_env = envs.load_py_environment('sawyer_drawer')
  episodes = _resets(py_env, 20)
  starts = np.array([observation[3:6] for observation, _ in episodes])
  goals = np.array([goal[3:] for _, goal in episodes])
  # x and z of the handle never change; y spans the drawer's travel.
  np.testing.assert_allclose(goals[:, [0, 2]], starts[:, [0, 2]], atol=1e-6)
  for y in (starts[:, 1], goals[:, 1]):
    assert y.max() - y.min() > 0.1 and y.max() - y.min() <= 0.16 + 1e-6


def test_window_goals_are_the_2020_codes_independent_of_the_window():
  py_env = envs.load_py_environment('sawyer_window')
  episodes = _resets(py_env, 200)
  starts = np.array([observation[3:6] for observation, _ in episodes])
  goals = np.array([goal[3:] for _, goal in episodes])
  assert starts[:, 0].max() - starts[:, 0].min() > 0.15  # the window x ~ U(-0.09, 0.09)
  np.testing.assert_allclose(goals[:, 1:], starts[:, 1:], atol=1e-6)  # along x only
  # The handle's closed x is the window's - 0.038; a 2020 goal g ~ U(-0.09, 0.09) maps to
  # g - 0.058, whatever the window's x, so goal x spans [-0.148, 0.032].
  assert goals[:, 0].min() >= -0.148 - 1e-3 and goals[:, 0].max() <= 0.032 + 1e-3
  assert goals[:, 0].max() - goals[:, 0].min() > 0.15
  # Within the handle's travel for about 40% of goals: P(g - window >= 0.02) = 0.395.
  travel = goals[:, 0] - starts[:, 0]
  reachable = np.mean((travel >= -1e-6) & (travel <= 0.2 + 1e-6))
  assert 0.3 < reachable < 0.5, reachable


def test_window_reachable_goals_lie_within_the_handles_travel():
  gin.parse_config(['load_sawyer_window.reachable_goals = True'])
  py_env = envs.load_py_environment('sawyer_window')
  episodes = _resets(py_env, 20)
  starts = np.array([observation[3:6] for observation, _ in episodes])
  goals = np.array([goal[3:] for _, goal in episodes])
  assert starts[:, 0].max() - starts[:, 0].min() > 0.1
  np.testing.assert_allclose(goals[:, 1:], starts[:, 1:], atol=1e-6)
  travel = goals[:, 0] - starts[:, 0]
  assert np.all(travel >= -1e-6) and np.all(travel <= 0.2 + 1e-6)


def _bin_episodes(count, seed=0):
  """(block start, goal) of `count` sawyer_bin episodes."""
  py_env = envs.load_py_environment('sawyer_bin', seed)
  return [(observation[3:6], goal) for observation, goal in _resets(py_env, count)]


def test_bin_block_starts_in_the_red_bin_and_goals_lie_on_the_blue_bins_floor():
  episodes = _bin_episodes(40)
  starts = np.array([start for start, _ in episodes])
  goals = np.array([goal for _, goal in episodes])
  # metaworld's start range (-0.21..-0.03, 0.65..0.75), x clipped to where the block fits.
  assert np.all(starts[:, 0] >= -0.19 - 1e-6) and np.all(starts[:, 0] <= -0.05 + 1e-6)
  assert np.all(starts[:, 1] >= 0.65) and np.all(starts[:, 1] <= 0.75)
  assert np.all(np.ptp(starts[:, :2], axis=0) > 0.08)
  np.testing.assert_allclose(starts[:, 2], 0.03, atol=1e-3)  # on the red bin's floor
  # Within 5 cm of the blue bin's centre (0.12, 0.7) in x and y, on its floor.
  block_goals = goals[:, 3:]
  assert np.all(np.abs(block_goals[:, :2] - [0.12, 0.7]) <= 0.05)
  assert np.all(np.ptp(block_goals[:, :2], axis=0) > 0.08)
  np.testing.assert_allclose(block_goals[:, 2], starts[:, 2], atol=1e-6)
  np.testing.assert_allclose(goals[:, :3], block_goals)  # the arm goal: 'goal' by default


def test_bin_contrastive_rl_goals_lie_between_the_block_and_the_blue_bin():
  gin.parse_config(["load_sawyer_bin.goal_distribution = 'contrastive_rl'"])
  episodes = _bin_episodes(40)
  starts = np.array([start for start, _ in episodes])
  goals = np.array([goal[3:] for _, goal in episodes])
  # A point from the block's start to the blue bin's centre (+- 5 cm), 3 to 12 cm high.
  assert np.all(goals[:, 0] >= starts[:, 0] - 1e-6) and np.all(goals[:, 0] <= 0.17)
  assert np.all(goals[:, 2] >= 0.03) and np.all(goals[:, 2] <= 0.12)
  assert goals[:, 0].min() < -0.02 and goals[:, 0].max() > 0.07
  assert np.ptp(goals[:, 2]) > 0.06


def test_bin_bad_goal_distribution_fails_naming_the_binding():
  gin.parse_config(["load_sawyer_bin.goal_distribution = 'air'"])
  with pytest.raises(ValueError) as error:
    envs.load_py_environment('sawyer_bin')
  first_line = str(error.value).splitlines()[0]
  assert first_line.startswith("load_sawyer_bin.goal_distribution='air'")
  assert "'bin', 'contrastive_rl'" in first_line


def test_bin_same_seed_same_episodes():
  first, again, other = (_bin_episodes(3, seed) for seed in (4, 4, 5))
  np.testing.assert_array_equal(np.concatenate(sum(first, ())), np.concatenate(sum(again, ())))
  assert not np.allclose(np.concatenate(sum(first, ())), np.concatenate(sum(other, ())))


def test_bin_goal_scene_holds_the_block_upright_at_its_goal():
  task = envs.load_py_environment('sawyer_bin', seed=1).gym_env
  for _ in range(2):
    task.reset()
    state = task.state()
    scene = task._goal_scene()  # pylint: disable=protected-access
    np.testing.assert_allclose(scene.body('obj').xipos, task.object_goal, atol=1e-6)
    np.testing.assert_allclose(scene.body('obj').xquat, [1.0, 0.0, 0.0, 0.0], atol=1e-6)
    # The hand over the block: the arm goal (the block's) as low as the mocap box lets it be.
    mw = task.metaworld_env
    hand_goal = np.clip(task.arm_goal, mw.mocap_low, mw.mocap_high)
    np.testing.assert_allclose(scene.body('hand').xpos, hand_goal, atol=0.02)
    np.testing.assert_array_equal(task.state(), state)  # posed in a copy


@pytest.mark.parametrize('env_name', ['sawyer_push', 'sawyer_window', 'sawyer_faucet'])
def test_the_hand_starts_where_the_2020_code_put_it(env_name):
  py_env = envs.load_py_environment(env_name)
  hands = np.array([observation[:3] for observation, _ in _resets(py_env, 3)])
  np.testing.assert_allclose(hands, np.tile([0.0, 0.6, 0.2], (3, 1)), atol=0.01)


@pytest.mark.parametrize('env_name', ['sawyer_push', 'sawyer_window'])
def test_physics_blowup_ends_the_episode_and_is_counted(
    env_name, caplog, tmp_path, monkeypatch):
  # MuJoCo appends its warnings to MUJOCO_LOG.TXT in the working directory.
  monkeypatch.chdir(tmp_path)
  py_env = envs.load_py_environment(env_name)
  py_env.reset()
  good = py_env.step(ZERO_ACTION)
  assert py_env.physics_blowups == 0
  py_env.gym_env.metaworld_env.data.qpos[-1] = np.nan
  with caplog.at_level(logging.WARNING):
    time_step = py_env.step(ZERO_ACTION)
  assert time_step.is_last()
  assert time_step.discount == 1.0
  assert np.all(np.isfinite(time_step.observation))
  np.testing.assert_array_equal(time_step.observation, good.observation)
  assert py_env.physics_blowups == 1
  assert any('blow-up' in record.getMessage() for record in caplog.records)
  # The next step starts a fresh, finite episode.
  time_step = py_env.step(ZERO_ACTION)
  assert time_step.is_first() and np.all(np.isfinite(time_step.observation))
  time_step = py_env.step(ZERO_ACTION)
  assert time_step.is_mid()
  # A NaN action also counts as a blow-up rather than crashing.
  nan_action = np.full(4, np.nan, np.float32)
  assert py_env.step(nan_action).is_last()
  assert py_env.physics_blowups == 2


def _can_render():
  backend = os.environ.get('MUJOCO_GL', '')
  if backend == 'osmesa':
    return bool(ctypes.util.find_library('OSMesa'))
  if backend == 'egl':
    return bool(ctypes.util.find_library('EGL'))
  return False


needs_rendering = pytest.mark.skipif(
    not _can_render(), reason='headless rendering needs MUJOCO_GL=osmesa with libOSMesa '
    '(apt-get install libosmesa6) or MUJOCO_GL=egl')


@needs_rendering
@pytest.mark.parametrize('env_name', ['sawyer_push', 'sawyer_faucet', 'sawyer_bin'])
def test_render_returns_a_nonblank_rgb_frame(env_name):
  py_env = envs.load_py_environment(env_name)
  py_env.reset()
  frame = py_env.render(mode='rgb_array')
  assert frame.dtype == np.uint8
  assert frame.ndim == 3 and frame.shape[2] == 3
  assert frame.shape[0] >= 64 and frame.shape[1] >= 64
  assert frame.std() > 10.0
  with pytest.raises(ValueError):
    py_env.render(mode='human')


@needs_rendering
def test_bin_agent_frame_shows_both_bins_and_the_block():
  task = envs.load_py_environment('sawyer_bin').gym_env
  task.reset()
  frame = task.agent_frame(48, 48).astype(np.int32)
  red, green, blue = frame[..., 0], frame[..., 1], frame[..., 2]
  # The camera faces the robot, so the red bin (x < 0) is on the right.
  red_bin = (red > 150) & (green < 60) & (blue < 60)
  blue_bin = (blue > 150) & (red < 60) & (green < 60)
  block = (green > 150) & (red < 100) & (blue < 100)
  columns = np.arange(48)
  assert red_bin.sum() > 40 and blue_bin.sum() > 40 and block.sum() >= 2
  assert columns[blue_bin.any(axis=0)].mean() < columns[red_bin.any(axis=0)].mean()
  # The block is drawn inside the red bin's columns.
  assert set(columns[block.any(axis=0)]) <= set(columns[red_bin.any(axis=0)])
