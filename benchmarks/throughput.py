"""Training throughput: the train step alone, this package's loop, and the paper code's pipeline.

    python benchmarks/throughput.py [--quick]

All three use sawyer_push, batch 256, (256, 256) networks and 1 env step : 1 train step.
  ceiling   - agent.train (tf.function) on batches sampled beforehand: the upper bound.
              Also timed reading one batch from variables, as the package feeds it
              (ceiling_from_variables_sps, an extra key).
  package   - c_learning.train_eval itself (collection, replay, relabeling, metrics,
              summaries; evaluation off), timed between its progress-log calls.
  reference - a loop built the way the paper's code did it: DynamicStepDriver into a
              TFUniformReplayBuffer, as_dataset(num_steps=max_future_steps), unbatch,
              filter boundaries, batch, map a goal function, agent.train.
The three alternate in segments of the same number of steps (after each of the
package's progress intervals, a ceiling and a reference segment run with its
clock stopped), so that this machine's drift in speed reaches all three alike;
each figure is the median of its segments. The last line printed is one JSON
object with the figures.

    python benchmarks/throughput.py --knobs

instead times the package loop under each speed knob (one binding changed at a time).
"""
import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from unittest import mock

import gin
import numpy as np
import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.policies import random_tf_policy
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.utils import common

from c_learning import agents
from c_learning import config
from c_learning import envs
from c_learning import overlap
from c_learning import relabel
from c_learning import replay
from c_learning import runner
from c_learning import train_eval

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH_SIZE = 256
LAYERS = (256, 256)
GAMMA = 0.99
MAX_FUTURE_STEPS = 50
PUSH_GIN = os.path.join(REPO, 'gin', 'sawyer_push.gin')


def build(seed=0):
  """The push environment, relabeler and agent exactly as train_eval builds them."""
  gin.clear_config()
  config.parse([PUSH_GIN], [])
  tf.random.set_seed(seed)
  goal_slice = relabel.obs_to_goal()
  train_env, _, state_dim = envs.load('sawyer_push', goal_slice=goal_slice, seed=seed)
  relabeler = relabel.goal_fn(goal_slice, state_dim)
  # The agent's settings come from sawyer_push.gin (base.gin: the paper's (256, 256), 3e-4).
  agent = agents.create(
      'c_learning', train_env.time_step_spec(), train_env.action_spec(),
      relabeler=relabeler, gamma=GAMMA, train_step_counter=tf.Variable(0, dtype=tf.int64))
  agent.initialize()
  return train_env, state_dim, relabeler, agent


def ceiling():
  """A timer of agent.train (tf.function) alone on pre-sampled, relabeled batches: steps -> steps/s.

  The timer's from_variables=True times the same step reading one batch held in
  variables, the way the package feeds its train step, with no per-call
  signature check of the batch's tensors.
  """
  train_env, _, relabeler, agent = build()
  buffer = replay.GoalReplayBuffer(train_env.observation_spec(), train_env.action_spec(),
                                   batch_size=1, max_length=10_000, gamma=GAMMA,
                                   max_future_steps=MAX_FUTURE_STEPS, seed=0)
  policy = random_tf_policy.RandomTFPolicy(train_env.time_step_spec(), train_env.action_spec())
  common.function(dynamic_step_driver.DynamicStepDriver(
      train_env, policy, transition_observers=[buffer.add_transition],
      num_steps=2000).run)()
  batches = [relabeler(buffer.sample(BATCH_SIZE)) for _ in range(50)]
  train = common.function(agent.train)
  stage = overlap.VariableNest(batches[:1])
  train_from_variables = common.function(lambda: agent.train(stage.get()[0]))

  def timed(num_steps, from_variables=False):
    start = time.perf_counter()
    for step in range(num_steps):
      loss = train_from_variables() if from_variables else train(batches[step % len(batches)])
    float(loss.loss)
    return num_steps / (time.perf_counter() - start)

  timed(5)  # tracing and warm-up
  timed(5, from_variables=True)
  return timed


def package(num_intervals, interval, extra_bindings=(), between=lambda: None):
  """Iterations/s of the real train_eval loop in each of its progress intervals after the first.

  After each interval, train_eval's progress log calls `between` (the other
  loops' segments) with this loop's clock stopped.
  """
  rates = []

  class PausingProgressLog(runner.ProgressLog):
    """train_eval's progress log, timing each interval from the end of the last `between`."""
    resumed = None

    def log(self, iteration, *args):
      now = time.perf_counter()
      if self.resumed is not None:  # the first interval includes tracing
        rates.append((iteration - self.resumed[0]) / (now - self.resumed[1]))
      rate = super().log(iteration, *args)
      between()
      self.resumed = (iteration, time.perf_counter())
      return rate

  with tempfile.TemporaryDirectory() as root_dir:
    gin.clear_config()
    config.parse([PUSH_GIN], [
        f'train_eval.num_iterations = {(num_intervals + 1) * interval}',
        'train_eval.initial_collect_steps = 1000',
        'train_eval.num_eval_episodes = 0',
        f'train_eval.log_interval = {interval}',
        'train_eval.checkpoint_replay_buffer = False',
        f'train_eval.train_checkpoint_interval = {10 * (num_intervals + 1) * interval}',
        *extra_bindings,
    ])
    with mock.patch.object(runner, "ProgressLog", PausingProgressLog):
      train_eval.train_eval(root_dir)
    gin.clear_config()
  return rates


