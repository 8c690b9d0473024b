"""Rolls out each task's scripted controller and a random policy; prints final distances.

  python tools/controller_demo.py [--episodes=5] [--seed=0] [--env_names=...]
      [--gin_bindings='load_sawyer_push.wide_goals=True']
"""
import time

from absl import app
from absl import flags
import gin
import numpy as np

from c_learning import envs
from c_learning.envs import controllers
from c_learning.envs import tasks

flags.DEFINE_integer('episodes', 5, 'Episodes per task and policy.')
flags.DEFINE_integer('seed', 0, 'Seed of the environments (the same for both policies).')
flags.DEFINE_list('env_names', envs.ENV_NAMES, 'Tasks to run.')
flags.DEFINE_multi_string('gin_bindings', [], 'Gin bindings, e.g. for the task knobs.')
flags.DEFINE_float('success_distance', 0.05, 'A final distance below this is a success.')
FLAGS = flags.FLAGS


def _final_distances(env_name, policy, seed, episodes):
  py_env = envs.load_py_environment(env_name, seed)
  finals = controllers.rollout(py_env, policy, episodes)
  return np.array([tasks.TASKS[env_name].distance(o) for o in finals])


def main(argv):
  del argv
  gin.parse_config(FLAGS.gin_bindings)
  threshold = FLAGS.success_distance
  print(f'{FLAGS.episodes} episodes a policy, seed {FLAGS.seed}; success = final '
        f'distance < {threshold}')
  print(f'{"task":14s} {"policy":10s} {"success":>8s} {"median":>7s}  final distances')
  for env_name in FLAGS.env_names:
    action_dim = envs.load_py_environment(
        env_name, FLAGS.seed).action_spec().shape[0]
    policies = {
        'controller': tasks.TASKS[env_name].controller,
        'random': controllers.random_policy(FLAGS.seed, action_dim),
    }
    for policy_name, policy in policies.items():
      start = time.time()
      distances = _final_distances(env_name, policy, FLAGS.seed, FLAGS.episodes)
      successes = int(np.sum(distances < threshold))
      print(f'{env_name:14s} {policy_name:10s} {successes:>4d}/{len(distances):<3d} '
            f'{np.median(distances):7.3f}  '
            f'{" ".join(f"{d:.3f}" for d in distances)}  ({time.time() - start:.1f} s)')


if __name__ == '__main__':
  app.run(main)
