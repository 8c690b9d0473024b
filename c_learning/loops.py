"""How a run's iterations collect and train: a plain loop, and the overlapped loop that is the default.

Both run `count` iterations in one traced call (a loop in the graph), and an
iteration is collect_steps env steps and train_steps train steps. A run picks
one with train_eval.loop; they share this interface:

  loop.prepare(iteration)     after the initial collection or a restore
  loop.run(iteration, count)  `count` iterations from `iteration`; the last LossInfo

A third, 'offline', only trains: its replay holds a dataset (train_eval.dataset).
"""
import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.utils import common

from c_learning import config
from c_learning import overlap
from c_learning import seeding


class LoopParts:
  """What a loop works on: the agent, the train env, the replay and how to sample and train."""

  def __init__(self, agent, train_env, replay_buffer, relabeler, observers, train_step,
               batch_size, collect_steps, train_steps, random_seed, use_tf_functions):
    self.agent = agent
    self.train_env = train_env
    self.replay_buffer = replay_buffer
    self.relabeler = relabeler
    self.observers = observers  # the train metrics, fed every env step
    self.train_step = train_step  # agent.train, or its XLA-compiled form
    self.batch_size = batch_size
    self.collect_steps = collect_steps
    self.train_steps = train_steps
    self.random_seed = random_seed
    self.maybe_traced = common.function if use_tf_functions else lambda f: f

  def collect_driver(self, policy, num_steps=None):
    """A driver of num_steps (default collect_steps) env steps with `policy` into the replay buffer and the metrics."""
    return dynamic_step_driver.DynamicStepDriver(
        self.train_env, policy, observers=self.observers,
        transition_observers=[self.replay_buffer.add_transition],
        num_steps=self.collect_steps if num_steps is None else num_steps)

  def sample_batches(self):
    """train_steps batches that the agent draws from the replay buffer as it is now."""
    return [self.agent.sample_batch(self.replay_buffer, self.relabeler, self.batch_size)
            for _ in range(self.train_steps)]

  def seed(self, *names):
    seeding.seed_traced_part(self.random_seed, *names)


def _at_root_scope(fn):
  """`fn`, called at the root name scope."""
  def at_root(*args):
    # Summary tags take the name scope: the root keeps the agents' tags
    # (Losses/...) free of the loop's while/ and cond/ prefixes.
    with tf.compat.v1.get_default_graph().name_scope(None):
      return fn(*args)
  return at_root


def _in_a_graph_loop(iteration_fn, last_loss_info):
  """A function (first, count) running iteration_fn(first + i) for i < count in one graph loop."""
  def run_iterations(first, count):
    def body(i):
      last_loss_info.put(_at_root_scope(iteration_fn)(first + i))
      return (i + 1,)
    # One traced loop for every count: its random ops, and so their draws,
    # are the same however the iterations are split into calls.
    tf.while_loop(lambda i: i < count, body, (tf.constant(0),), parallel_iterations=1)
    return last_loss_info.get()
  return run_iterations


class OverlappedLoop:
  """Iteration k's env steps and train steps run side by side (the default: the fastest on CPUs).

  It needs an agent with COLLECTS_WITH_ACTOR_SNAPSHOT (check_agent). Iteration k
  collects with a snapshot of the actor after iteration k - 1 and trains on
  batches sampled after iteration k - 1's env steps, so a batch never holds its
  own iteration's steps. Iteration k collects with snapshots[k % 2]
  and trains on stages[k % 2]; meanwhile it fills the other snapshot and stage
  for iteration k + 1. The two halves never touch the same variables, so with
  overlap_collection TensorFlow's executor runs them at once; without it, one
  after the other, with the same result.
  """

  def __init__(self, parts, overlap_collection=True):
    self._parts = parts
    self._overlap_collection = overlap_collection
    self._snapshots = [overlap.PolicySnapshot(parts.agent.actor_network,
                                              parts.agent.collect_policy_with)
                       for _ in range(2)]
    batch_spec = tf.nest.map_structure(
        lambda spec: tf.TensorSpec([parts.batch_size] + spec.shape.as_list(), spec.dtype),
        parts.agent.training_data_spec)
    zero_batch = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype),
                                       batch_spec)
    self._stages = [overlap.VariableNest([zero_batch] * parts.train_steps) for _ in range(2)]
    self._drivers = [parts.collect_driver(snapshot.policy) for snapshot in self._snapshots]
    self._carry = None
    self._prepare = parts.maybe_traced(self._prepare_parity)
    self._run = parts.maybe_traced(_in_a_graph_loop(self._iteration, overlap.VariableNest()))

  def prepare(self, iteration):
    """Readies iteration `iteration`'s snapshot and batches; the env goes on from where it is."""
    self._carry = overlap.VariableNest((
        self._parts.train_env.current_time_step(),
        self._snapshots[0].policy.get_initial_state(self._parts.train_env.batch_size)))
    self._prepare(iteration % 2)

  def run(self, iteration, count):
    """`count` iterations from `iteration`; the last one's LossInfo."""
    return self._run(tf.constant(iteration % 2), tf.constant(count))

  def _prepare_parity(self, parity):
    self._parts.seed('prepare')
    self._snapshots[parity].refresh()
    self._stages[parity].put(self._parts.sample_batches())

  def _iteration(self, parity_step):
    parity = parity_step % 2
    iteration_of_parity = _at_root_scope(self._iteration_of_parity)
    return tf.cond(tf.equal(parity, 0), lambda: iteration_of_parity(0),
                   lambda: iteration_of_parity(1))

  def _iteration_of_parity(self, parity):
    """The env steps, then sampling the next batches, beside the train steps."""
    parts = self._parts
    time_step, policy_state = self._carry.get()
    parts.seed('collect', parity)
    time_step, policy_state = self._drivers[parity].run(
        time_step=time_step, policy_state=policy_state)
    parts.seed('sample', parity)
    self._stages[1 - parity].put(parts.sample_batches())
    collected = tf.nest.flatten((time_step, policy_state))
    # No dependency between the halves (they share no variables) lets the
    # executor run the train steps while the env steps run.
    with tf.control_dependencies([] if self._overlap_collection else collected):
      parts.seed('train', parity)
      for batch in self._stages[parity].get():
        loss_info = parts.train_step(batch)
      self._snapshots[1 - parity].refresh()
    self._carry.put((time_step, policy_state))
    return loss_info


