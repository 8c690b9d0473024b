"""Train steps a second in float32 and in mixed bfloat16 (train_eval.compute_dtype), state and pixel agents.

    python benchmarks/mixed_precision.py [--steps=100] [--segments=5]

For each agent and observation kind (sawyer_push's shapes: a 12-wide state ++
goal and 4 actions; pixels: one 48x48 RGB frame and a goal frame, the default
conv encoder), it builds the agent twice, once per compute dtype
(c_learning.precision), and times agent.train (a tf.function) on batches of
256 made beforehand. The two alternate in segments of --steps steps, so that
the machine's drift in speed reaches both alike; each figure is the median of
its segments. It prints whether this CPU multiplies bfloat16 natively
(AVX512-BF16, AMX), then one line per case and, last, one JSON object.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning import agents
from c_learning import frames
from c_learning import precision
from c_learning import registry
from c_learning import relabel

STATE_SPEC = tf.TensorSpec((12,), tf.float32)  # concat(state (6), goal (6)), as the Sawyer tasks
PIXEL_SPEC = {frames.PIXELS: tf.TensorSpec((48, 48, 3), tf.uint8),
              frames.GOAL_PIXELS: tf.TensorSpec((48, 48, 3), tf.uint8),
              frames.STATE: STATE_SPEC}
ACTION_SPEC = tensor_spec.BoundedTensorSpec((4,), tf.float32, -1.0, 1.0)
# (agent, observation kind, relabeling it accepts: next and future probabilities)
CASES = (('c_learning', 'state', (0.3, 0.2)), ('td3_her', 'state', (0.0, 0.8)),
         ('c_learning', 'pixels', (0.3, 0.2)), ('td3_her', 'pixels', (0.0, 0.8)))
BATCH_SIZE = 256


def cpu_flags():
  """The bfloat16 features this CPU reports (AVX512-BF16, AMX), from /proc/cpuinfo."""
  try:
    with open('/proc/cpuinfo') as f:
      flags = set(next(line for line in f if line.startswith('flags')).split())
  except (OSError, StopIteration):
    return []
  return sorted(flags & {'avx512_bf16', 'amx_bf16', 'amx_tile'})


def _batch(spec, rng):
  def tensor(s):
    if s.dtype == tf.uint8:
      return tf.constant(rng.randint(0, 256, (BATCH_SIZE, *s.shape)), tf.uint8)
    return tf.constant(rng.randn(BATCH_SIZE, *s.shape), s.dtype)
  return relabel.RelabeledTransition(
      observation=tf.nest.map_structure(tensor, spec),
      action=tf.constant(rng.uniform(-1, 1, (BATCH_SIZE, 4)), tf.float32),
      next_observation=tf.nest.map_structure(tensor, spec),
      goal_type=tf.constant(rng.randint(0, 5, BATCH_SIZE), tf.int32),
      future_offset=tf.constant(rng.randint(1, 50, BATCH_SIZE), tf.int32),
      reward=tf.constant(rng.randint(0, 2, BATCH_SIZE), tf.float32))


def _train_step(agent_name, kind, probabilities, compute_dtype):
  """A traced train step of a new agent built in `compute_dtype`, and its batches."""
  spec = PIXEL_SPEC if kind == 'pixels' else STATE_SPEC
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(0, 6), 6,
                                    relabel_next_prob=probabilities[0],
                                    relabel_future_prob=probabilities[1])
  with precision.computing_in(compute_dtype):
    agent = agents.create(agent_name, ts.time_step_spec(spec), ACTION_SPEC, relabeler=relabeler,
                          gamma=0.99, train_step_counter=tf.Variable(0, dtype=tf.int64))
    agent.initialize()
    train = tf.function(agent.train)
    rng = np.random.RandomState(0)
    batches = [_batch(spec, rng) for _ in range(4)]
    train(batches[0])  # traced here
  return train, batches


def _segment_rate(train, batches, steps):
  start = time.perf_counter()
  for i in range(steps):
    loss = train(batches[i % len(batches)]).loss
  loss.numpy()
  return steps / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=100, help='train steps a segment')
  parser.add_argument('--segments', type=int, default=5, help='segments per compute dtype')
  args = parser.parse_args()
  registry.register_configurables()
  flags = cpu_flags()
  print(f'CPU bfloat16 features: {", ".join(flags) or "none"}; '
        f'load average {os.getloadavg()[0]:.1f}')
  results = {'cpu_bfloat16_features': flags, 'cases': []}
  for agent_name, kind, probabilities in CASES:
    steps = {dtype: _train_step(agent_name, kind, probabilities, dtype)
             for dtype in precision.COMPUTE_DTYPES}
    rates = {dtype: [] for dtype in precision.COMPUTE_DTYPES}
    for _ in range(args.segments):
      for dtype, (train, batches) in steps.items():
        rates[dtype].append(_segment_rate(train, batches, args.steps))
    medians = {dtype: statistics.median(r) for dtype, r in rates.items()}
    case = {'agent': agent_name, 'observations': kind,
            **{f'{dtype}_steps_per_sec': round(rate, 1) for dtype, rate in medians.items()},
            'speedup': round(medians['bfloat16'] / medians['float32'], 2)}
    results['cases'].append(case)
    print(f'{agent_name:10s} {kind:6s}  float32 {medians["float32"]:7.1f} steps/s  '
          f'bfloat16 {medians["bfloat16"]:7.1f} steps/s  x{case["speedup"]}')
  results['load_average'] = round(os.getloadavg()[0], 1)
  print(json.dumps(results))


if __name__ == '__main__':
  main()