def reference():
  """A timer of the paper-code-style loop (trajectory replay, 50-step windows, unbatch, filter)."""
  train_env, state_dim, relabeler, agent = build()
  buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
      data_spec=agent.collect_data_spec, batch_size=train_env.batch_size,
      max_length=1_000_000)
  random_policy = random_tf_policy.RandomTFPolicy(train_env.time_step_spec(),
                                                  train_env.action_spec())
  common.function(dynamic_step_driver.DynamicStepDriver(
      train_env, random_policy, observers=[buffer.add_batch], num_steps=1000).run)()
  collect = common.function(dynamic_step_driver.DynamicStepDriver(
      train_env, agent.collect_policy, observers=[buffer.add_batch], num_steps=1).run)
  counts = relabeler.counts(BATCH_SIZE)

  def goal_fn(trajectories, unused_info):
    """Relabels [B, T] windows: next state, a geometric future state in the window, or random."""
    states = trajectories.observation[:, :, :state_dim]
    offsets = tf.minimum(1 + tf.cast(tf.floor(tf.math.log(tf.random.uniform(
        [BATCH_SIZE], 1e-12, 1.0)) / np.log(GAMMA)), tf.int32), MAX_FUTURE_STEPS - 1)
    future = tf.gather(states, offsets, axis=1, batch_dims=1)
    kinds = [states[:, 0], states[:, 1], future, states[:, -1], tf.roll(states[:, 1], 1, 0)]
    goal_type = tf.concat([tf.fill([n], i) for i, n in enumerate(counts)], axis=0)
    goal = relabeler.goal_slice(
        tf.gather(tf.stack(kinds, axis=1), goal_type, axis=1, batch_dims=1))
    no_offset = tf.fill([BATCH_SIZE], relabel.NO_OFFSET)
    kind_offsets = [no_offset, tf.ones([BATCH_SIZE], tf.int32), offsets, no_offset, no_offset]
    return relabel.RelabeledTransition(
        observation=tf.concat([states[:, 0], goal], -1),
        action=trajectories.action[:, 0],
        next_observation=tf.concat([states[:, 1], goal], -1),
        goal_type=goal_type,
        future_offset=tf.gather(tf.stack(kind_offsets, axis=1), goal_type, axis=1, batch_dims=1),
        reward=relabeler.reward_fn(relabeler.goal_slice(states[:, 1]), goal))

  dataset = buffer.as_dataset(sample_batch_size=BATCH_SIZE, num_steps=MAX_FUTURE_STEPS)
  dataset = dataset.unbatch().filter(lambda traj, _: ~traj.is_boundary()[0])
  dataset = dataset.batch(BATCH_SIZE, drop_remainder=True).map(goal_fn).prefetch(5)
  iterator = iter(dataset)

  @common.function
  def train_step():
    return agent.train(next(iterator))

  state = {'time_step': None,
           'policy_state': agent.collect_policy.get_initial_state(train_env.batch_size)}

  def timed(num_iterations):
    start = time.perf_counter()
    for _ in range(num_iterations):
      state['time_step'], state['policy_state'] = collect(**state)
      loss = train_step()
    float(loss.loss)
    return num_iterations / (time.perf_counter() - start)

  timed(100)  # tracing and warm-up
  return timed


