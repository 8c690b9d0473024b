"""Tests of the dm-control goal tasks ('dmc:<domain>'): specs, goals, success, actions, pixels."""
import importlib
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from c_learning import config
from c_learning import envs
from c_learning import registry
from c_learning import relabel
from c_learning.envs import dmc
from tests.envs.test_envs_sawyer import needs_rendering

pytestmark = pytest.mark.usefixtures('clear_gin')

# (domain, action dims, discrete actions, tracked position width)
DOMAINS = [
    ('ball_in_cup', 2, 9, 4),
    ('cartpole', 1, 3, 3),
    ('finger', 2, 9, 4),
    ('manipulator', 5, 11, 11),
    ('pendulum', 1, 3, 2),
    ('point_mass', 2, 9, 2),
    ('reacher', 2, 9, 3),
]
GLAMOR_PIXELS = ['pixel_observations.height = 80', 'pixel_observations.width = 104',
                 'pixel_observations.grayscale = True', 'pixel_observations.frame_stack = 4']


def test_every_shipped_domain_is_tested():
  assert sorted(d[0] for d in DOMAINS) == dmc.DOMAIN_NAMES


@pytest.mark.parametrize('domain, action_dim, num_discrete, goal_dim', DOMAINS)
def test_domain_builds_from_state_with_the_right_specs(domain, action_dim, num_discrete,
                                                        goal_dim):
  spec = envs.task_spec(f'dmc:{domain}')
  py_env = envs.load_py_environment(f'dmc:{domain}')
  task = py_env.gym_env
  assert (spec.goal_dim, spec.goal_offset, spec.success_dims) == (goal_dim, 0, (0, goal_dim))
  assert spec.state_dim == goal_dim + task.physics.model.nv
  assert (spec.success_threshold, spec.success_norm) == (0.1, 'max')
  assert py_env.observation_spec().shape == (spec.state_dim + spec.goal_dim,)
  assert py_env.observation_spec().dtype == np.float32
  action_spec = py_env.action_spec()  # continuous by default: the suite's Box
  assert action_spec.shape == (action_dim,) and action_spec.dtype == np.float32
  np.testing.assert_array_equal(action_spec.minimum, -1.0)
  np.testing.assert_array_equal(action_spec.maximum, 1.0)
  assert task.action_table.shape == (num_discrete, action_dim)
  assert py_env.duration == dmc.EPISODE_STEPS
  time_step = py_env.reset()
  np.testing.assert_allclose(time_step.observation[spec.state_dim:], task.goal, atol=1e-6)
  for _ in range(3):
    time_step = py_env.step(np.full(action_dim, 0.5, np.float32))
    assert time_step.reward == 0.0 and np.all(np.isfinite(time_step.observation))
  py_env.close()


@needs_rendering
@pytest.mark.parametrize('domain', dmc.DOMAIN_NAMES)
def test_domain_builds_from_pixels_as_glamor_sees_it(domain):
  gin.parse_config(GLAMOR_PIXELS)
  py_env = envs.load_py_environment(f'dmc:{domain}', observations='pixels')
  spec = py_env.observation_spec()
  assert spec['pixels'].shape == (80, 104, 4) and spec['goal_pixels'].shape == (80, 104, 1)
  time_step = py_env.step(np.zeros(py_env.action_spec().shape, np.float32))
  observation = time_step.observation
  assert observation['pixels'].dtype == observation['goal_pixels'].dtype == np.uint8
  assert observation['pixels'].shape == (80, 104, 4)
  assert observation['goal_pixels'].std() > 0  # not a blank frame
  task_spec = envs.task_spec(f'dmc:{domain}')
  assert observation['state'].shape == (task_spec.state_dim + task_spec.goal_dim,)
  py_env.close()


@pytest.mark.parametrize('domain', ['cartpole', 'manipulator'])
def test_the_same_seed_gives_the_same_goals(domain):
  def goals(seed):
    task = dmc.DmcGoalTask(domain, seed=seed)
    drawn = [task.goal.copy()] + [task.reset()[0][-task.goal_dim:] for _ in range(2)]
    task.close()
    return np.array(drawn)

  np.testing.assert_allclose(goals(3), goals(3), atol=1e-6)
  assert not np.allclose(goals(3), goals(4))
  # The goals do not depend on the action set either.
  task = dmc.DmcGoalTask(domain, seed=3, actions='discrete')
  np.testing.assert_allclose(task.goal, goals(3)[0])


def _pose(task, qpos):
  physics = task.physics
  with physics.reset_context():
    physics.data.qpos[:] = qpos
    physics.data.qvel[:] = 0.0


