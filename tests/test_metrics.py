"""Tests of GoalDistanceMetrics on hand-built episodes."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.trajectories import trajectory
from tf_agents.trajectories import time_step as ts

from c_learning import config
from c_learning import metrics
from c_learning import relabel

FIRST, MID, LAST = ts.StepType.FIRST, ts.StepType.MID, ts.StepType.LAST


def step(step_type, states, goals):
  """A batch of trajectories with observation concat(state, goal)."""
  batch = len(states)
  observation = tf.constant(np.concatenate([states, goals], axis=1), tf.float32)
  return trajectory.Trajectory(
      step_type=tf.fill([batch], step_type), observation=observation,
      action=tf.zeros([batch, 1]), policy_info=(), next_step_type=tf.fill([batch], MID),
      reward=tf.zeros([batch]), discount=tf.ones([batch]))


def test_episode_statistics_by_hand():
  metric = metrics.GoalDistanceMetrics(state_dim=2, goal_slice=relabel.GoalSlice(),
                                       buffer_size=10, success_threshold=0.05)
  goal = [[0.0, 0.0]]
  # Episode 1: distances 1.0, 0.5, 0.04 -> initial 1, final 0.04, min 0.04, success.
  for step_type, state in [(FIRST, [1.0, 0.0]), (MID, [0.0, 0.5]), (LAST, [0.04, 0.0])]:
    metric(step(step_type, [state], goal))
  # Episode 2: distances 0.3, 0.1, 0.2 -> final 0.2, min 0.1, delta 0.1, failure.
  for step_type, state in [(FIRST, [0.3, 0.0]), (MID, [0.1, 0.0]), (LAST, [0.2, 0.0])]:
    metric(step(step_type, [state], goal))
  result = metric.result_dict()
  assert result['InitialDistance'] == pytest.approx((1.0 + 0.3) / 2)
  assert result['FinalDistance'] == pytest.approx((0.04 + 0.2) / 2)
  assert result['MinimumDistance'] == pytest.approx((0.04 + 0.1) / 2)
  assert result['DeltaDistance'] == pytest.approx((0.96 + 0.1) / 2)
  assert result['SuccessRate'] == pytest.approx(0.5)
  # Sparse return: states after each step within 0.05: episode 1 its last (1), episode 2 none.
  assert result['SparseReturn'] == pytest.approx((1 + 0) / 2)
  assert int(metric.num_episodes()) == 2
  metric.reset()
  assert int(metric.num_episodes()) == 0


def test_sparse_return_counts_the_states_after_each_step_within_the_threshold():
  metric = metrics.GoalDistanceMetrics(state_dim=1, goal_slice=relabel.GoalSlice(),
                                       success_threshold=0.1)
  # The first state is on the goal but precedes every action: it does not count.
  states = [0.0, 0.05, 0.5, 0.0, 0.09]
  for index, state in enumerate(states):
    step_type = FIRST if index == 0 else LAST if index == len(states) - 1 else MID
    metric(step(step_type, [[state]], [[0.0]]))
  assert metric.result_dict()['SparseReturn'] == pytest.approx(3.0)


def test_subset_and_goal_slice_with_parallel_envs():
  # State: (hand x, object x); the goal constrains both; log_subset is the object.
  metric = metrics.GoalDistanceMetrics(state_dim=2, goal_slice=relabel.GoalSlice(0, 2),
                                       batch_size=2, log_subset=(1, None))
  goals = [[0.0, 0.0], [0.0, 0.0]]
  metric(step(FIRST, [[3.0, 4.0], [0.0, 1.0]], goals))
  # Only the first environment's episode ends here.
  metric(trajectory.Trajectory(
      *step(LAST, [[0.0, 0.0], [0.0, 2.0]], goals)[:1],
      *step(LAST, [[0.0, 0.0], [0.0, 2.0]], goals)[1:])._replace(
          step_type=tf.constant([LAST, MID])))
  result = metric.result_dict()
  assert result['InitialDistance'] == pytest.approx(5.0)
  assert result['SubsetInitialDistance'] == pytest.approx(4.0)
  assert result['FinalDistance'] == pytest.approx(0.0)
  assert result['SubsetSuccessRate'] == pytest.approx(1.0)
  assert int(metric.num_episodes()) == 1


def test_log_subset_outside_goal_fails():
  with pytest.raises(ValueError, match=r'train_eval.log_subset=\(3, 6\)'):
    metrics.GoalDistanceMetrics(state_dim=6, goal_slice=relabel.GoalSlice(0, 3),
                                log_subset=(3, 6))


def test_max_norm_measures_the_largest_difference_of_any_dimension():
  # dm-control's success: every dimension within the threshold (L-infinity), here with a
  # state of 3 whose goal is its first 2 dimensions; the subset uses the same norm.
  metric = metrics.GoalDistanceMetrics(state_dim=3, goal_slice=relabel.GoalSlice(0, 2),
                                       success_threshold=0.1, log_subset=(1, 2),
                                       success_norm='max')
  goal = [[0.0, 0.0]]
  # Distances (max, L2 in brackets): 0.4 (0.5), then 0.09 (0.127): a success only in max.
  for step_type, state in [(FIRST, [0.3, 0.4, 9.0]), (LAST, [0.09, 0.09, 9.0])]:
    metric(step(step_type, [state], goal))
  result = metric.result_dict()
  assert result['InitialDistance'] == pytest.approx(0.4)
  assert result['FinalDistance'] == pytest.approx(0.09)
  assert result['SuccessRate'] == 1.0
  assert result['SubsetInitialDistance'] == pytest.approx(0.4)


def test_an_unknown_success_norm_is_a_config_error():
  with pytest.raises(config.ConfigError, match='success_norm'):
    metrics.GoalDistanceMetrics(state_dim=2, goal_slice=relabel.GoalSlice(), success_norm='l1')
