"""Observation normalisation (HER's): the running statistics, the layer, and an agent that trains, acts, snapshots, checkpoints and exports with them."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from c_learning import normalization
from c_learning import overlap
from c_learning import policy_export
from c_learning.agents import c_learning_agent
from c_learning.agents import sac_her_agent
from c_learning.agents import td3_her_agent
from c_learning.relabel import GoalType
from c_learning.relabel import RelabeledTransition

OBS_WIDTH = 5
TIME_STEP_SPEC = ts.time_step_spec(tf.TensorSpec((OBS_WIDTH,), tf.float32))
ACTION_SPEC = tensor_spec.BoundedTensorSpec((2,), tf.float32, -1.0, 1.0)

pytestmark = pytest.mark.usefixtures('clear_gin')


def _rows(size, seed):
  """Rows far from 0 with small spreads, as positions are; the last dimension is constant."""
  rng = np.random.RandomState(seed)
  rows = rng.normal([0.6, -0.2, 0.1, 3.0, 0.0], [0.05, 0.1, 0.02, 1.0, 0.0], (size, OBS_WIDTH))
  return rows.astype(np.float32)


def _batch(size=32, seed=0):
  observations = _rows(size, seed)
  return RelabeledTransition(
      observation=tf.constant(observations),
      action=tf.constant(np.random.RandomState(seed).uniform(-1, 1, (size, 2)), tf.float32),
      next_observation=tf.constant(observations),
      goal_type=tf.constant([int(GoalType.NEXT)] * size, tf.int32),
      future_offset=tf.constant([1] * size, tf.int32),
      reward=tf.zeros([size], tf.float32))


def test_running_statistics_equal_those_of_every_row_seen():
  stats = normalization.RunningMeanStd(OBS_WIDTH)
  mean, std = stats.mean_and_std()
  np.testing.assert_array_equal(mean, np.zeros(OBS_WIDTH))
  np.testing.assert_array_equal(std, np.ones(OBS_WIDTH))
  batches = [_rows(size, seed) for seed, size in enumerate([3, 50, 17])]
  for batch in batches:
    stats.update(batch)
  rows = np.concatenate(batches).astype(np.float64)
  mean, std = stats.mean_and_std()
  np.testing.assert_allclose(mean, rows.mean(axis=0), rtol=1e-6)
  # The constant dimension gets HER's smallest std, not 0.
  expected_std = np.maximum(rows.std(axis=0), normalization.MIN_STD)
  np.testing.assert_allclose(std, expected_std, rtol=1e-5)
  assert float(std[-1]) == pytest.approx(normalization.MIN_STD)
  assert stats.count.numpy() == 70


def test_normalize_centres_scales_and_clips():
  layer = normalization.Normalize(2)
  layer.assign([1.0, -1.0], [0.5, 2.0])
  out = layer(tf.constant([[2.0, 3.0], [100.0, -100.0]]))
  np.testing.assert_allclose(out, [[2.0, 2.0], [normalization.CLIP, -normalization.CLIP]])


def _td3(**kwargs):
  return td3_her_agent.Td3HerAgent(TIME_STEP_SPEC, ACTION_SPEC, actor_fc_layers=(8,),
                                   critic_fc_layers=(8,),
                                   train_step_counter=tf.Variable(0, dtype=tf.int64), **kwargs)


def test_off_by_default_the_networks_see_raw_observations():
  agent = _td3()
  assert not any(isinstance(net, normalization.NormalizedNetwork) for net in agent._networks)
  assert agent._observation_stats is None


@pytest.mark.parametrize('make_agent', [
    _td3,
    lambda **kw: sac_her_agent.SacHerAgent(TIME_STEP_SPEC, ACTION_SPEC, actor_fc_layers=(8,),
                                           critic_fc_layers=(8,), **kw),
    lambda **kw: c_learning_agent.CLearningAgent(TIME_STEP_SPEC, ACTION_SPEC,
                                                 actor_fc_layers=(8,), critic_fc_layers=(8,),
                                                 **kw),
], ids=['td3_her', 'sac_her', 'c_learning'])
def test_a_train_step_hands_the_batch_statistics_to_every_network(make_agent):
  agent = make_agent(normalize_observations=True)
  agent.initialize()
  batch = _batch()
  agent.train(batch)
  rows = batch.observation.numpy().astype(np.float64)
  mean, std = rows.mean(axis=0), np.maximum(rows.std(axis=0), normalization.MIN_STD)
  # Actor, both critics, their targets (and TD3's target actor): one normalisation.
  assert len(agent._networks) >= 5
  for net in agent._networks:
    np.testing.assert_allclose(net.normalize.shift.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(net.normalize.scale.numpy(), std, rtol=1e-5)
  trainable = {id(v) for v in agent._actor_network.trainable_variables}
  assert id(agent._actor_network.normalize.shift) not in trainable


def test_the_policy_acts_on_normalised_observations_and_a_snapshot_copies_them():
  agent = _td3(normalize_observations=True)
  agent.initialize()
  agent.train(_batch())
  observations = tf.constant(_rows(4, seed=9))
  time_step = ts.restart(observations, batch_size=4)
  actor = agent.actor_network
  expected, _ = actor.inner(actor.normalize(observations))
  raw, _ = actor.inner(observations)
  np.testing.assert_allclose(agent.policy.action(time_step).action, expected, rtol=1e-5)
  assert not np.allclose(expected, raw, atol=1e-3)
  # The overlapped loop collects with a snapshot: it carries the statistics too.
  snapshot = overlap.PolicySnapshot(actor, agent.collect_policy_with)
  np.testing.assert_array_equal(snapshot._copy.normalize.shift, actor.normalize.shift)
  np.testing.assert_allclose(snapshot._copy(observations)[0], expected, rtol=1e-5)


def test_checkpoint_and_exported_policy_keep_the_statistics(tmp_path):
  agent = _td3(normalize_observations=True)
  agent.initialize()
  for seed in range(3):
    agent.train(_batch(seed=seed))
  path = tf.train.Checkpoint(agent=agent).save(str(tmp_path / 'ckpt'))
  observations = tf.constant(_rows(4, seed=9))
  time_step = ts.restart(observations, batch_size=4)
  actions = agent.policy.action(time_step).action.numpy()

  restored = _td3(normalize_observations=True)
  restored.initialize()
  status = tf.train.Checkpoint(agent=restored).restore(path)
  status.assert_existing_objects_matched()
  status.expect_partial()  # the optimizers' slots, made at the first step
  assert restored._observation_stats.count.numpy() == 96
  np.testing.assert_allclose(restored.policy.action(time_step).action, actions, rtol=1e-5)
  # The next step updates the restored statistics, not fresh ones.
  restored.train(_batch(seed=3))
  rows = np.concatenate([_rows(32, seed) for seed in range(4)]).astype(np.float64)
  np.testing.assert_allclose(restored.actor_network.normalize.shift, rows.mean(axis=0),
                             rtol=1e-5)

  exported = policy_export.PolicyExporter(str(tmp_path), agent.policy,
                                          agent.train_step_counter).export()
  loaded = tf.saved_model.load(exported)
  np.testing.assert_allclose(loaded.action(time_step).action, actions, rtol=1e-5)
