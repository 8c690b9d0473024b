"""Mixed bfloat16 training: the networks' layers compute in bfloat16, their variables and outputs stay float32.

train_eval.compute_dtype='bfloat16' (gin/setups/bfloat16.gin) builds and runs
an agent under Keras' 'mixed_bfloat16' policy. Every layer the agent's
networks make while it is in force multiplies in bfloat16 and keeps float32
variables; the layers whose outputs losses read (critic logits, the actors'
action and distribution heads; c_learning.networks) and the observation
normaliser are float32, so losses,
targets and optimizers are as in float32 runs and checkpoints are the same
either way. bfloat16 has float32's exponent range, so no loss scaling is needed.
It pays only where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX;
docs/PERFORMANCE.md has what it gave on this project's machines).
"""
import contextlib

import tensorflow as tf

from c_learning import config

COMPUTE_DTYPES = ('float32', 'bfloat16')
_POLICIES = {'float32': 'float32', 'bfloat16': 'mixed_bfloat16'}
# The dtype of layers that compute in float32 whatever the run's compute dtype:
# those whose outputs losses read, and the observation normaliser's statistics.
FLOAT32 = 'float32'


def check(compute_dtype):
  """Raises config.ConfigError unless `compute_dtype` is one of COMPUTE_DTYPES."""
  if compute_dtype not in COMPUTE_DTYPES:
    raise config.ConfigError(f'train_eval.compute_dtype={compute_dtype!r}: must be one of '
                             f'{", ".join(repr(d) for d in COMPUTE_DTYPES)}.')


@contextlib.contextmanager
def computing_in(compute_dtype):
  """Layers made inside compute in `compute_dtype` ('float32' or 'bfloat16'); the previous policy comes back after."""
  check(compute_dtype)
  previous = tf.keras.mixed_precision.global_policy()
  tf.keras.mixed_precision.set_global_policy(_POLICIES[compute_dtype])
  try:
    yield
  finally:
    tf.keras.mixed_precision.set_global_policy(previous)


def layer_dtype():
  """The dtype policy (a name) that layers made now take: 'float32' or 'mixed_bfloat16'."""
  return tf.keras.mixed_precision.global_policy().name
