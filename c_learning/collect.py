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

With train_eval.observations='pixels' (--gin_file=gin/setups/pixels.gin, or a --policy_from
run that observed pixels) the dataset keeps each step's newest frame, the goal frame and the
state (c_learning.datasets), at pixel_observations' frame size; a task of discrete actions
gives a dataset of int actions (--noise_std does not apply to them).
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

from c_learning import build
from c_learning import config
from c_learning import datasets
from c_learning import envs
from c_learning import frames
from c_learning import legacy_config
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
      operative = os.path.join(os.path.expanduser(policy_from), 'operative.gin')
      if not os.path.isfile(operative):
        raise CollectError(f'--policy_from={policy_from}: no operative.gin there; it must be '
                           'a train_eval root_dir.')
      legacy_config.parse_operative(operative, gin_bindings)
    else:
      config.parse(gin_files, gin_bindings)
    configured = train_eval.configured_arguments()
    configured_env = configured['env_name']
    if policy_from and env_name and env_name != configured_env:
      raise CollectError(f'--env_name={env_name}: the policy of {policy_from} acts on '
                         f'{configured_env!r}.')
    env_name = env_name or configured_env
    with config.required_bindings_as_config_errors():
      keep = envs.observation_indices(env_name, relabel.obs_to_goal())
      py_env = envs.load_py_environment(env_name, seed, configured['observations'])
    task = envs.task_spec(env_name)
    policy = _saved_policy(policy_from) if policy_from else None
    actor = _Actor(policy, py_env.action_spec(), keep, np.random.default_rng(seed),
                   random_prob, noise_std)
    collected = []
    started = time.time()
    for index in range(episodes):
      collected.append(_episode(py_env, actor, task))
      if (index + 1) % max(1, episodes // 10) == 0:
        logging.info('%d/%d episodes (%.0f s)', index + 1, episodes, time.time() - started)
    py_env.close()
    algorithm = ('random' if policy is None else
                 f'policy of {policy_from} (random_prob {random_prob}, noise_std {noise_std})')
    return datasets.write(
        dataset_id, collected, env_name, *actor.bounds, algorithm_name=algorithm,
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
  policy = build.saved_policy(root_dir)
  if policy is None:
    raise CollectError(f'--policy_from={root_dir}: no exported policy there (train_eval '
                       'exports one with each checkpoint when train_eval.export_policy is set).')
  return policy


class _Actor:
  """Chooses collect's actions: the policy's, with random ones and noise mixed in, or random ones."""

  def __init__(self, policy, action_spec, keep, rng, random_prob, noise_std):
    self._policy = policy
    # Traced once: called step by step, an untraced action costs about 10x more.
    self._act = tf.function(policy.action, autograph=False) if policy else None
    self._keep = keep
    self._rng = rng
    self._random_prob = random_prob
    self._noise_std = noise_std
    self._dtype = action_spec.dtype
    self._discrete = np.issubdtype(action_spec.dtype, np.integer)
    if self._discrete and noise_std:
      raise CollectError(f'--noise_std={noise_std}: the task\'s actions are discrete; '
                         '--random_prob mixes random ones in.')
    ones = np.ones(action_spec.shape, self._dtype if self._discrete else np.float64)
    self.bounds = (action_spec.minimum * ones, action_spec.maximum * ones)
    self._policy_state = None

  def reset(self):
    """Starts an episode (the policy's state, for a policy that keeps one)."""
    self._policy_state = self._policy.get_initial_state(1) if self._policy else None

  def __call__(self, time_step):
    """The action for a py env's (unbatched) time step, in the env's dtype."""
    low, high = self.bounds
    if self._policy is None or self._rng.random() < self._random_prob:
      action = (self._rng.integers(low, high + 1) if self._discrete
                else self._rng.uniform(low, high))
    else:
      action_step = self._act(self._batched(time_step), self._policy_state)
      self._policy_state = action_step.state
      action = action_step.action.numpy()[0]
      if self._noise_std:
        action = np.clip(action + self._rng.normal(0.0, self._noise_std * (high - low)), low,
                         high)
    return np.asarray(action, self._dtype)

  def _batched(self, time_step):
    """The time step as the run's policy sees it: a batch of one, the state cut to its goal dimensions."""
    observation = time_step.observation
    if isinstance(observation, dict):  # pixels: the run's goal is whole, its state is all of it
      observation = {key: tf.constant(value[None]) for key, value in observation.items()}
    else:
      observation = tf.constant(observation[self._keep][None], tf.float32)
    return ts.TimeStep(step_type=tf.constant([time_step.step_type]), reward=tf.constant([0.0]),
                       discount=tf.constant([1.0]), observation=observation)


def _episode(py_env, actor, task):
  """One episode: (observations [T+1, ...], actions [T, ...], sparse rewards [T]).

  A pixel task's observations are a dict whose 'pixels' is each step's newest
  frame only (datasets' format); its rewards come from its 'state'.
  """
  time_step = py_env.reset()
  actor.reset()
  observations, actions, rewards = [_recorded(time_step.observation)], [], []
  while not time_step.is_last():
    action = actor(time_step)
    time_step = py_env.step(action)
    observations.append(_recorded(time_step.observation))
    actions.append(action)
    rewards.append(float(build.reached(task, frames.state_of(time_step.observation))))
  if isinstance(observations[0], dict):
    observations = {key: np.stack([o[key] for o in observations]) for key in observations[0]}
  else:
    observations = np.asarray(observations, np.float32)
  return observations, np.asarray(actions), rewards


def _recorded(observation):
  """What a dataset keeps of an observation: a pixel one's stack reduced to its newest frame."""
  if not isinstance(observation, dict):
    return observation
  channels = observation[frames.GOAL_PIXELS].shape[-1]
  return {frames.PIXELS: observation[frames.PIXELS][..., -channels:],
          frames.GOAL_PIXELS: observation[frames.GOAL_PIXELS],
          frames.STATE: observation[frames.STATE]}


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
