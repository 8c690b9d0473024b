"""Tests of the 2-D point-mass goal task."""
import numpy as np
import pytest

from c_learning.envs import controllers
from c_learning.envs import point_mass


def test_layout_dynamics_and_walls():
  task = point_mass.PointMass(seed=0)
  observation, _ = task.reset()
  assert observation.dtype == np.float32 and observation.shape == (4,)
  np.testing.assert_allclose(observation[2:], task.goal, atol=1e-6)
  start = task.position.copy()
  observation, reward, terminated, truncated, _ = task.step(
      np.array([1.0, -0.5]))
  assert (reward, terminated, truncated) == (0.0, False, False)
  expected = np.clip(start + point_mass.STEP_SIZE * np.array([1.0, -0.5]),
                     0.0, 1.0)
  np.testing.assert_allclose(observation[:2], expected, atol=1e-6)
  # Actions are clipped to [-1, 1] and the point stays in the box.
  for _ in range(40):
    observation, *_ = task.step(np.array([5.0, -5.0]))
  np.testing.assert_allclose(observation[:2], [1.0, 0.0])


def test_starts_and_goals_cover_the_box():
  task = point_mass.PointMass(seed=0)
  samples = np.array([task.reset()[0] for _ in range(200)])
  assert samples.min() >= 0.0 and samples.max() <= 1.0
  assert np.all(samples.min(axis=0) < 0.05)
  assert np.all(samples.max(axis=0) > 0.95)


def test_straight_line_controller_lands_on_any_goal_within_half_an_episode():
  py_env = point_mass.load_point_mass(seed=0)
  assert py_env.duration == 50
  # The worst case: opposite corners.
  task = py_env.gym_env
  py_env.reset()
  task.position, task.goal = np.zeros(2), np.ones(2)
  observation = task._observation()  # pylint: disable=protected-access
  for _ in range(25):
    time_step = py_env.step(controllers.point_mass_controller(observation))
    observation = time_step.observation
  assert np.linalg.norm(observation[:2] - observation[2:]) < 0.05 / 10
  assert not time_step.is_last()


def test_render_draws_point_and_goal_without_gl():
  task = point_mass.PointMass(seed=0)
  frame = task.render()
  assert frame.dtype == np.uint8 and frame.shape == (128, 128, 3)
  assert np.any(np.all(frame == (0, 0, 220), axis=-1))  # the point
  assert np.any(np.all(frame == (0, 170, 0), axis=-1))  # the goal


def test_bad_episode_length_fails_fast():
  with pytest.raises(ValueError, match='max_episode_steps must be a positive'):
    point_mass.load_point_mass(max_episode_steps=0)
