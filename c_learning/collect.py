"""Writes an offline dataset of a task in the Minari format: `python -m c_learning.collect`.

    python -m c_learning.collect --env_name=sawyer_reach --episodes=2000 \\
        --dataset_id=c_learning/sawyer_reach-random-v0                      # a random policy
    python -m c_learning.collect --policy_from=~/runs/reach --episodes=2000 \\
        --dataset_id=c_learning/sawyer_reach-expert-v0                      # a trained run's policy
    python -m c_learning.collect --policy_from=~/runs/reach --random_prob=0.5 --noise_std=0.2 ...

--policy_from is a train_eval root_dir: its exported policy acts (greedy), on the task and goal
dimensions of its operative.gin. --random_prob replaces an action by a uniform random one with
that probability a step, and --noise_std adds Gaussian noise (a fraction of the action range)
to the policy's: a noisy mixture. Episodes are the task's own (its goals, its length); each
row's reward is the sparse 1[distance to goal < the task's success threshold] after the
step. The dataset goes to $MINARI_DATASETS_PATH (or ~/.minari/datasets) under --dataset_id,
or under --datasets_dir; train_eval.dataset names it (gin/setups/offline.gin).
"""
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import gin
import numpy as np
import tensorflow as tf
from tf_agents.trajectories import time_step as ts

from c_learning import config
from c_learning import datasets
from c_learning import envs
from c_learning import legacy_config
from c_learning import policy_export
from c_learning import registry
from c_learning import relabel
from c_learning import train_eval

FLAGS = flags.FLAGS


class CollectError(Exception):
  """A collect argument that cannot work; its message is one line."""


