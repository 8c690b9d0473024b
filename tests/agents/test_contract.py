"""Every registered agent keeps the agent contract: built by the registry, it trains, exports and checkpoints."""
import inspect
import types

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.policies import greedy_policy
from tf_agents.policies import policy_saver
from tf_agents.policies import random_tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from c_learning import agents
from c_learning import config
from c_learning import frames
from c_learning import loops
from c_learning import overlap
from c_learning import relabel
from c_learning import replay
from c_learning import runner
from c_learning import train_eval
from c_learning.agents import base

OBS_SPEC = tf.TensorSpec((6,), tf.float32)  # concat(state (3), goal (3))
# A pixel task's: two stacked 24x24 RGB frames (the smallest the default conv
# torso takes), a goal frame, and the same state.
PIXEL_OBS_SPEC = {frames.PIXELS: tf.TensorSpec((24, 24, 6), tf.uint8),
                  frames.GOAL_PIXELS: tf.TensorSpec((24, 24, 3), tf.uint8),
                  frames.STATE: OBS_SPEC}
OBSERVATION_SPECS = {'state': OBS_SPEC, 'pixels': PIXEL_OBS_SPEC}
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
# Contrastive RL's: every goal a future state of its own row.
FUTURE_GOALS_RELABELER = relabel.GoalRelabeler(relabel.GoalSlice(0, 3), 3,
                                               relabel_future_prob=1.0)
IMITATION_AGENTS = ('gcsl', 'wgcsl')


def _relabeler(agent_name):
  if agent_name == 'goal_bc':
    return ORIGINAL_GOALS_RELABELER
  if agent_name == 'contrastive':
    return FUTURE_GOALS_RELABELER
  return REACHED_GOALS_RELABELER if agent_name in IMITATION_AGENTS else RELABELER

pytestmark = pytest.mark.usefixtures('clear_gin')


def _create(agent_name, kind='state'):
  return agents.create(agent_name, ts.time_step_spec(OBSERVATION_SPECS[kind]), ACTION_SPEC,
                       relabeler=_relabeler(agent_name), gamma=0.9,
                       train_step_counter=tf.Variable(0, dtype=tf.int64))


def _observations(kind, size, rng):
  """`size` random observations of the kind's spec."""
  return tf.nest.map_structure(
      lambda spec: tf.constant(rng.randint(0, 256, (size, *spec.shape)) if spec.dtype == tf.uint8
                               else rng.randn(size, *spec.shape), spec.dtype),
      OBSERVATION_SPECS[kind])


def _batch(size=8, seed=0, kind='state'):
  rng = np.random.RandomState(seed)
  return relabel.RelabeledTransition(
      observation=_observations(kind, size, rng),
      action=tf.constant(rng.uniform(-1, 1, (size, 2)), tf.float32),
      next_observation=_observations(kind, size, rng),
      goal_type=tf.constant(rng.randint(0, 5, size), tf.int32),
      future_offset=tf.constant(rng.randint(1, 9, size), tf.int32),
      reward=tf.constant(rng.randint(0, 2, size), tf.float32))


@pytest.fixture(params=sorted(agents.AGENTS))
def agent_name(request):
  return request.param


# Pixel agents trace conv encoders: about 2 minutes for all of them, so they
# run with the slow tests (CI runs both).
@pytest.fixture(params=['state', pytest.param('pixels', marks=pytest.mark.slow)])
def kind(request):
  """The observations an agent is built for: a state task's vector or a pixel task's dict."""
  return request.param


def test_registry_builds_a_goal_conditioned_agent_from_the_specs(agent_name, kind):
  agent = _create(agent_name, kind)
  assert isinstance(agent, base.GoalConditionedAgent)
  assert agent.training_data_spec == base.training_data_spec(
      ts.time_step_spec(OBSERVATION_SPECS[kind]), ACTION_SPEC)


def _variable_values(agent):
  return [variable.numpy() for variable in agent.variables]


