"""Discrete actions end to end: a task of int actions trains, exports, evaluates, collects and trains offline; agents that act continuously refuse it."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import agents
from c_learning import collect
from c_learning import config
from c_learning import datasets
from c_learning import evaluate
from c_learning import relabel
from tests import train_eval_helpers as helpers

pytestmark = pytest.mark.usefixtures('clear_gin')

# GLAMOR's discretised cartpole: 3 actions (push left, none, right), 100-step episodes.
DISCRETE_CARTPOLE = ['gin/dmc_cartpole.gin']
DISCRETE = ["dmc_task.actions = 'discrete'", 'dmc_task.max_episode_steps = 20']
GCSL = ['gin/setups/gcsl.gin']
CONTINUOUS_ONLY = sorted(name for name, agent in agents.AGENTS.items()
                         if 'discrete' not in agent.ACTION_KINDS)


@pytest.mark.parametrize('agent_name', CONTINUOUS_ONLY)
def test_an_agent_that_acts_continuously_refuses_discrete_actions_in_one_line(agent_name):
  spec = tensor_spec.BoundedTensorSpec((), tf.int32, 0, 2)
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(0, 3), 3, relabel_next_prob=0.3,
                                    relabel_future_prob=0.2)
  with pytest.raises(config.ConfigError) as error:
    agents.create(agent_name, ts.time_step_spec(tf.TensorSpec((6,), tf.float32)), spec,
                  relabeler=relabeler, gamma=0.9, train_step_counter=tf.Variable(0, tf.int64))
  assert str(error.value) == (
      f"train_eval.agent_name={agent_name!r} ({agents.AGENTS[agent_name].ALGORITHM}) acts in "
      "continuous actions, and the task's are discrete: use an agent that takes discrete "
      "actions (gcsl, goal_bc) or the task's continuous actions (dm-control tasks: "
      'dmc_task.actions).')


def test_gcsl_acts_in_either_kind():
  assert set(agents.AGENTS['gcsl'].ACTION_KINDS) == {'continuous', 'discrete'}
  assert agents.action_kind(tensor_spec.BoundedTensorSpec((), tf.int64, 0, 8)) == 'discrete'
  assert agents.action_kind(tensor_spec.BoundedTensorSpec((2,), tf.float32, -1, 1)) == (
      'continuous')


@pytest.mark.slow
def test_gcsl_trains_exports_and_evaluates_on_discrete_cartpole(tmp_path, monkeypatch):
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'datasets'))
  run = tmp_path / 'run'
  helpers.run(run, DISCRETE_CARTPOLE + GCSL, helpers.SMALL + DISCRETE + [
      'train_eval.num_iterations = 100', 'train_eval.train_checkpoint_interval = 100',
      'train_eval.eval_interval = 100'])
  exported = tf.saved_model.load(str(run / 'policy')).signatures['action'].structured_outputs
  assert exported['action'].dtype == tf.int32 and exported['action'].shape == (None,)
  from_checkpoint = evaluate.evaluate(run, 2, seed=5)
  assert from_checkpoint == evaluate.evaluate(run, 2, source='policy', seed=5)
  assert from_checkpoint['train_step'] == 100

  # The run's policy collects a dataset of int actions, and GCSL trains offline on it.
  path = collect.collect('c_learning/dmc_cartpole-discrete-v0', episodes=3, policy_from=str(run),
                         random_prob=0.5)
  # cartpole's state: cart x, pole (cos, sin), 2 velocities; its goal the 3 positions.
  transitions = datasets.read(path, 'dmc:cartpole', 8, tensor_spec.BoundedTensorSpec(
      (), tf.int32, 0, 2))
  assert transitions.actions.dtype.kind == 'i' and transitions.size == 60
  assert set(np.unique(transitions.actions)) <= {0, 1, 2}
  offline = tmp_path / 'offline'
  helpers.run(offline, DISCRETE_CARTPOLE + GCSL + ['gin/setups/offline.gin'],
              helpers.SMALL + DISCRETE + [f'train_eval.dataset = {path!r}',
                                          'train_eval.initial_collect_steps = 0',
                                          'train_eval.num_iterations = 20'])
  assert int(tf.saved_model.load(str(offline / 'policy')).get_train_step()) == 20
