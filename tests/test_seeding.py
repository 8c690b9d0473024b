"""Tests of seeding: one run per seed, and no two traced parts drawing the same numbers."""
import tensorflow as tf

from c_learning import seeding


def draws(*names):
  """Two calls of a freshly traced function that draws uniformly, seeded with `names` if any."""
  @tf.function
  def draw():
    if names:
      seeding.seed_traced_part(0, *names)
    return tf.random.uniform([4])
  return [draw().numpy().tolist() for _ in range(2)]


def test_traced_parts_with_their_own_names_draw_their_own_numbers():
  seeding.seed_everything(0)
  # Without seed_traced_part, TensorFlow gives alike graphs the same streams.
  assert draws() == draws()
  first = draws('collect', 0)
  assert first[0] != first[1]  # a part's stream goes on from call to call
  assert draws('collect', 1) != first
  assert draws('collect', 0) == first  # and is the same for the same seed and names


def test_outside_a_trace_it_leaves_the_global_seed_alone():
  seeding.seed_everything(3)
  expected = tf.random.uniform([4]).numpy().tolist()
  seeding.seed_everything(3)
  seeding.seed_traced_part(3, 'collect', 0)
  assert tf.random.uniform([4]).numpy().tolist() == expected
