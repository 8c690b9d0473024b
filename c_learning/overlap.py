"""What lets collection run beside training: an actor snapshot, and batches staged in variables."""
import tensorflow as tf
from tf_agents.policies import actor_policy
from tf_agents.utils import common


class PolicySnapshot:
  """An ActorPolicy over a copy of an actor network, refreshed from the original on demand.

  Collection reads the copy while the train step, running at the same time,
  rewrites the original, so the policy never sees half-updated weights and a
  seed gives the same run whatever the order the ops run in. Refreshing before
  each collection step gives the policy serial collection would use: the actor
  after the previous train step.
  """

  def __init__(self, actor_network, time_step_spec, action_spec):
    self._source = actor_network
    self._copy = actor_network.copy(name='CollectActorNetwork')
    self._copy.create_variables()
    self.policy = actor_policy.ActorPolicy(time_step_spec, action_spec, self._copy,
                                           training=False)
    self.refresh()

  def refresh(self):
    """Copies the actor's current weights into the snapshot."""
    return common.soft_variables_update(self._source.variables, self._copy.variables,
                                        tau=1.0)


class BatchStage:
  """Holds `count` training batches in variables between the call that samples them and the train call.

  Handing batches to a tf.function as arguments costs a signature check of every
  tensor on each call (about 0.5 ms an iteration here); variables cost a copy.
  """

  def __init__(self, batch_spec, count):
    self._variables = [
        tf.nest.map_structure(
            lambda spec: tf.Variable(tf.zeros(spec.shape, spec.dtype), trainable=False),
            batch_spec)
        for _ in range(count)]

  def put(self, batches):
    """Stores `count` batches (a list, each matching batch_spec)."""
    for variables, batch in zip(self._variables, batches):
      tf.nest.map_structure(lambda variable, value: variable.assign(value), variables, batch)

  def get(self):
    """The stored batches, as a list of tensors."""
    return [tf.nest.map_structure(tf.identity, variables) for variables in self._variables]


class StepCarry:
  """The collection's time step and policy state, kept in variables from one traced iteration to the next."""

  def __init__(self, time_step, policy_state):
    self._variables = tf.nest.map_structure(
        lambda value: tf.Variable(value, trainable=False), (time_step, policy_state))

  def get(self):
    """The stored (time_step, policy_state)."""
    return tf.nest.map_structure(tf.identity, self._variables)

  def put(self, time_step, policy_state):
    """Stores the time step and policy state the next iteration starts from."""
    tf.nest.map_structure(lambda variable, value: variable.assign(value),
                          self._variables, (time_step, policy_state))


class LastValue:
  """The latest of a stream of same-structured tensor nests (a loss info), in variables made on first use.

  A traced loop cannot carry a value whose structure it learns only from its
  body; it stores each iteration's value here instead.
  """

  def __init__(self):
    self._variables = None

  def put(self, value):
    """Stores `value` (the same structure every time)."""
    if self._variables is None:
      with tf.init_scope():  # out of any trace or loop body
        self._variables = tf.nest.map_structure(
            lambda t: tf.Variable(tf.zeros(t.shape, t.dtype), trainable=False), value)
    tf.nest.map_structure(lambda variable, t: variable.assign(t), self._variables, value)

  def get(self):
    """The stored value."""
    return tf.nest.map_structure(tf.identity, self._variables)
