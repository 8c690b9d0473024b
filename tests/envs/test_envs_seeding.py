"""Same seed, same episodes: in this process and in a fresh one."""
import json
import subprocess
import sys

import numpy as np
import pytest

from c_learning import envs


def envs_trace(env_name, seed, episodes=2, steps=5):
  """The first observation of `episodes` episodes and the one after `steps` fixed steps."""
  py_env = envs.load_py_environment(env_name, seed)
  action = np.full(py_env.action_spec().shape, 0.5, np.float32)
  trace = []
  for _ in range(episodes):
    trace.append(py_env.reset().observation.tolist())
    for _ in range(steps):
      time_step = py_env.step(action)
    trace.append(time_step.observation.tolist())
  return trace


pytestmark = pytest.mark.usefixtures('clear_gin')


def test_same_seed_same_episodes_across_processes():
  # This file run as a script prints the traces of every task (see below).
  output = subprocess.run([sys.executable, __file__, '5'], check=True,
                          capture_output=True, text=True).stdout
  there = json.loads(output.strip().splitlines()[-1])
  assert sorted(there) == envs.ENV_NAMES
  for name in envs.ENV_NAMES:
    here = envs_trace(name, seed=5)
    np.testing.assert_array_equal(np.array(there[name], np.float32),
                                  np.array(here, np.float32), err_msg=name)


@pytest.mark.parametrize('env_name', envs.ENV_NAMES)
def test_different_seeds_give_different_goals(env_name):
  first = envs_trace(env_name, seed=0, episodes=1, steps=1)[0]
  second = envs_trace(env_name, seed=1, episodes=1, steps=1)[0]
  obs_dim = len(first) // 2
  assert not np.allclose(first[obs_dim:], second[obs_dim:])


def test_negative_seed_fails_fast():
  with pytest.raises(ValueError, match='seed must be a non-negative int'):
    envs.load_py_environment('point_mass', seed=-1)


if __name__ == '__main__':
  print(json.dumps({name: envs_trace(name, int(sys.argv[1]))
                    for name in envs.ENV_NAMES}))
