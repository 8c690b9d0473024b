"""Distance-to-goal and success metrics over episodes, as TF-Agents driver observers."""
import gin
import tensorflow as tf
from tf_agents.metrics import tf_metric

from c_learning import config
from c_learning import frames

# The distances a task's success may be measured in (TaskSpec.success_norm).
SUCCESS_NORMS = ('l2', 'max')
_STATISTICS = ('InitialDistance', 'FinalDistance', 'MinimumDistance',
               'DeltaDistance', 'SuccessRate', 'SparseReturn')


@gin.configurable(denylist=config.denylist('GoalDistanceMetrics'))
class GoalDistanceMetrics(tf_metric.TFMultiMetricStepMetric):
  """Initial, final, minimum and delta (initial - final) distance to the goal, success, sparse return.

  Distances are between obs_to_goal(state) and the goal in the observation (a
  pixel observation's 'state', never its frames), in the task's success_norm:
  'l2' Euclidean, 'max' the largest absolute difference of any dimension
  (L-infinity; every statistic below, the subset's too, uses it); success
  means final distance < success_threshold. SparseReturn
  is the episode's undiscounted return of the sparse reward 1[distance <
  success_threshold] over the states after each step (for 50-step episodes, 0
  to 50: the metric of the WGCSL paper's tables). With
  log_subset=(start, end) the same six statistics are also kept over the
  state dimensions [start, end) (named Subset*), e.g. the object in push.
  Results average the last `buffer_size` finished episodes.
  """

  def __init__(self, state_dim, goal_slice, batch_size=1, buffer_size=10,
               success_threshold=0.05, log_subset=None, name='GoalDistance',
               prefix='Metrics', success_norm='l2'):
    if success_norm not in SUCCESS_NORMS:
      raise config.ConfigError(f'GoalDistanceMetrics.success_norm={success_norm!r}: must be one '
                               f'of {", ".join(repr(n) for n in SUCCESS_NORMS)}.')
    self._success_norm = success_norm
    start, end = goal_slice.resolve(state_dim)
    self._state_dim = state_dim
    self._goal_slice = goal_slice
    self._success_threshold = success_threshold
    # (state dims, goal dims) each distance compares, in order.
    self._views = [((start, end), (0, end - start))]
    names = list(_STATISTICS)
    if log_subset is not None:
      sub_start, sub_end = log_subset
      sub_end = state_dim if sub_end is None else sub_end
      if not start <= sub_start < sub_end <= end:
        raise config.ConfigError(
            f'train_eval.log_subset={tuple(log_subset)}: must lie within the goal '
            f'dimensions [{start}, {end}) that obs_to_goal selects.')
      self._views.append(((sub_start, sub_end), (sub_start - start, sub_end - start)))
      names += ['Subset' + n for n in _STATISTICS]
    super().__init__(name=name, prefix=prefix, metric_names=tuple(names))
    views = len(self._views)
    self._initial = tf.Variable(tf.zeros([batch_size, views]), trainable=False,
                                name='initial')
    self._minimum = tf.Variable(tf.zeros([batch_size, views]), trainable=False,
                                name='minimum')
    self._sparse_return = tf.Variable(tf.zeros([batch_size, views]), trainable=False,
                                      name='sparse_return')
    # The last buffer_size finished episodes' statistics, one column a name.
    self._buffer_size = buffer_size
    self._episodes = tf.Variable(tf.zeros([buffer_size, len(names)]),
                                 trainable=False, name='episodes')
    self._num_finished = tf.Variable(tf.constant(0, tf.int64), trainable=False,
                                     name='num_finished')

  def distances(self, observation):
    """[batch, views] distances of each view for a batch of observations."""
    observation = frames.state_of(observation)
    state, goal = observation[:, :self._state_dim], observation[:, self._state_dim:]
    return tf.stack([
        self._norm(state[:, s0:s1] - goal[:, g0:g1])
        for (s0, s1), (g0, g1) in self._views], axis=1)

  def _norm(self, difference):
    if self._success_norm == 'max':
      return tf.reduce_max(tf.abs(difference), axis=-1)
    return tf.norm(difference, axis=-1)

  def call(self, trajectory):
    distance = self.distances(trajectory.observation)
    first = trajectory.is_first()[:, None]
    self._initial.assign(tf.where(first, distance, self._initial))
    self._minimum.assign(tf.where(first, distance, tf.minimum(self._minimum, distance)))
    reached = tf.cast(distance < self._success_threshold, tf.float32)
    # The first observation precedes every action: the return counts the states after them.
    self._sparse_return.assign(tf.where(first, tf.zeros_like(reached),
                                        self._sparse_return + reached))
    # A boundary step (step_type LAST) carries the episode's final observation;
    # TF-Agents' is_last() would mean the step before it.
    last = trajectory.is_boundary()
    stats = tf.stack([
        self._initial, distance, self._minimum, self._initial - distance, reached,
        self._sparse_return], axis=1)
    # [batch, statistic, view] -> per name, in the order of metric_names.
    per_name = tf.reshape(tf.transpose(stats, [0, 2, 1]), [tf.shape(stats)[0], -1])
    finished = tf.boolean_mask(per_name, last)
    slots = (self._num_finished + tf.range(tf.shape(finished, out_type=tf.int64)[0])
             ) % self._buffer_size
    self._episodes.scatter_nd_update(slots[:, None], finished)
    self._num_finished.assign_add(tf.shape(finished, out_type=tf.int64)[0])
    return trajectory

  def result(self):
    count = self.num_episodes()
    mean = (tf.reduce_sum(self._episodes[:count], axis=0)
            / tf.cast(tf.maximum(count, 1), tf.float32))
    return tf.unstack(mean)

  def result_dict(self):
    """Name -> latest value, as Python floats."""
    return {name: float(value) for name, value in zip(self.metric_names, self.result())}

  def num_episodes(self):
    return tf.minimum(self._num_finished, self._buffer_size)

  def reset(self):
    self._num_finished.assign(0)

  def tf_summaries(self, train_step=None, step_metrics=()):
    """Writes one scalar a statistic, tagged <prefix>/<name> (e.g. Metrics/FinalDistance)."""
    del step_metrics
    return [tf.compat.v2.summary.scalar(f'{self._prefix}/{name}', value, step=train_step)
            for name, value in zip(self.metric_names, self.result())]