def _assert_unchanged(agent, values):
  for before, variable in zip(values, agent.variables):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)


def _public_losses(agent):
  """The agent's public loss methods: every public method named *_loss, found so that none is forgotten."""
  return {name: getattr(agent, name) for name in dir(type(agent))
          if name.endswith('_loss') and not name.startswith('_')
          and callable(getattr(type(agent), name))}


def _batch_arguments(method, batch):
  """The batch's fields for `method`'s parameters named after them (observations: batch.observation)."""
  fields = {f'{name}s': value for name, value in batch._asdict().items()}
  parameters = inspect.signature(method).parameters
  unknown = [name for name, parameter in parameters.items()
             if parameter.default is parameter.empty and name not in fields]
  assert not unknown, (f'{method.__qualname__} needs {unknown}: a public loss takes the batch\'s '
                       f'fields, named in the plural ({", ".join(fields)})')
  return {name: fields[name] for name in parameters if name in fields}


@pytest.mark.parametrize('traced', [False, True], ids=['eager', 'tf.function'])
def test_loss_changes_nothing_and_train_step_gives_the_same_finite_named_losses(agent_name,
                                                                                 kind, traced):
  agent = _create(agent_name, kind)
  agent.initialize()
  _batch = lambda seed=0: globals()['_batch'](seed=seed, kind=kind)  # pylint: disable=invalid-name
  train = common.function(agent.train) if traced else agent.train
  loss = common.function(agent.loss) if traced else agent.loss
  values = _variable_values(agent)
  tf.random.set_seed(5)
  loss_info = loss(_batch())
  _assert_unchanged(agent, values)
  tf.random.set_seed(5)  # the same draws, eagerly, for train's first loss
  first_train_info = train(_batch())
  for seed in range(1, 3):
    train_info = train(_batch(seed=seed))
  assert int(agent.train_step_counter.numpy()) == 3
  for info in (loss_info, train_info):
    losses = info.extra._asdict()
    assert losses and all(np.isfinite(float(value)) for value in losses.values())
    np.testing.assert_allclose(float(info.loss), sum(float(v) for v in losses.values()),
                               rtol=1e-5)
  assert loss_info.extra._fields == train_info.extra._fields
  if not traced:
    # train computes its first loss before any variable moves (its later ones
    # follow a gradient step); loss() must give that one on the same batch.
    first = train_info.extra._fields[0]
    np.testing.assert_allclose(float(getattr(loss_info.extra, first)),
                               float(getattr(first_train_info.extra, first)), rtol=1e-5,
                               err_msg=first)
    values = _variable_values(agent)
    assert _public_losses(agent)
    for name, method in _public_losses(agent).items():
      value = method(**_batch_arguments(method, _batch()))
      assert value.shape == () and np.isfinite(float(value)), name
    _assert_unchanged(agent, values)


def test_greedy_policy_exports_and_acts_the_same_after_loading(agent_name, kind, tmp_path):
  # train_eval exports the greedy policy of agent.policy (c_learning.policy_export).
  greedy = greedy_policy.GreedyPolicy(_create(agent_name, kind).policy)
  policy_saver.PolicySaver(greedy, batch_size=None).save(str(tmp_path / 'policy'))
  loaded = tf.saved_model.load(str(tmp_path / 'policy'))
  time_step = ts.restart(_observations(kind, 4, np.random.RandomState(1)), batch_size=4)
  expected = greedy.action(time_step).action.numpy()
  action = loaded.action(time_step, loaded.get_initial_state(4)).action.numpy()
  assert action.shape == (4, 2) and np.all(np.abs(action) <= 1.0)
  np.testing.assert_allclose(action, expected, rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip_restores_every_variable(agent_name, kind, tmp_path):
  agent = _create(agent_name, kind)
  agent.initialize()
  agent.train(_batch(kind=kind))
  saved = [v.numpy() for v in agent.variables]
  checkpoint = tf.train.Checkpoint(agent=agent)
  path = checkpoint.save(str(tmp_path / 'ckpt'))
  agent.train(_batch(seed=1, kind=kind))  # moves the weights and the optimizers' slots
  assert any(not np.array_equal(a, v.numpy()) for a, v in zip(saved, agent.variables))
  checkpoint.restore(path).assert_existing_objects_matched()
  for before, variable in zip(saved, agent.variables):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)
  # A fresh agent restores to the same variables too.
  fresh = _create(agent_name, kind)
  tf.train.Checkpoint(agent=fresh).restore(path).assert_existing_objects_matched()
  for before, variable in zip(saved, fresh.variables):
    np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.name)


