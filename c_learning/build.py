"""A run's task, metrics, agent and policies from its settings: the one builder of train_eval, evaluate and collect.

`settings` is train_eval's arguments (root_dir aside) with attribute access,
as the Runner gets them or as a run's operative.gin sets them. The builder
decides nothing a binding could: it only assembles what the settings say.
"""
import dataclasses
import os
from typing import Any, Callable

import tensorflow as tf
from tf_agents.policies import greedy_policy

from c_learning import agents
from c_learning import config
from c_learning import envs
from c_learning import metrics
from c_learning import policy_export
from c_learning import relabel
from c_learning.envs import tasks


@dataclasses.dataclass(frozen=True)
class Task:
  """A run's task as its settings build it: its envs, and the dimensions and threshold of its goals."""
  spec: tasks.TaskSpec
  train_env: Any  # TFPyEnvironment, batch size num_train_envs
  eval_env: Any  # TFPyEnvironment, batch size 1
  state_dim: int
  goal_slice: relabel.GoalSlice  # the state dimensions the run's goals constrain
  success_threshold: float  # the run's train_eval.success_threshold, else the task's own
  relabeler: Callable  # relabel.goal_fn's, for these goal dimensions

  def close(self):
    """Closes both envs (the processes of parallel envs, the renderers and their GL contexts)."""
    self.train_env.close()
    self.eval_env.close()


def load_task(settings, seed=None, num_train_envs=1):
  """The run's task; its eval env's goals are those of a run with random_seed=seed (None: the run's own)."""
  with config.required_bindings_as_config_errors():
    goal_dims = relabel.obs_to_goal()
    train_env, eval_env, state_dim = envs.load(
        settings.env_name, goal_slice=goal_dims,
        seed=settings.random_seed if seed is None else seed, num_train_envs=num_train_envs,
        observations=settings.observations)
    try:
      spec = envs.task_spec(settings.env_name)
      goal_slice = spec.goal_slice(goal_dims)  # in state dimensions
      # The agents check the relabeling split they need when they are made.
      relabeler = relabel.goal_fn(goal_slice, state_dim)
    except BaseException:
      train_env.close()
      eval_env.close()
      raise
  return Task(spec, train_env, eval_env, state_dim, goal_slice,
              success_threshold(spec, settings.success_threshold), relabeler)


def success_threshold(spec, threshold=None):
  """The distance below which a goal counts as reached: `threshold` (a run's setting) if set, else the task's."""
  return spec.success_threshold if threshold is None else threshold


def reached(spec, observation, threshold=None):
  """Whether a full observation (concat(state, goal)) reaches its goal, as the metrics' SuccessRate counts it.

  A sparse reward that must agree with SuccessRate (c_learning.collect's) goes
  through here: the task's success dimensions and norm (TaskSpec.distance), the
  threshold and the comparison are those that distance_metrics gives the metric.
  """
  return spec.distance(observation) < success_threshold(spec, threshold)


def distance_metrics(task, settings, batch_size, buffer_size):
  """The task's GoalDistanceMetrics (distances, success) over `batch_size` envs and the last `buffer_size` episodes."""
  return metrics.GoalDistanceMetrics(
      task.state_dim, task.goal_slice, batch_size=batch_size, buffer_size=buffer_size,
      success_threshold=task.success_threshold, success_norm=task.spec.success_norm,
      log_subset=settings.log_subset, prefix='Metrics')


def create_agent(settings, task, train_step_counter):
  """The agent settings.agent_name for the task; its own settings come from gin bindings on its class."""
  with config.required_bindings_as_config_errors():
    return agents.create(
        settings.agent_name, task.train_env.time_step_spec(), task.train_env.action_spec(),
        relabeler=task.relabeler, gamma=settings.gamma, train_step_counter=train_step_counter,
        debug_summaries=settings.debug_summaries,
        summarize_grads_and_vars=settings.summarize_grads_and_vars)


def eval_policy(agent):
  """The policy that evaluations run and that train_eval exports: the agent's, greedy."""
  return greedy_policy.GreedyPolicy(agent.policy)


def saved_policy(root_dir):
  """The eval policy that train_eval exported under root_dir (a SavedModel), or None if there is none."""
  directory = policy_export.policy_dir(os.path.expanduser(root_dir))
  return None if directory is None else tf.saved_model.load(directory)
