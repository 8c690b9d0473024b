"""Tests of obs_to_goal, goal_fn and the C-learning relabeling split."""
import gin
import numpy as np
import pytest
import tensorflow as tf

from c_learning import config
from c_learning import relabel
from c_learning import replay
from c_learning.relabel import GoalType


pytestmark = pytest.mark.usefixtures('clear_gin')


def sampled_batch(batch_size, state_dim=3, goal_dim=3):
  """Rows whose every state is distinct: value = 1000*kind + 10*row + dim."""
  rows = np.arange(batch_size)[:, None] * 10.0
  dims = np.arange(state_dim)[None, :]

  def states(kind):
    return (1000.0 * kind + rows + dims).astype(np.float32)

  goal = np.full((batch_size, goal_dim), -1.0, np.float32)
  return replay.SampledTransition(
      observation=tf.constant(np.concatenate([states(0), goal], axis=1)),
      action=tf.zeros([batch_size, 2]),
      next_observation=tf.constant(np.concatenate([states(1), goal], axis=1)),
      future_observation=tf.constant(np.concatenate([states(2), goal], axis=1)),
      last_observation=tf.constant(np.concatenate([states(3), goal], axis=1)),
      future_offset=tf.constant(2 + np.arange(batch_size) % 3, tf.int32),
      last_offset=tf.constant(5 + np.arange(batch_size) % 4, tf.int32))


def test_goal_slice_resolves_and_rejects_bad_indices():
  assert relabel.GoalSlice(0, 3).resolve(6) == (0, 3)
  assert relabel.GoalSlice(3, None).resolve(6) == (3, 6)
  for start, end in [(0, 7), (-1, 3), (4, 4), (5, 2)]:
    with pytest.raises(ValueError, match=r'obs_to_goal.start_index=.*state_dim=6'):
      relabel.GoalSlice(start, end).resolve(6)


def test_obs_to_goal_reads_gin():
  gin.parse_config(['obs_to_goal.start_index = 3', 'obs_to_goal.end_index = 6'])
  goal_slice = relabel.obs_to_goal()
  np.testing.assert_array_equal(goal_slice(np.arange(8)), [3, 4, 5])


def test_each_goal_type_takes_its_goal():
  batch_size = 20
  relabeler = relabel.GoalRelabeler(
      relabel.GoalSlice(0, 3), state_dim=3, relabel_orig_prob=0.1,
      relabel_next_prob=0.3, relabel_future_prob=0.2, relabel_last_prob=0.1)
  sampled = sampled_batch(batch_size)
  out = relabeler(sampled)
  goal_type = out.goal_type.numpy()
  assert [int(np.sum(goal_type == kind)) for kind in relabel._GOAL_TYPE_ORDER] == [2, 6, 4, 2, 6]
  goal = out.observation.numpy()[:, 3:]
  np.testing.assert_array_equal(out.next_observation.numpy()[:, 3:], goal)
  np.testing.assert_array_equal(out.observation.numpy()[:, :3], sampled.observation.numpy()[:, :3])
  np.testing.assert_array_equal(out.next_observation.numpy()[:, :3],
                                sampled.next_observation.numpy()[:, :3])
  sources = {GoalType.ORIG: sampled.observation[:, 3:], GoalType.NEXT: sampled.next_observation,
             GoalType.FUTURE: sampled.future_observation, GoalType.LAST: sampled.last_observation}
  for kind, source in sources.items():
    rows = goal_type == kind
    np.testing.assert_array_equal(goal[rows], source.numpy()[rows][:, :3])
  offsets = {GoalType.ORIG: relabel.NO_OFFSET, GoalType.NEXT: 1,
             GoalType.FUTURE: sampled.future_offset.numpy(),
             GoalType.LAST: sampled.last_offset.numpy(), GoalType.RANDOM: relabel.NO_OFFSET}
  for kind, offset in offsets.items():
    rows = goal_type == kind
    expected = offset[rows] if isinstance(offset, np.ndarray) else [offset] * int(rows.sum())
    np.testing.assert_array_equal(out.future_offset.numpy()[rows], expected, err_msg=kind.name)
  # The default reward: 1 exactly where the goal is the next state.
  np.testing.assert_array_equal(out.reward.numpy(), (goal_type == GoalType.NEXT).astype(float))
  random_rows = np.flatnonzero(goal_type == GoalType.RANDOM)
  for row in random_rows:
    # A random goal is another row's next state: kind 1, a different row.
    kind, source_row = divmod(goal[row, 0], 1000.0)
    assert kind == 1 and source_row // 10 != row