def test_sample_batch_draws_what_the_agent_trains_on(agent_name, kind):
  agent = _create(agent_name, kind)
  buffer = replay.GoalReplayBuffer(OBSERVATION_SPECS[kind], ACTION_SPEC, batch_size=1,
                                   max_length=50, gamma=0.9, seed=0)
  rng = np.random.RandomState(0)
  for step in range(20):
    buffer.add_batch((replay.Transition(
        _observations(kind, 1, rng), tf.constant(rng.uniform(-1, 1, (1, 2)), tf.float32),
        _observations(kind, 1, rng)),
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


def test_the_loops_take_the_agent_by_what_it_declares(agent_name, kind):
  agent_class = agents.AGENTS[agent_name]
  for loop in ('plain', 'offline'):
    loops.check_agent(loop, agent_class)  # any agent runs in them
  if not agent_class.COLLECTS_WITH_ACTOR_SNAPSHOT:
    with pytest.raises(config.ConfigError):
      loops.check_agent('overlapped', agent_class)
    return
  loops.check_agent('overlapped', agent_class)
  # What the overlapped loop does with it: collect with a copy of its actor.
  agent = _create(agent_name, kind)
  snapshot = overlap.PolicySnapshot(agent.actor_network, agent.collect_policy_with)
  time_step = ts.restart(_observations(kind, 4, np.random.RandomState(2)), batch_size=4)
  action = snapshot.policy.action(time_step, snapshot.policy.get_initial_state(4)).action
  assert action.shape == (4, 2)


class _PlannerAgent(base.GoalConditionedAgent):
  """A fake agent without an actor network (as a planner would be): it acts at random and trains nothing."""

  ALGORITHM = 'A planner'

  def __init__(self):
    policy = random_tf_policy.RandomTFPolicy(TIME_STEP_SPEC, ACTION_SPEC)
    super().__init__(TIME_STEP_SPEC, ACTION_SPEC, policy, policy, train_sequence_length=None,
                     num_outer_dims=1,
                     training_data_spec=base.training_data_spec(TIME_STEP_SPEC, ACTION_SPEC))

  def _initialize(self):
    pass

  def _train(self, experience, weights):
    del experience, weights
    return tf_agent.LossInfo(loss=tf.constant(0.0), extra=())


def test_an_agent_without_an_actor_to_snapshot_is_refused_the_overlapped_loop_in_one_line(
    monkeypatch):
  planner = _PlannerAgent()
  assert planner.actor_network is None
  with pytest.raises(NotImplementedError, match='_PlannerAgent'):
    planner.collect_policy_with(None)
  with pytest.raises(config.ConfigError) as error:
    loops.create('overlapped', types.SimpleNamespace(agent=planner))
  message = str(error.value)
  assert '\n' not in message
  assert '_PlannerAgent (A planner)' in message and "use train_eval.loop='plain'" in message
  # The runner refuses it at start-up, before it builds the task or the agent.
  monkeypatch.setitem(agents.AGENTS, 'planner', _PlannerAgent)
  settings = {**train_eval.configured_arguments(), 'agent_name': 'planner'}
  with pytest.raises(config.ConfigError, match=r"^train_eval.loop='overlapped' .*_PlannerAgent"):
    runner._check_settings(types.SimpleNamespace(**settings))
  runner._check_settings(types.SimpleNamespace(**{**settings, 'loop': 'plain'}))
