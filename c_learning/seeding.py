"""Seeds: one run per seed, and a random stream of its own for every traced part of a run."""
import hashlib
import random

import numpy as np
import tensorflow as tf


def seed_everything(seed):
  """Seeds Python, NumPy and TensorFlow so that a seed gives the same first losses on CPU."""
  random.seed(seed)
  np.random.seed(seed)
  tf.random.set_seed(seed)


def seed_traced_part(seed, *names):
  """Gives the random ops built next in the graph being traced a graph-level seed named by `names`.

  With a global seed, TensorFlow seeds a random op by its graph's seed and the
  number of random ops built in that graph before it. Every traced function,
  loop body and cond branch is a graph of its own: it takes the seed of the
  graph around it and counts from 0. So two traced parts with the same kinds of
  ops (the two parities of an iteration, the initial and the later collection)
  draw the same numbers unless their graph seeds differ. Outside a trace it
  does nothing: eager ops take fresh seeds from a global counter.
  """
  if tf.executing_eagerly():
    return
  digest = hashlib.sha256(repr((seed,) + names).encode()).digest()
  tf.random.set_seed(int.from_bytes(digest[:4], 'little') & 0x7FFFFFFF)


def seeded(function, seed, *names):
  """`function`, seeding its traced graph with seed_traced_part(seed, *names) first."""
  def run(*args, **kwargs):
    seed_traced_part(seed, *names)
    return function(*args, **kwargs)
  return run