class PlainLoop:
  """Collect, then train on batches that include the newest env steps (as TF-Agents' examples do).

  Any agent runs in it (it needs no actor network to copy), at the price of
  speed: the env steps and the train steps of an iteration run one after the
  other. Its runs are deterministic and independent of iterations_per_call, but
  not the overlapped loop's runs: its batches hold each iteration's own steps.
  """

  def __init__(self, parts):
    self._parts = parts
    self._driver = parts.collect_driver(parts.agent.collect_policy)
    self._carry = None
    self._run = parts.maybe_traced(_in_a_graph_loop(self._iteration, overlap.VariableNest()))

  def prepare(self, iteration):
    """The env goes on from where it is; nothing else is staged."""
    del iteration
    self._carry = overlap.VariableNest((
        self._parts.train_env.current_time_step(),
        self._parts.agent.collect_policy.get_initial_state(self._parts.train_env.batch_size)))

  def run(self, iteration, count):
    """`count` iterations from `iteration`; the last one's LossInfo."""
    return self._run(tf.constant(iteration), tf.constant(count))

  def _iteration(self, unused_iteration):
    parts = self._parts
    time_step, policy_state = self._carry.get()
    parts.seed('collect', 'plain')
    time_step, policy_state = self._driver.run(time_step=time_step, policy_state=policy_state)
    self._carry.put((time_step, policy_state))
    with tf.control_dependencies(tf.nest.flatten((time_step, policy_state))):
      parts.seed('sample', 'plain')
      batches = parts.sample_batches()
    parts.seed('train', 'plain')
    for batch in batches:
      loss_info = parts.train_step(batch)
    return loss_info


class OfflineLoop:
  """Train steps only, on batches from a replay that a dataset filled (train_eval.dataset)."""

  def __init__(self, parts):
    self._parts = parts
    self._run = parts.maybe_traced(_in_a_graph_loop(self._iteration, overlap.VariableNest()))

  def prepare(self, iteration):
    """Nothing to stage: no env steps are taken."""
    del iteration

  def run(self, iteration, count):
    """`count` iterations from `iteration`; the last one's LossInfo."""
    return self._run(tf.constant(iteration), tf.constant(count))

  def _iteration(self, unused_iteration):
    parts = self._parts
    parts.seed('sample', 'offline')
    batches = parts.sample_batches()
    parts.seed('train', 'offline')
    for batch in batches:
      loss_info = parts.train_step(batch)
    return loss_info


LOOPS = ('overlapped', 'plain', 'offline')


def check_agent(loop, agent_class):
  """Raises config.ConfigError where the loop named `loop` cannot run agents of `agent_class`."""
  if loop == 'overlapped' and not agent_class.COLLECTS_WITH_ACTOR_SNAPSHOT:
    raise config.ConfigError(
        f"train_eval.loop='overlapped' collects with a snapshot of the agent's actor network, "
        f'and {agent_class.__name__} ({agent_class.ALGORITHM}) has none to copy: use '
        "train_eval.loop='plain'.")


def create(loop, parts, overlap_collection=None):
  """The loop named `loop` (one of LOOPS) over `parts`; overlap_collection None is the overlapped loop's default (on)."""
  check_agent(loop, type(parts.agent))
  if loop == 'overlapped':
    return OverlappedLoop(parts, True if overlap_collection is None else overlap_collection)
  if loop == 'offline':
    return OfflineLoop(parts)
  return PlainLoop(parts)
