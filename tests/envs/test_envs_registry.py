"""Tests of envs.load: names, specs, observation layout, goal slicing, eval seeds."""
import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from c_learning import envs
from c_learning import relabel
from c_learning.envs import controllers


pytestmark = pytest.mark.usefixtures('clear_gin')


def _goal(tf_env):
  return tf_env.pyenv.envs[0].gym_env.goal


def test_env_names_are_the_sorted_registry():
  assert envs.ENV_NAMES == sorted([
      'sawyer_reach', 'sawyer_push', 'sawyer_drawer', 'sawyer_window',
      'sawyer_faucet', 'sawyer_bin', 'point_mass', 'goal_cartpole'])


def test_unknown_name_fails_with_one_line_listing_valid_names():
  with pytest.raises(ValueError) as error:
    envs.load('sawyer_pick')
  message = str(error.value)
  assert '\n' not in message
  assert "'sawyer_pick'" in message
  for name in envs.ENV_NAMES:
    assert name in message


@pytest.mark.parametrize('env_name', envs.ENV_NAMES)
def test_load_returns_tf_envs_with_driver_ready_specs(env_name):
  train_env, eval_env, obs_dim = envs.load(env_name)
  assert obs_dim == {'point_mass': 2, 'goal_cartpole': 4}.get(env_name, 6)
  for tf_env in (train_env, eval_env):
    assert isinstance(tf_env, tf_py_environment.TFPyEnvironment)
    py_env = tf_env.pyenv.envs[0]
    observation_spec = py_env.observation_spec()
    assert isinstance(observation_spec, array_spec.ArraySpec)
    assert observation_spec.dtype == np.float32
    assert observation_spec.shape == (2 * obs_dim,)
    action_spec = py_env.action_spec()
    assert isinstance(action_spec, array_spec.BoundedArraySpec)
    assert action_spec.dtype == np.float32
    np.testing.assert_array_equal(action_spec.minimum, -1.0)
    np.testing.assert_array_equal(action_spec.maximum, 1.0)
    time_step = tf_env.reset()
    observation = time_step.observation.numpy()[0]
    assert observation.dtype == np.float32
    # The goal half is exactly the goal the task sampled.
    np.testing.assert_allclose(observation[obs_dim:], _goal(tf_env), atol=1e-6)


def test_obs_to_goal_binding_slices_the_goal_only():
  gin.parse_config(['obs_to_goal.start_index = 3',
                    'obs_to_goal.end_index = 6'])
  train_env, eval_env, obs_dim = envs.load('sawyer_push')
  assert obs_dim == 6
  assert train_env.observation_spec().shape == (9,)
  assert eval_env.observation_spec().shape == (9,)
  observation = train_env.reset().observation.numpy()[0]
  state = train_env.pyenv.envs[0].gym_env.state()
  np.testing.assert_allclose(observation[:6], state, atol=1e-6)
  np.testing.assert_allclose(observation[6:], _goal(train_env)[3:6], atol=1e-6)


def test_explicit_goal_slice_overrides_gin():
  gin.parse_config(['obs_to_goal.start_index = 3'])
  train_env, _, _ = envs.load('sawyer_reach',
                              goal_slice=relabel.GoalSlice(0, 3))
  observation = train_env.reset().observation.numpy()[0]
  assert observation.shape == (9,)
  np.testing.assert_allclose(observation[6:], _goal(train_env)[:3], atol=1e-6)


@pytest.mark.parametrize('start, end', [(4, 9), (3, 3), (-1, 2)])
def test_bad_goal_slice_fails_at_load_with_the_goal_slice_message(start, end):
  gin.parse_config([f'obs_to_goal.start_index = {start}',
                    f'obs_to_goal.end_index = {end}'])
  with pytest.raises(ValueError) as error:
    envs.load('sawyer_reach')
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(f'obs_to_goal.start_index={start}')


def test_eval_env_has_its_own_reproducible_goals():
  train_env, eval_env, _ = envs.load('sawyer_push', seed=3)
  _, eval_env_again, _ = envs.load('sawyer_push', seed=3)
  train_goals, eval_goals, eval_goals_again = [], [], []
  for _ in range(3):
    for tf_env, goals in ((train_env, train_goals), (eval_env, eval_goals),
                          (eval_env_again, eval_goals_again)):
      tf_env.reset()
      goals.append(_goal(tf_env).copy())
  np.testing.assert_array_equal(eval_goals, eval_goals_again)
  assert not np.allclose(train_goals, eval_goals)
  assert envs.eval_seed(3) != 3
  assert envs.eval_seed(3) == envs.eval_seed(3)


def test_a_controller_episode_through_the_tf_environment():
  train_env, _, obs_dim = envs.load('sawyer_reach')
  time_step = train_env.reset()
  steps = 0
  while not time_step.is_last():
    action = controllers.reach(time_step.observation.numpy()[0])
    time_step = train_env.step(tf.constant(action[None]))
    steps += 1
    assert float(time_step.reward[0]) == 0.0
    assert float(time_step.discount[0]) == 1.0
  assert steps == 50
  assert int(time_step.step_type[0]) == int(ts.StepType.LAST)
  observation = time_step.observation.numpy()[0]
  assert np.linalg.norm(observation[:3] - observation[obs_dim:obs_dim + 3]) < 0.05