def replay_rss_mb(capacity):
  """RSS added by a full GoalReplayBuffer of `capacity` push transitions, in MB."""
  train_env, _, _, _ = build()
  observation_spec, action_spec = train_env.observation_spec(), train_env.action_spec()
  before = _rss_mb()
  envs_at_once = 1000  # rows written per add_batch, to fill the buffer quickly
  buffer = replay.GoalReplayBuffer(observation_spec, action_spec, batch_size=envs_at_once,
                                   max_length=capacity // envs_at_once, gamma=GAMMA)
  transition = replay.Transition(
      tf.random.normal([envs_at_once] + observation_spec.shape.as_list()),
      tf.random.uniform([envs_at_once] + action_spec.shape.as_list()),
      tf.random.normal([envs_at_once] + observation_spec.shape.as_list()))
  flags = tf.ones([envs_at_once], tf.bool)
  add = common.function(buffer.add_batch)
  for step in range(capacity // envs_at_once):
    add((transition, flags if step == 0 else ~flags, ~flags, flags))
  assert int(buffer.num_frames()) == capacity
  return _rss_mb() - before


def _rss_mb():
  with open('/proc/self/status') as status:
    for line in status:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# name -> (bindings, env steps an iteration, train steps an iteration).
KNOBS = {
    'defaults (overlap on, 8 iterations a call)': ([], 1, 1),
    'overlap_collection=False': (['train_eval.overlap_collection = False'], 1, 1),
    'iterations_per_call=1': (['train_eval.iterations_per_call = 1'], 1, 1),
    'train_steps_per_iteration=2': (['train_eval.train_steps_per_iteration = 2'], 1, 2),
    'batch_size=128': (['train_eval.batch_size = 128'], 1, 1),
    'batch_size=512': (['train_eval.batch_size = 512'], 1, 1),
    'collect 2, train 2 an iteration (1 env)': (
        ['train_eval.collect_steps_per_iteration = 2',
         'train_eval.train_steps_per_iteration = 2'], 2, 2),
    'num_parallel_envs=2 (2 env : 2 train steps)': (
        ['train_eval.num_parallel_envs = 2', 'train_eval.collect_steps_per_iteration = 2',
         'train_eval.train_steps_per_iteration = 2'], 2, 2),
    'num_parallel_envs=4 (4 env : 4 train steps)': (
        ['train_eval.num_parallel_envs = 4', 'train_eval.collect_steps_per_iteration = 4',
         'train_eval.train_steps_per_iteration = 4'], 4, 4),
    'xla_train_step=True': (['train_eval.xla_train_step = True'], 1, 1),
    'use_tf_functions=False': (['train_eval.use_tf_functions = False'], 1, 1),
}


def knobs(num_iterations):
  """Prints iterations/s, env steps/s and train steps/s of the package loop under each knob."""
  print(f'\n{"setting":<46}{"iterations/s":>14}{"env steps/s":>13}{"train steps/s":>15}')
  for name, (bindings, env_steps, train_steps) in KNOBS.items():
    eager = 'use_tf_functions' in name
    # The same number of train steps for every setting; eager is slow.
    n = num_iterations // (10 if eager else train_steps)
    rate = statistics.median(package(3, n // 4, bindings))
    print(f'{name:<46}{rate:>14.1f}{rate * env_steps:>13.1f}{rate * train_steps:>15.1f}',
          flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true', help='short runs (under 3 minutes)')
  parser.add_argument('--knobs', action='store_true',
                      help='time the package loop under each speed knob instead')
  args = parser.parse_args()
  if args.knobs:
    knobs(num_iterations=2000)
    return
  interval, rounds = (300, 5) if args.quick else (1000, 6)
  started = time.time()
  figures = {'replay_rss_mb': replay_rss_mb(1_000_000)}
  time_ceiling, time_reference = ceiling(), reference()
  names = ('ceiling_sps', 'package_sps', 'reference_sps', 'ceiling_from_variables_sps')
  segments = {name: [] for name in names}

  def time_the_others():
    # Segments of the loops alternate, so that the machine's drift in speed
    # (large on shared VMs) reaches them all alike.
    segments['ceiling_sps'].append(time_ceiling(interval))
    segments['reference_sps'].append(time_reference(interval))
    segments['ceiling_from_variables_sps'].append(time_ceiling(interval, from_variables=True))

  segments['package_sps'] = package(rounds, interval, between=time_the_others)
  print(f'\n{"round":<8}{"ceiling":>10}{"package":>10}{"reference":>11}'
        f'{"ceiling, batch in variables":>30}  (steps/s, {interval} steps a segment)')
  for name in names:
    # Round k pairs the package's interval k + 1 with the segments timed right
    # after it; the first segments follow its tracing interval, which is not timed.
    segments[name] = segments[name][-rounds:]
  for i, row in enumerate(zip(*(segments[name] for name in names))):
    print(f'{i + 1:<8}{row[0]:>10.1f}{row[1]:>10.1f}{row[2]:>11.1f}{row[3]:>30.1f}')
  for name in names:
    figures[name] = statistics.median(segments[name])
  figures['package_over_reference'] = figures['package_sps'] / figures['reference_sps']
  figures['package_over_ceiling'] = figures['package_sps'] / figures['ceiling_sps']
  figures['package_over_ceiling_from_variables'] = (
      figures['package_sps'] / figures['ceiling_from_variables_sps'])
  print()
  width = max(map(len, figures)) + 2
  print(f'{"measure":<{width}}{"value":>10}')
  for name, value in figures.items():
    print(f'{name:<{width}}{value:>10.2f}')
  print(f'(sawyer_push, batch {BATCH_SIZE}, networks {LAYERS}, {os.cpu_count()} cores, '
        f'{time.time() - started:.0f} s)')
  print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == '__main__':
  main()
