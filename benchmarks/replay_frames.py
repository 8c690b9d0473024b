"""Bytes per transition and sampling rate of the replay with pixel observations.

    python benchmarks/replay_frames.py [--capacity=100000] [--batch_size=256]

For 48x48 RGB frames (one a step, the Sawyer pixel tasks' default) and for
80x104 grey frames stacked 4 (GLAMOR's DeepMind Control set-up), it fills a
GoalReplayBuffer of `--capacity` transitions (episodes of --episode_length
steps, random frames) and prints the preallocated bytes per transition, the
process's resident memory, and the batches a second that sampling plus
relabeling gives. The last line is one JSON object with the figures.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from c_learning import frames  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import relabel  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import replay  # pylint: disable=g-import-not-at-top,wrong-import-position

STATE_WIDTH = 12  # concat(state, goal) of a Sawyer task
ACTION_DIM = 4
# (name, height, width, channels, frames stacked)
LAYOUTS = (('48x48 RGB', 48, 48, 3, 1), ('80x104 grey x4', 80, 104, 1, 4))


def _spec(height, width, channels, stack):
  return {frames.PIXELS: tf.TensorSpec((height, width, channels * stack), tf.uint8),
          frames.GOAL_PIXELS: tf.TensorSpec((height, width, channels), tf.uint8),
          frames.STATE: tf.TensorSpec((STATE_WIDTH,), tf.float32)}


def _fill(buffer, spec, transitions, episode_length, chunk=1000):
  """Adds `transitions` steps of one env, a traced loop of `chunk` steps at a time."""
  rng = tf.random.Generator.from_seed(0)

  def observation():
    return tf.nest.map_structure(
        lambda s: (rng.uniform([1] + s.shape.as_list(), 0, 256, tf.int32) if s.dtype == tf.uint8
                   else rng.normal([1] + s.shape.as_list())), spec)

  @tf.function
  def add(first_step, count):
    for i in tf.range(count):
      step = first_step + i
      observation_now = tf.nest.map_structure(
          lambda x, s: tf.cast(x, s.dtype), observation(), spec)
      next_observation = tf.nest.map_structure(
          lambda x, s: tf.cast(x, s.dtype), observation(), spec)
      transition = replay.Transition(observation_now, rng.uniform([1, ACTION_DIM], -1, 1),
                                     next_observation)
      buffer.add_batch((transition, tf.reshape(step % episode_length == 0, [1]),
                        tf.reshape(step % episode_length == episode_length - 1, [1]),
                        tf.constant([True])))

  for start in range(0, transitions, chunk):
    add(tf.constant(start, tf.int64), tf.constant(min(chunk, transitions - start), tf.int64))


def _sampling_rate(buffer, relabeler, batch_size, seconds=5.0):
  sample = tf.function(lambda: relabeler(buffer.sample(batch_size)))
  tf.nest.map_structure(lambda t: t.numpy(), sample())  # traces
  count, start = 0, time.time()
  while time.time() - start < seconds:
    tf.nest.map_structure(lambda t: t.numpy(), sample())
    count += 1
  return count / (time.time() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--capacity', type=int, default=100_000)
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--episode_length', type=int, default=50)
  args = parser.parse_args()
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(), STATE_WIDTH // 2, relabel_next_prob=0.3,
                                    relabel_future_prob=0.2)
  results = {'capacity': args.capacity, 'batch_size': args.batch_size}
  print(f'{"layout":16} {"bytes/transition":>17} {"GB at 1M":>9} {"max RSS GB":>11} '
        f'{"batches/s":>10} {"fill s":>7}')
  for name, height, width, channels, stack in LAYOUTS:
    spec = _spec(height, width, channels, stack)
    buffer = replay.GoalReplayBuffer(
        spec, tf.TensorSpec((ACTION_DIM,), tf.float32), batch_size=1,
        max_length=args.capacity, gamma=0.99, seed=0,
        max_episodes=args.capacity // args.episode_length + 2)
    start = time.time()
    _fill(buffer, spec, args.capacity, args.episode_length)
    fill_seconds = time.time() - start
    per_transition = buffer.storage_bytes() / args.capacity
    rate = _sampling_rate(buffer, relabeler, args.batch_size)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB -> GB
    print(f'{name:16} {per_transition:17.0f} {per_transition * 1e6 / 1e9:9.2f} '
          f'{max_rss:11.2f} {rate:10.1f} {fill_seconds:7.1f}', flush=True)
    results[name] = dict(bytes_per_transition=round(per_transition, 1),
                         gb_at_1m=round(per_transition * 1e6 / 1e9, 2),
                         max_rss_gb=round(max_rss, 2), batches_per_s=round(rate, 1))
    del buffer
  print(json.dumps(results))


if __name__ == '__main__':
  main()
