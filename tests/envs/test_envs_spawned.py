"""Tests of parallel train envs: spawned worker processes, their seeds, gin config and errors."""
import gin
import numpy as np
import pytest

from c_learning import envs
from c_learning.envs import spawned


pytestmark = pytest.mark.usefixtures('clear_gin')


def _step_until_last(tf_env, max_steps=100):
  """Steps tf_env with zero actions; returns the number of steps until any env's LAST."""
  action = np.zeros([tf_env.batch_size] + tf_env.action_spec().shape.as_list(), np.float32)
  tf_env.reset()
  for step in range(1, max_steps + 1):
    if tf_env.step(action).is_last().numpy().any():
      return step
  return None


def test_gin_bindings_reach_the_worker_processes():
  gin.parse_config('load_point_mass.max_episode_steps = 3')
  train_env, _, _ = envs.load('point_mass', num_train_envs=2)
  try:
    assert isinstance(train_env.pyenv, spawned.SpawnedEnvironments)
    assert train_env.batch_size == 2
    # Without the binding the workers' episodes would last 50 steps.
    assert _step_until_last(train_env) == 3
  finally:
    train_env.close()


def test_first_worker_has_the_single_env_seed_and_the_others_differ():
  single, _, _ = envs.load('point_mass', seed=4)
  parallel, _, _ = envs.load('point_mass', seed=4, num_train_envs=3)
  try:
    first = parallel.reset().observation.numpy()
    np.testing.assert_array_equal(first[0], single.reset().observation.numpy()[0])
    assert not np.array_equal(first[1], first[0])
    assert not np.array_equal(first[2], first[1])
    assert envs.train_seed(4, 0) == 4 and len({envs.train_seed(4, i) for i in range(3)}) == 3
  finally:
    parallel.close()


def test_workers_step_in_parallel_and_reset_themselves():
  train_env, _, _ = envs.load('point_mass', num_train_envs=2)
  processes = list(train_env.pyenv._processes)  # pylint: disable=protected-access
  try:
    assert len(processes) == 2 and all(process.is_alive() for process in processes)
    action = np.zeros([2] + train_env.action_spec().shape.as_list(), np.float32)
    train_env.reset()
    step_types = [train_env.step(action).step_type.numpy() for _ in range(51)]
    # 50-step episodes: LAST at step 50 in both, then each worker starts again.
    np.testing.assert_array_equal(step_types[49], [2, 2])
    np.testing.assert_array_equal(step_types[50], [0, 0])
    assert envs.physics_blowups(train_env) == 0
  finally:
    train_env.close()
  assert not any(process.is_alive() for process in processes)


def test_a_worker_that_fails_to_build_its_env_raises_with_its_traceback():
  with pytest.raises(RuntimeError, match=r'(?s)parallel train env process failed.*Unknown env_name'):
    spawned.SpawnedEnvironments(envs.filtered_py_environment,
                                [('point_mass', 0, np.arange(4)), ('no_such_env', 0, None)])


def test_bad_number_of_train_envs_fails_in_one_line():
  with pytest.raises(ValueError, match=r'num_train_envs=0: must be an int >= 1'):
    envs.load('point_mass', num_train_envs=0)