def test_goal_slice_selects_goal_dims():
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(1, 3), state_dim=4,
                                    relabel_next_prob=1.0)
  out = relabeler(sampled_batch(4, state_dim=4, goal_dim=2))
  np.testing.assert_array_equal(out.observation.numpy()[:, 4:],
                                out.next_observation.numpy()[:, 1:3])


def test_goal_fn_requires_next_and_future_bindings():
  with pytest.raises(RuntimeError, match='relabel_next_prob'):
    relabel.goal_fn(relabel.GoalSlice(), 3)
  gin.parse_config(['goal_fn.relabel_next_prob = 0.3', 'goal_fn.relabel_future_prob = 0.2'])
  relabeler = relabel.goal_fn(relabel.GoalSlice(), 3)
  assert relabeler.counts(256) == [0, 77, 51, 0, 128]


def test_bad_probabilities_fail_with_the_binding_name():
  with pytest.raises(ValueError, match=r'goal_fn.relabel_next_prob=1.5'):
    relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=1.5)
  with pytest.raises(ValueError, match=r'must be <= 1'):
    relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=0.6,
                          relabel_future_prob=0.6)


def test_c_learning_split_must_sum_to_half():
  relabel.check_c_learning_split(
      relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=0.3,
                            relabel_future_prob=0.2))
  with pytest.raises(ValueError) as error:
    relabel.check_c_learning_split(
        relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=0.5,
                              relabel_future_prob=0.2))
  message = str(error.value)
  assert 'goal_fn.relabel_next_prob=0.5' in message
  assert 'goal_fn.relabel_future_prob=0.2' in message and '0.5' in message
  assert '\n' not in message


def test_reward_functions_by_hand():
  achieved = tf.constant([[0.2, 0.3], [-1.0, 2.0], [1.0, 1.0], [1.0, 1.0]])
  goal = tf.constant([[0.2, 0.3], [-1.0, 2.0], [1.03, 1.0], [3.0, -2.0]])
  np.testing.assert_array_equal(relabel.next_state_reward(achieved, goal).numpy(), [1, 1, 0, 0])
  # Within 0.05 (the default): the row 0.03 away counts too; the far one not.
  np.testing.assert_array_equal(relabel.threshold_reward(achieved, goal).numpy(), [1, 1, 1, 0])
  np.testing.assert_array_equal(
      relabel.threshold_reward(achieved, goal, threshold=0.01).numpy(), [1, 1, 0, 0])


def test_reward_function_is_chosen_by_gin():
  gin.parse_config(['goal_fn.relabel_next_prob = 0.0', 'goal_fn.relabel_future_prob = 0.0',
                    'goal_fn.relabel_orig_prob = 1.0', 'goal_fn.reward = "threshold"',
                    'threshold_reward.threshold = 1760.0'])
  relabeler = relabel.goal_fn(relabel.GoalSlice(0, 3), 3)
  sampled = sampled_batch(4)
  # Original goals (-1, -1, -1): next states 1000 + 10*row + dim lie within 1760 of
  # them for rows whose norm is small enough, and the reward says which.
  reward = relabeler(sampled).reward.numpy()
  next_states = sampled.next_observation.numpy()[:, :3]
  expected = (np.linalg.norm(next_states + 1.0, axis=1) < 1760.0).astype(float)
  np.testing.assert_array_equal(reward, expected)
  assert 0 < reward.sum() < 4


def test_an_unknown_reward_is_named_with_the_valid_ones():
  with pytest.raises(config.ConfigError, match=r"goal_fn.reward='dense' is unknown; valid rewards: "
                                               r'next_state, threshold'):
    relabel.GoalRelabeler(relabel.GoalSlice(), 3, relabel_next_prob=0.5, reward='dense')