def collect(dataset_id, episodes, env_name=None, policy_from=None, random_prob=0.0,
            noise_std=0.0, seed=0, datasets_dir=None, gin_files=(), gin_bindings=()):
  """Runs `episodes` episodes and writes them as Minari dataset `dataset_id`; returns its directory.

  Args:
    dataset_id: the dataset's Minari id, e.g. 'c_learning/sawyer_reach-random-v0'.
    episodes: how many episodes.
    env_name: the task; None takes policy_from's (or the gin files').
    policy_from: a train_eval root_dir whose exported policy acts; None: random actions.
    random_prob: probability a step of a uniform random action instead of the policy's.
    noise_std: std of Gaussian noise added to the policy's actions, as a fraction of the range.
    seed: seeds the task's env (its goals) and the random actions.
    datasets_dir: where datasets live; None: $MINARI_DATASETS_PATH or ~/.minari/datasets.
    gin_files, gin_bindings: configure the task (its loader's settings), as train_eval's flags.
  """
  _check_arguments(episodes, random_prob, noise_std, seed, policy_from, gin_files)
  if datasets_dir:
    os.environ['MINARI_DATASETS_PATH'] = os.path.expanduser(datasets_dir)
  gin.clear_config()
  registry.register_configurables()
  try:
    if policy_from:
      legacy_config.parse_operative(os.path.join(os.path.expanduser(policy_from), 'operative.gin'),
                                    gin_bindings)
    else:
      config.parse(gin_files, gin_bindings)
    configured_env = train_eval.configured_arguments()['env_name']
    if policy_from and env_name and env_name != configured_env:
      raise CollectError(f'--env_name={env_name}: the policy of {policy_from} acts on '
                         f'{configured_env!r}.')
    env_name = env_name or configured_env
    with config.required_bindings_as_config_errors():
      keep = envs.observation_indices(env_name, relabel.obs_to_goal())
      py_env = envs.load_py_environment(env_name, seed)
    task = envs.task_spec(env_name)
    policy = _saved_policy(policy_from) if policy_from else None
    # Traced once: called step by step, an untraced action costs about 10x more.
    act = tf.function(policy.action, autograph=False) if policy else None
    spec = py_env.action_spec()
    bounds = (spec.minimum * np.ones(spec.shape), spec.maximum * np.ones(spec.shape))
    rng = np.random.default_rng(seed)
    collected = []
    started = time.time()
    for index in range(episodes):
      collected.append(_episode(py_env, policy, act, keep, task, bounds, spec.dtype, rng,
                                random_prob, noise_std))
      if (index + 1) % max(1, episodes // 10) == 0:
        logging.info('%d/%d episodes (%.0f s)', index + 1, episodes, time.time() - started)
    py_env.close()
    algorithm = ('random' if policy is None else
                 f'policy of {policy_from} (random_prob {random_prob}, noise_std {noise_std})')
    return datasets.write(
        dataset_id, collected, env_name, *bounds, algorithm_name=algorithm,
        description=f'{episodes} episodes of {env_name} by c_learning.collect (seed {seed}): '
                    f'{algorithm}.')
  finally:
    gin.clear_config()


def _check_arguments(episodes, random_prob, noise_std, seed, policy_from, gin_files):
  if not (isinstance(episodes, int) and episodes > 0):
    raise CollectError(f'--episodes={episodes}: must be a positive integer.')
  if not 0.0 <= random_prob <= 1.0:
    raise CollectError(f'--random_prob={random_prob}: must be in [0, 1].')
  if noise_std < 0:
    raise CollectError(f'--noise_std={noise_std}: must be >= 0.')
  if not (isinstance(seed, int) and seed >= 0):
    raise CollectError(f'--seed={seed}: must be a non-negative integer.')
  if policy_from and gin_files:
    raise CollectError("--gin_file with --policy_from: the run's operative.gin configures the "
                       'task; --gin_bindings may change it.')
  if policy_from is None and (random_prob or noise_std):
    raise CollectError('--random_prob and --noise_std mix noise into a policy: they need '
                       '--policy_from (without it every action is random already).')


def _saved_policy(root_dir):
  """The policy that train_eval exported under root_dir."""
  directory = policy_export.policy_dir(os.path.expanduser(root_dir))
  if directory is None:
    raise CollectError(f'--policy_from={root_dir}: no exported policy there (train_eval '
                       'exports one with each checkpoint when train_eval.export_policy is set).')
  return tf.saved_model.load(directory)


def _episode(py_env, policy, act, keep, task, bounds, dtype, rng, random_prob, noise_std):
  """One episode: (observations [T+1, D], actions [T, A], sparse rewards [T]); act is policy's traced action."""
  low, high = bounds
  time_step = py_env.reset()
  policy_state = policy.get_initial_state(1) if policy else None
  observations, actions, rewards = [time_step.observation], [], []
  while not time_step.is_last():
    if policy is None or rng.random() < random_prob:
      action = rng.uniform(low, high)
    else:
      batched = ts.TimeStep(
          step_type=tf.constant([time_step.step_type]), reward=tf.constant([0.0]),
          discount=tf.constant([1.0]),
          observation=tf.constant(time_step.observation[keep][None], tf.float32))
      action_step = act(batched, policy_state)
      policy_state = action_step.state
      action = action_step.action.numpy()[0]
      if noise_std:
        action = np.clip(action + rng.normal(0.0, noise_std * (high - low)), low, high)
    time_step = py_env.step(np.asarray(action, dtype))
    observations.append(time_step.observation)
    actions.append(action)
    rewards.append(float(task.distance(time_step.observation) < task.success_threshold))
  return np.asarray(observations, np.float32), np.asarray(actions, np.float32), rewards


def main(_):
  logging.set_verbosity(logging.INFO)
  try:
    path = collect(FLAGS.dataset_id, FLAGS.episodes, FLAGS.env_name, FLAGS.policy_from,
                   FLAGS.random_prob, FLAGS.noise_std, FLAGS.seed, FLAGS.datasets_dir,
                   FLAGS.gin_file or (), FLAGS.gin_bindings or ())
  except (CollectError, config.ConfigError) as error:
    sys.exit(f'c_learning.collect: error: {config.first_line(error)}')
  print(path)


def _define_flags():
  flags.DEFINE_string('dataset_id', None, "The dataset's Minari id, e.g. "
                      "'c_learning/sawyer_reach-random-v0'.")
  flags.DEFINE_integer('episodes', 1000, 'Episodes to collect.')
  flags.DEFINE_string('env_name', None, "The task; default: --policy_from's, or the gin "
                      "files' train_eval.env_name.")
  flags.DEFINE_string('policy_from', None, 'A train_eval root_dir whose exported policy acts; '
                      'default: uniform random actions.')
  flags.DEFINE_float('random_prob', 0.0, 'Probability a step of a random action instead of '
                     "the policy's.")
  flags.DEFINE_float('noise_std', 0.0, "Gaussian noise on the policy's actions, a fraction of "
                     'the action range.')
  flags.DEFINE_integer('seed', 0, "Seeds the task's goals and the random actions.")
  flags.DEFINE_string('datasets_dir', None, 'Where datasets live; default: '
                      '$MINARI_DATASETS_PATH or ~/.minari/datasets.')
  flags.DEFINE_multi_string('gin_file', None, "Gin files configuring the task (its loader's "
                            "settings); not with --policy_from, whose run's operative.gin does.")
  flags.DEFINE_multi_string('gin_bindings', None, 'Gin bindings, applied after the files.')
  flags.mark_flag_as_required('dataset_id')


def run():
  """Console-script entry point."""
  _define_flags()
  app.run(main)


if __name__ == '__main__':
  run()
