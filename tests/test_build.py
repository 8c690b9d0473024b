"""The builder that train_eval, evaluate and collect share: a run's task, metrics and policies from its settings."""
import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from c_learning import build
from c_learning import config
from c_learning import registry
from c_learning import train_eval
from c_learning.envs import point_mass

pytestmark = pytest.mark.usefixtures('clear_gin')

RELABELING = ['goal_fn.relabel_next_prob = 0.3', 'goal_fn.relabel_future_prob = 0.2']


def _settings(*bindings):
  registry.register_configurables()
  config.parse([], ['train_eval.env_name = "point_mass"'] + RELABELING + list(bindings))
  return types.SimpleNamespace(**train_eval.configured_arguments())


def _success_rate(metric, observation):
  """The metric's SuccessRate over one episode that ends at `observation` (concat(state, goal))."""
  observation = tf.constant([observation], tf.float32)
  for step_type in (ts.StepType.FIRST, ts.StepType.LAST):
    metric(trajectory.Trajectory(
        step_type=tf.constant([step_type]), observation=observation, action=(), policy_info=(),
        next_step_type=tf.constant([step_type]), reward=tf.zeros([1]), discount=tf.ones([1])))
  return metric.result_dict()['SuccessRate']


@pytest.mark.parametrize('success_norm', ['l2', 'max'])
def test_the_sparse_reward_of_collect_is_the_metrics_success(success_norm):
  settings = _settings('train_eval.success_threshold = None')
  task = build.load_task(settings)
  task.close()
  task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, success_norm=success_norm))
  threshold = point_mass.SUCCESS_THRESHOLD
  assert task.success_threshold == threshold  # None: the task's own
  # Each dimension just inside the threshold: within it by 'max', beyond it by 'l2'.
  for offset in (0.9 * threshold, 0.5 * threshold, 1.1 * threshold):
    observation = np.array([offset, offset, 0.0, 0.0])
    metric = build.distance_metrics(task, settings, batch_size=1, buffer_size=1)
    assert _success_rate(metric, observation) == float(build.reached(task.spec, observation))


def test_a_run_threshold_overrides_the_tasks():
  task = build.load_task(_settings('train_eval.success_threshold = 0.5'))
  task.close()
  assert task.success_threshold == 0.5
  assert build.success_threshold(task.spec) == point_mass.SUCCESS_THRESHOLD


def test_a_directory_without_an_export_has_no_saved_policy(tmp_path):
  assert build.saved_policy(str(tmp_path)) is None
