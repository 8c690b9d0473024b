"""Tests of the gymnasium -> TF-Agents PyEnvironment adapter."""
import gymnasium
import numpy as np
import pytest
from tf_agents.trajectories import time_step as ts

from c_learning.envs import gymnasium_adapter


class _Counter(gymnasium.Env):
  """Counts steps; terminates, truncates or blows up at chosen steps."""

  def __init__(self, terminate_at=None, truncate_at=None, nan_at=None,
               flag_at=None, inf_reward_at=None, nan_resets=0):
    self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,))
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,))
    self._events = dict(terminate=terminate_at, truncate=truncate_at,
                        nan=nan_at, flag=flag_at, inf_reward=inf_reward_at)
    self._nan_resets = nan_resets  # resets that return a NaN observation first
    self.count = 0

  def reset(self, *, seed=None, options=None):
    self.count = 0
    if self._nan_resets:
      self._nan_resets -= 1
      return np.array([np.nan, 0.0]), {}
    return np.zeros(2), {}

  def step(self, action):
    self.count += 1
    at = {name: step == self.count for name, step in self._events.items()}
    observation = np.array([self.count, np.nan if at['nan'] else 0.0])
    info = {gymnasium_adapter.PHYSICS_BLOWUP_KEY: at['flag']}
    reward = np.inf if at['inf_reward'] else 2.5
    return observation, reward, at['terminate'], at['truncate'], info


def _run(gym_env, steps):
  py_env = gymnasium_adapter.GymnasiumPyEnvironment(gym_env)
  time_steps = [py_env.reset()]
  for _ in range(steps):
    time_steps.append(py_env.step(np.zeros(1, np.float32)))
  return py_env, time_steps


def test_specs_are_float32_with_bounded_actions():
  py_env = gymnasium_adapter.GymnasiumPyEnvironment(_Counter())
  assert py_env.observation_spec().dtype == np.float32
  assert py_env.observation_spec().shape == (2,)
  assert py_env.action_spec().dtype == np.float32
  np.testing.assert_array_equal(py_env.action_spec().minimum, [-1.0])


def test_termination_has_discount_zero_and_truncation_discount_one():
  _, terminated = _run(_Counter(terminate_at=2), 3)
  assert [t.step_type for t in terminated] == [
      ts.StepType.FIRST, ts.StepType.MID, ts.StepType.LAST, ts.StepType.FIRST]
  assert terminated[2].discount == 0.0
  assert terminated[1].reward == np.float32(2.5)
  _, truncated = _run(_Counter(truncate_at=2), 2)
  assert truncated[2].is_last() and truncated[2].discount == 1.0


def test_nan_observation_inf_reward_or_flag_is_a_counted_blowup():
  for gym_env in (_Counter(nan_at=2), _Counter(flag_at=2), _Counter(inf_reward_at=2)):
    py_env, time_steps = _run(gym_env, 3)
    assert py_env.physics_blowups == 1
    assert time_steps[2].is_last() and time_steps[2].discount == 1.0
    assert time_steps[2].reward == 0.0
    # The last finite observation stands in for the broken one.
    np.testing.assert_array_equal(time_steps[2].observation,
                                  time_steps[1].observation)
    assert time_steps[3].is_first()


def test_a_non_finite_reset_is_counted_and_tried_again_then_refused():
  py_env, time_steps = _run(_Counter(nan_resets=gymnasium_adapter.RESET_TRIES - 1), 1)
  assert py_env.physics_blowups == gymnasium_adapter.RESET_TRIES - 1
  np.testing.assert_array_equal(time_steps[0].observation, [0.0, 0.0])
  assert time_steps[0].is_first() and time_steps[1].observation[0] == 1.0
  with pytest.raises(FloatingPointError, match='non-finite observation 3 times in a row'):
    gymnasium_adapter.GymnasiumPyEnvironment(
        _Counter(nan_resets=gymnasium_adapter.RESET_TRIES)).reset()


def test_time_limited_ends_episodes_with_discount_one():
  py_env = gymnasium_adapter.time_limited(_Counter(), 3)
  time_step = py_env.reset()
  for step in range(1, 4):
    time_step = py_env.step(np.zeros(1, np.float32))
    assert time_step.is_last() == (step == 3)
    assert time_step.discount == 1.0
