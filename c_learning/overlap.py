"""What lets collection run beside training: an actor snapshot, and values kept in variables."""
import tensorflow as tf
from tf_agents.utils import common


class PolicySnapshot:
  """A collect policy over a copy of an actor network, refreshed from the original on demand.

  Collection reads the copy while the train step, running at the same time,
  rewrites the original, so the policy never sees half-updated weights and a
  seed gives the same run whatever the order the ops run in. Refreshing before
  each collection step gives the policy serial collection would use: the actor
  after the previous train step.
  """

  def __init__(self, actor_network, policy_with):
    """policy_with(network) is the collect policy over a network (the agent's collect_policy_with)."""
    self._source = actor_network
    self._copy = actor_network.copy(name='CollectActorNetwork')
    self._copy.create_variables()
    self.policy = policy_with(self._copy)
    self.refresh()

  def refresh(self):
    """Copies the actor's current weights into the snapshot."""
    return common.soft_variables_update(self._source.variables, self._copy.variables,
                                        tau=1.0)


class VariableNest:
  """A nest of tensors (batches, a time step, a loss info) kept in variables between traced calls.

  Batches staged this way skip the signature check a tf.function makes of every
  tensor argument on each call (about 0.5 ms an iteration here); variables cost
  a copy. The variables are made on the first put, outside any trace, so a
  traced loop can keep a value whose structure it learns only from its body.
  """

  def __init__(self, value=None):
    self._variables = None
    if value is not None:
      self.put(value)

  def put(self, value):
    """Stores `value` (the same structure and shapes every time)."""
    if self._variables is None:
      with tf.init_scope():  # out of any trace or loop body
        self._variables = tf.nest.map_structure(
            lambda t: tf.Variable(tf.zeros(t.shape, t.dtype), trainable=False), value)
    tf.nest.map_structure(lambda variable, t: variable.assign(t), self._variables, value)

  def get(self):
    """The stored value."""
    return tf.nest.map_structure(tf.identity, self._variables)
