"""Every registered agent keeps the agent contract: built by the registry, it trains, exports and checkpoints."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.policies import greedy_policy
from tf_agents.policies import policy_saver
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from c_learning import agents
from c_learning import relabel
from c_learning import replay
from c_learning.agents import base

OBS_SPEC = tf.TensorSpec((6,), tf.float32)  # concat(state (3), goal (3))
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -1.0, 1.0)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
# A split the critic agents accept (C-learning needs next + future = 0.5), and
# one for the imitation agents (GCSL and WGCSL need goals the episode reached),
# and goal-conditioned BC's (the episodes' own goals).
RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(0, 3), 3, relabel_next_prob=0.3,
                                  relabel_future_prob=0.2)
REACHED_GOALS_RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(0, 3), 3,
                                                relabel_next_prob=0.3, relabel_future_prob=0.7)
ORIGINAL_GOALS_RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(0, 3), 3,
                                                 relabel_orig_prob=1.0)
IMITATION_AGENTS = ('gcsl', 'wgcsl')


def _relabeler(agent_name):
  if agent_name == 'goal_bc':
    return ORIGINAL_GOALS_RELABELER
  return REACHED_GOALS_RELABELER if agent_name in IMITATION_AGENTS else RELABELER

pytestmark = pytest.mark.usefixtures('clear_gin')


def _create(agent_name):
  return agents.create(agent_name, TIME_STEP_SPEC, ACTION_SPEC, relabeler=_relabeler(agent_name),
                       gamma=0.9, train_step_counter=tf.Variable(0, dtype=tf.int64))


def _batch(size=8, seed=0):
  rng = np.random.RandomState(seed)
  return relabel.RelabeledTransition(
      observation=tf.constant(rng.randn(size, 6), tf.float32),
      action=tf.constant(rng.uniform(-1, 1, (size, 2)), tf.float32),
      next_observation=tf.constant(rng.randn(size, 6), tf.float32),
      goal_type=tf.constant(rng.randint(0, 5, size), tf.int32),
      future_offset=tf.constant(rng.randint(1, 9, size), tf.int32),
      reward=tf.constant(rng.randint(0, 2, size), tf.float32))


@pytest.fixture(params=sorted(agents.AGENTS))
def agent_name(request):
  return request.param


def test_registry_builds_a_goal_conditioned_agent_from_the_specs(agent_name):
  agent = _create(agent_name)
  assert isinstance(agent, base.GoalConditionedAgent)
  assert agent.training_data_spec == base.training_data_spec(TIME_STEP_SPEC, ACTION_SPEC)


@pytest.mark.parametrize('traced', [False, True], ids=['eager', 'tf.function'])
def test_train_step_gives_finite_named_losses_and_counts(agent_name, traced):
  agent = _create(agent_name)
  agent.initialize()
  train = common.function(agent.train) if traced else agent.train
  for seed in range(3):
    loss_info = train(_batch(seed=seed))
  assert int(agent.train_step_counter.numpy()) == 3
  losses = loss_info.extra._asdict()
  assert losses and all(np.isfinite(float(value)) for value in losses.values())
  np.testing.assert_allclose(float(loss_info.loss), sum(float(v) for v in losses.values()),
                             rtol=1e-5)


def test_greedy_policy_exports_and_acts_the_same_after_loading(agent_name, tmp_path):
  # train_eval exports the greedy policy of agent.policy (c_learning.policy_export).
  greedy = greedy_policy.GreedyPolicy(_create(agent_name).policy)
  policy_saver.PolicySaver(greedy, batch_size=None).save(str(tmp_path / 'policy'))
  loaded = tf.saved_model.load(str(tmp_path / 'policy'))
  time_step = ts.restart(tf.constant(np.random.RandomState(1).randn(4, 6), tf.float32),
                         batch_size=4)
  expected = greedy.action(time_step).action.numpy()
  action = loaded.action(time_step, loaded.get_initial_state(4)).action.numpy()
  assert action.shape == (4, 2) and np.all(np.abs(action) <= 1.0)
  np.testing.assert_allclose(action, expected, rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_restores_every_variable(agent_name, tmp_path):
  agent = _create(agent_name)
  agent.initialize()
  agent.train(_batch())
  saved = [v.numpy() for v in agent.variables]
  checkpoint = tf.train.Checkpoint(agent=agent)
  path = checkpoint.save(str(tmp_path / 'ckpt'))
  agent.train(_batch(seed=1))  # moves the weights and the optimizers' slots
  assert any(not np.array_equal(a, v.numpy()) for a, v in zip(saved, agent.variables))
  checkpoint.restore(path).assert_existing_objects_matched()
  for before, variable in zip(saved, agent.variables):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
  # A fresh agent restores to the same variables too.
  fresh = _create(agent_name)
  tf.train.Checkpoint(agent=fresh).restore(path).assert_existing_objects_matched()
  for before, variable in zip(saved, fresh.variables):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)


def test_sample_batch_draws_what_the_agent_trains_on(agent_name):
  agent = _create(agent_name)
  buffer = replay.GoalReplayBuffer(OBS_SPEC, ACTION_SPEC, batch_size=1, max_length=50,
                                   gamma=0.9, seed=0)
  rng = np.random.RandomState(0)
  for step in range(20):
    buffer.add_batch((replay.Transition(
        tf.constant(rng.randn(1, 6), tf.float32), tf.constant(rng.uniform(-1, 1, (1, 2)),
                                                                tf.float32),
        tf.constant(rng.randn(1, 6), tf.float32)),
        tf.constant([step % 10 == 0]), tf.constant([step % 10 == 9]), tf.constant([True])))
  batch = agent.sample_batch(buffer, _relabeler(agent_name), 16)
  tf.nest.assert_same_structure(batch, agent.training_data_spec)
  for value, spec in zip(tf.nest.flatten(batch), tf.nest.flatten(agent.training_data_spec)):
    assert value.dtype == spec.dtype and value.shape[1:] == spec.shape
  agent.train(batch)


def test_an_action_spec_the_agent_cannot_use_is_one_clear_line(agent_name):
  unbounded = tf.TensorSpec((2,), tf.float32)
  with pytest.raises(ValueError, match='needs a single (continuous .bounded, float.|bounded) '
                                       'action spec'):
    agents.create(agent_name, TIME_STEP_SPEC, unbounded, relabeler=_relabeler(agent_name),
                  gamma=0.9,
                  train_step_counter=tf.Variable(0, dtype=tf.int64))