@pytest.mark.parametrize('domain', dmc.DOMAIN_NAMES)
def test_the_goal_state_is_a_success_and_a_state_far_from_it_is_not(domain):
  spec = envs.task_spec(f'dmc:{domain}')
  task = dmc.DmcGoalTask(domain, seed=1)
  _pose(task, task.goal_qpos)
  observation = np.concatenate([task.state(), task.goal])
  assert spec.distance(observation) < 1e-6
  # The first tracked joint a quarter of its feasible range away: 0.25 in scaled
  # units (an angle a quarter turn away moves cos or sin by at least 0.35).
  position = task._positions[0]  # pylint: disable=protected-access
  qpos = task.goal_qpos
  if position.kind == 'limited':
    middle = (position.low + position.high) / 2
    shift = 0.25 * (position.high - position.low)
    qpos[position.qpos] += -shift if qpos[position.qpos] > middle else shift
  else:
    qpos[position.qpos] += np.pi / 2 if position.kind == 'angle' else 0.25 * position.span
  _pose(task, qpos)
  observation = np.concatenate([task.state(), task.goal])
  assert spec.distance(observation) >= 0.2
  assert not spec.distance(observation) < spec.success_threshold


def test_discrete_action_tables():
  assert dmc.action_table('cartpole', 1).tolist() == [[-1.0], [0.0], [1.0]]
  reacher = dmc.action_table('reacher', 2)
  assert reacher.shape == (9, 2) and len({tuple(a) for a in reacher}) == 9
  manipulator = dmc.action_table('manipulator', 5)
  assert manipulator.shape == (11, 5)
  # One dimension at a time, +1 then -1, and a no-op last (GLAMOR's order).
  np.testing.assert_array_equal(np.abs(manipulator[:10]).sum(axis=1), 1.0)
  np.testing.assert_array_equal(manipulator[0], [1, 0, 0, 0, 0])
  np.testing.assert_array_equal(manipulator[1], [-1, 0, 0, 0, 0])
  np.testing.assert_array_equal(manipulator[10], 0.0)


@pytest.mark.parametrize('domain, num_actions', [('cartpole', 3), ('reacher', 9),
                                                 ('manipulator', 11)])
def test_discrete_actions_step_through_a_tf_environment(domain, num_actions):
  gin.parse_config(["dmc_task.actions = 'discrete'"])
  train_env, eval_env, state_dim = envs.load(f'dmc:{domain}')
  spec = train_env.action_spec()
  assert spec.shape == () and spec.dtype == tf.int32
  assert (int(spec.minimum), int(spec.maximum)) == (0, num_actions - 1)
  train_env.reset()
  time_step = train_env.step(tf.constant([num_actions - 1], tf.int32))
  assert time_step.observation.shape == (1, state_dim + envs.task_spec(f'dmc:{domain}').goal_dim)
  assert np.all(np.isfinite(time_step.observation.numpy()))
  train_env.close()
  eval_env.close()


def test_a_discrete_action_moves_as_its_table_says():
  task = dmc.DmcGoalTask('point_mass', seed=0, actions='discrete')
  start = task.positions()
  right = int(np.flatnonzero((task.action_table == [1.0, 0.0]).all(axis=1))[0])
  for _ in range(5):
    task.step(right)
  assert task.positions()[0] > start[0] + 1e-3
  with pytest.raises(ValueError, match='not in'):
    task.step(len(task.action_table))


@pytest.mark.parametrize('binding, culprit', [
    ("dmc_task.actions = 'diagonal'", 'dmc_task.actions'),
    ('dmc_task.max_episode_steps = 0', 'dmc_task.max_episode_steps'),
])
def test_a_bad_setting_raises_one_config_error_line(binding, culprit):
  gin.parse_config([binding])
  with pytest.raises(config.ConfigError) as error:
    envs.load_py_environment('dmc:cartpole')
  # Its first line says it all (gin appends the configurable's name below it).
  assert str(error.value).splitlines()[0].startswith(culprit)


def test_an_unknown_domain_names_the_valid_ones():
  with pytest.raises(config.ConfigError, match='dmc:cartpole') as error:
    envs.task_spec('dmc:humanoid')
  assert 'humanoid' in str(error.value) and '\n' not in str(error.value)


def test_missing_dm_control_says_how_to_install_it(monkeypatch):
  monkeypatch.setitem(sys.modules, 'dm_control', None)
  with pytest.raises(config.ConfigError, match=r'pip install -e "\.\[dmc\]"'):
    dmc.DmcGoalTask('cartpole')


def test_goal_slice_of_positions_is_explicit():
  # The goal is narrower than the state: an open end would reach the velocities.
  spec = envs.task_spec('dmc:cartpole')
  assert spec.goal_slice(relabel.GoalSlice()) == relabel.GoalSlice(0, 3)
  assert envs.observation_indices('dmc:cartpole').tolist() == list(range(5 + 3))


@needs_rendering
def test_the_shipped_configs_build_their_tasks_from_pixels():
  registry.register_configurables()
  importlib.import_module('c_learning.train_eval')
  config.parse(['dmc_point_mass.gin', 'gin/setups/dmc_pixels.gin'])
  assert gin.query_parameter('train_eval.env_name') == 'dmc:point_mass'
  train_env, eval_env, _ = envs.load('dmc:point_mass', observations='pixels')
  assert train_env.observation_spec()['pixels'].shape == (80, 104, 4)
  train_env.close()
  eval_env.close()
