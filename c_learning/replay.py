"""An episode-aware transition replay buffer that samples future states for goal relabeling."""
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from tf_agents.replay_buffers import replay_buffer
from tf_agents.specs import tensor_spec

from c_learning import config
from c_learning import frames

# An episode that is still running has no known end yet.
_ONGOING = tf.int64.max
# The name under which a checkpoint keeps a variable's value; _StoredRows
# saves under the same name, so checkpoints written before it restore too.
_VALUE_KEY = 'VARIABLE_VALUE'


class _StoredRows(tf.__internal__.tracking.Trackable):
  """A [batch_size, max_length, ...] storage variable whose checkpoint holds only the rows in use.

  The buffer is preallocated at its capacity; saving all of it would make
  every checkpoint as large as a full buffer from the first save on.
  """

  def __init__(self, variable, rows_in_use):
    self.variable = variable
    self._rows_in_use = rows_in_use  # a callable: rows 0..n-1 of every env hold all data

  def _serialize_to_tensors(self):
    return {_VALUE_KEY: self.variable[:, :self._rows_in_use()]}

  def _restore_from_tensors(self, restored_tensors):
    value = restored_tensors[_VALUE_KEY]
    return self.variable[:, :tf.shape(value)[1]].assign(value)


# How a future state's offset k is drawn (train_eval.future_offsets).
FUTURE_OFFSETS = ('geometric', 'truncated_geometric', 'uniform')


class Transition(NamedTuple):
  """One environment step: (s_t ++ g, a_t, s_{t+1} ++ g), or pixel observations (c_learning.frames)."""
  observation: tf.Tensor
  action: tf.Tensor
  next_observation: tf.Tensor


class SampledTransition(NamedTuple):
  """A sampled transition with the states that goal relabeling may use.

  future_observation is s_{t+k}: k ~ Geometric(1 - gamma) on {1, 2, ...},
  truncated at the episode's last stored state and at max_future_steps, or with
  future_offsets='truncated_geometric' the same geometric renormalised over the
  steps up to the episode's last stored state, or with 'uniform', k uniform on
  those steps (at most max_future_steps either way);
  last_observation is the episode's last stored state. future_offset and
  last_offset are their k (int32 [B], >= 1): s_{t+k} is that many steps after s_t.
  With pixel observations, observation and next_observation are whole pixel
  observations (frames stacked), and future_observation and last_observation
  are dicts of their 'state' and their newest frame as 'pixels' [B, H, W, C]:
  a goal is one frame.
  """
  observation: tf.Tensor
  action: tf.Tensor
  next_observation: tf.Tensor
  future_observation: tf.Tensor
  last_observation: tf.Tensor
  future_offset: tf.Tensor
  last_offset: tf.Tensor


class SampledWindow(NamedTuple):
  """Windows of up to W consecutive steps of one episode each, as sequence models train on them.

  observations[:, j] is s_{t+j} for j = 0..W and actions[:, j] is a_{t+j} for
  j < W, from a uniformly sampled stored row t; length (int32 [B], 1..W) is how
  many of the W steps lie within the episode's stored steps: past it,
  observations repeat s_{t+length} and actions repeat the last valid one.
  Pixel observations are whole ones (frames stacked, the episode's goal frame),
  each step's frames read from the rows that store them.
  """
  observations: tf.Tensor
  actions: tf.Tensor
  length: tf.Tensor


class GoalReplayBuffer(replay_buffer.ReplayBuffer):
  """A ring buffer of transitions from `batch_size` parallel environments.

  Transitions come from a driver's transition observer (`add_transition`), so
  every stored row is a real (s, a, s') step and no boundary steps are stored.
  Each row also knows the id of its episode's last transition, which makes
  sampling a future state of the same episode O(batch) with no scanning.
  All state lives in tf.Variables, so a tf.train.Checkpoint saves and restores
  the buffer; its storage saves only the rows written so far (_StoredRows), so
  a checkpoint grows with the data, not with the capacity.
  """

  def __init__(self, observation_spec, action_spec, batch_size, max_length,
               gamma, max_future_steps=None, future_offsets='geometric', seed=None,
               max_episodes=None, name='GoalReplayBuffer'):
    """Creates the buffer.

    Args:
      observation_spec: TensorSpec of one observation (state ++ goal), or a
        pixel task's dict of pixels, goal_pixels and state, whose frames are
        kept once each (c_learning.frames).
      action_spec: TensorSpec of one action.
      batch_size: number of parallel environments that add together.
      max_length: rows kept per environment (capacity = batch_size * max_length).
      gamma: discount; future offsets are Geometric(1 - gamma).
      max_future_steps: cap on the future offset; None for no cap.
      future_offsets: how the offset k of a future state is drawn, one of
        FUTURE_OFFSETS: 'geometric' (C-learning's discounted future) or
        'uniform' (HER's 'future' strategy and GCSL's relabeling).
      seed: seed of the sampling stream.
      max_episodes: with pixel observations, the episodes kept per env (each
        keeps its first and goal frames); None means max_length, which any
        episode lengths fit. When they run out the oldest episode leaves whole.
      name: module name.
    """
    if not 0.0 < gamma < 1.0:
      raise config.ConfigError(f'GoalReplayBuffer gamma={gamma}: must be in (0, 1).')
    if max_future_steps is not None and max_future_steps < 1:
      raise config.ConfigError(f'max_future_steps={max_future_steps}: must be >= 1 or None.')
    if future_offsets not in FUTURE_OFFSETS:
      raise config.ConfigError(f'train_eval.future_offsets={future_offsets!r} is unknown; valid: '
                               f'{", ".join(FUTURE_OFFSETS)}.')
    observation_spec = tensor_spec.from_spec(observation_spec)
    data_spec = Transition(observation_spec, tensor_spec.from_spec(action_spec),
                           observation_spec)
    self._pixels = frames.is_pixel_spec(observation_spec)
    # What the rows keep of an observation: all of it, or a pixel one's state.
    stored_spec = observation_spec[frames.STATE] if self._pixels else observation_spec
    if not (isinstance(stored_spec, tf.TensorSpec) and stored_spec.shape.rank == 1):
      raise ValueError('GoalReplayBuffer stores observations that are one vector (state ++ '
                       f'goal) or a pixel task\'s dict; got {observation_spec}.')
    max_episodes = max_length if max_episodes is None else max_episodes
    if not (isinstance(max_episodes, int) and max_episodes >= 1):
      raise ValueError(f'max_episodes={max_episodes!r}: must be an int >= 1 or None.')
    super().__init__(data_spec, capacity=batch_size * max_length,
                     stateful_dataset=True)
    self._batch_size = batch_size
    self._max_length = max_length
    self._log_gamma = float(tf.math.log(gamma))
    self._max_future_steps = max_future_steps
    self._future_offsets = future_offsets
    self._name = name
    with tf.name_scope(name):

      def storage(initial_value, var_name, rows_in_use=None):
        return _StoredRows(tf.Variable(initial_value, trainable=False, name=var_name),
                           rows_in_use or self._rows_in_use)

      def zeros(spec):
        return tf.zeros([batch_size, max_length] + spec.shape.as_list(), spec.dtype)

      self._observations = storage(zeros(stored_spec), 'observations')
      self._actions = storage(zeros(data_spec.action), 'actions')
      self._next_observations = storage(zeros(stored_spec), 'next_observations')
      self._frames = (frames.EpisodeFrames(observation_spec, batch_size, max_length,
                                           max_episodes, storage)
                      if self._pixels else None)
      self._episode_end = storage(
          tf.fill([batch_size, max_length], tf.constant(_ONGOING, tf.int64)),
          'episode_end')
      # Saved with the rows, whose ring positions (id % max_length) hold only
      # for the max_length they were written with.
      self._saved_max_length = tf.Variable(max_length, dtype=tf.int64, trainable=False,
                                           name='max_length')
      self._episode_start = tf.Variable(
          tf.zeros([batch_size], tf.int64), trainable=False, name='episode_start')
      # Per environment: a boundary step (LAST -> FIRST) is not stored, so
      # environments whose episodes end at different times drift apart.
      self._num_added = tf.Variable(
          tf.zeros([batch_size], tf.int64), trainable=False, name='num_added')
      self._rng = (tf.random.Generator.from_seed(seed) if seed is not None
                   else tf.random.Generator.from_non_deterministic_state())

  def add_transition(self, transition):
    """Driver transition observer: stores (time_step, action_step, next_time_step)."""
    time_step, action_step, next_time_step = transition
    return self.add_batch(
        (Transition(time_step.observation, action_step.action,
                    next_time_step.observation),
         time_step.is_first(), next_time_step.is_last(),
         ~time_step.is_last()))

  def _add_batch(self, items):
    """Adds one step of every environment; rows where `is_real` is False are skipped."""
    transition, is_first, is_last, is_real = items
    row_id = self._num_added.value()
    envs = tf.range(self._batch_size, dtype=tf.int64)
    index = tf.boolean_mask(
        tf.stack([envs, row_id % self._max_length], axis=1), is_real)
    # An env reset mid-episode (a restart, a resumed run) abandons its episode:
    # close it at its newest row so no future goal crosses into the new one.
    previous_id = row_id - 1
    abandoned = is_first & is_real & (row_id > 0) & tf.equal(
        tf.gather_nd(self._episode_end.variable,
                     tf.stack([envs, previous_id % self._max_length], axis=1)),
        _ONGOING)
    closed_abandoned = tf.cond(tf.reduce_any(abandoned),
                               lambda: self._close_episodes(previous_id, abandoned),
                               lambda: tf.constant(False))
    with tf.control_dependencies([closed_abandoned]):
      writes = self._write(index, is_real, row_id, transition, is_first)
    closing = is_last & is_real
    with tf.control_dependencies(writes):
      closed = tf.cond(tf.reduce_any(closing),
                       lambda: self._close_episodes(row_id, closing),
                       lambda: tf.constant(False))
    with tf.control_dependencies([closed]):
      return self._num_added.assign_add(tf.cast(is_real, tf.int64))

  def _write(self, index, is_real, row_id, transition, is_first):
    """Writes the real rows of one step and opens the episodes that start with it."""

    def write(variable, values):
      return variable.scatter_nd_update(index, tf.boolean_mask(values, is_real))

    writes = [
        write(self._observations.variable, self._stored(transition.observation)),
        write(self._actions.variable, transition.action),
        write(self._next_observations.variable, self._stored(transition.next_observation)),
        write(self._episode_end.variable, tf.fill([self._batch_size],
                                         tf.constant(_ONGOING, tf.int64))),
        self._episode_start.assign(
            tf.where(is_first & is_real, row_id, self._episode_start)),
    ]
    if self._pixels:
      writes += self._frames.write(index, is_real, row_id, is_first, transition.observation,
                                   transition.next_observation)
    return writes

  def _stored(self, observation):
    """What a row keeps of an observation: a pixel observation's state (its frames go to _frames)."""
    return observation[frames.STATE] if self._pixels else observation

  def _close_episodes(self, last_id, closing):
    """Marks the stored rows of the episodes ending at `last_id` (where `closing`) with that end."""
    # Only the episode's own rows are touched, never the whole ring; rows that
    # the ring has already overwritten are left alone.
    first_id = tf.maximum(self._episode_start, last_id - self._max_length + 1)
    ids = tf.ragged.range(tf.boolean_mask(first_id, closing),
                          tf.boolean_mask(last_id, closing) + 1)
    envs = tf.repeat(tf.boolean_mask(tf.range(self._batch_size, dtype=tf.int64), closing),
                     ids.row_lengths())
    ends = tf.repeat(tf.boolean_mask(last_id, closing), ids.row_lengths())
    with tf.control_dependencies([self._episode_end.variable.scatter_nd_update(
        tf.stack([envs, ids.flat_values % self._max_length], axis=1), ends)]):
      return tf.constant(True)

  def load_episodes(self, observations, actions, next_observations, episode_lengths,
                    episode_frames=None, goal_frames=None):
    """Fills an empty one-environment buffer with whole episodes (a dataset), stored back to back.

    Args:
      observations, actions, next_observations: arrays [N, ...] of the
        episodes' transitions in order (N = sum(episode_lengths)); a pixel
        buffer's are the observations' states.
      episode_lengths: int array [E] of each episode's transitions.
      episode_frames, goal_frames: a pixel buffer's frames (only its): each
        episode's T + 1 newest frames back to back [N + E, H, W, C], and each
        episode's goal frame [E, H, W, C] (frames.EpisodeFrames.load).

    Raises:
      ValueError: unless the buffer is empty, has one environment and room for N rows.
    """
    if self._pixels != (episode_frames is not None):
      raise ValueError('load_episodes takes episode frames for a pixel buffer, and only for one.')
    lengths = np.asarray(episode_lengths, np.int64)
    total = int(lengths.sum())
    if self._batch_size != 1 or int(self.num_frames()) != 0:
      raise ValueError('load_episodes fills an empty buffer of one environment.')
    if total > self._max_length or total != len(observations) or np.any(lengths < 1):
      raise ValueError(f'load_episodes: {total} transitions in episodes of lengths >= 1, '
                       f'{len(observations)} given, room for {self._max_length}.')
    # Every row's episode is closed: its end is the id of the episode's last row.
    ends = np.repeat(np.cumsum(lengths) - 1, lengths)
    for storage, values in ((self._observations, observations), (self._actions, actions),
                            (self._next_observations, next_observations),
                            (self._episode_end, ends)):
      storage.variable[0, :total].assign(tf.cast(values, storage.variable.dtype))
    if self._pixels:
      self._frames.load(lengths, episode_frames, goal_frames)
    self._episode_start.assign([total - int(lengths[-1])])
    self._num_added.assign([total])

  def storage_bytes(self):
    """Bytes the buffer's preallocated storage takes (its variables of rows and episodes)."""
    # Read from the attributes: a list of the variables kept on the buffer
    # would be tracked, and a checkpoint would save them whole.
    stored = [self._observations, self._actions, self._next_observations, self._episode_end]
    if self._pixels:
      stored += self._frames.storage()
    return sum(s.variable.shape.num_elements() * s.variable.dtype.size for s in stored)

  def _num_stored(self):
    """Per env, the rows that may be sampled (pixel buffers drop whole old episodes, frames.py)."""
    if self._pixels:
      return self._num_added - self._frames.oldest_live_row(self._num_added)
    return tf.minimum(self._num_added, self._max_length)

  def _rows_in_use(self):
    """Rows 0..n-1 of each env's ring hold every stored transition."""
    return tf.reduce_max(tf.minimum(self._num_added, self._max_length))

  def check_restored(self):
    """Raises config.ConfigError if the restored rows were written for another max_length."""
    saved = int(self._saved_max_length.numpy())
    if saved != self._max_length:
      raise config.ConfigError(
          f'the checkpoint\'s replay buffer holds {saved} rows per environment; '
          f'train_eval.replay_buffer_capacity and num_parallel_envs now give '
          f'{self._max_length}: resume with the settings the run started with.')

  def _num_frames(self):
    return tf.reduce_sum(self._num_stored())

  def _get_next(self, sample_batch_size=None, num_steps=None,
                time_stacked=True):
    if num_steps is not None:
      raise ValueError('GoalReplayBuffer samples single transitions: num_steps '
                       f'must be None, got {num_steps}.')
    if sample_batch_size is None:
      raise ValueError('GoalReplayBuffer.get_next needs a sample_batch_size.')
    return self.sample(sample_batch_size), ()

  def _sample_rows(self, sample_batch_size):
    """(env, row id, id of the episode's last stored row) of rows drawn uniformly from the stored ones."""
    num_added = self._num_added.value()
    num_stored = (num_added - self._frames.sampleable_start(num_added) if self._pixels
                  else self._num_stored())
    num_stored = tf.maximum(num_stored, 0)
    stored_before = tf.cumsum(num_stored, exclusive=True)
    total = tf.reduce_sum(num_stored)
    tf.debugging.assert_positive(total, 'GoalReplayBuffer is empty.')
    flat = self._rng.uniform([sample_batch_size], 0, total, tf.int64)
    env = tf.searchsorted(stored_before, flat, side='right', out_type=tf.int64) - 1
    first_id = tf.gather(num_added - num_stored, env)
    row_id = first_id + flat - tf.gather(stored_before, env)
    newest_id = tf.gather(num_added, env) - 1
    end_id = tf.minimum(self._gather(self._episode_end.variable, env, row_id), newest_id)
    return env, row_id, end_id

  def sample_windows(self, sample_batch_size, window):
    """Samples SampledWindows of up to `window` steps, each from a uniformly drawn stored row.

    A row late in its episode gives a shorter window (its length); a
    sequence model such as GLAMOR's uses every (s_t, s_{t+k}) pair of one,
    k = 1..length.
    """
    if not (isinstance(window, int) and window >= 1):
      raise ValueError(f'window={window!r}: must be an int >= 1.')
    env, row_id, end_id = self._sample_rows(sample_batch_size)
    length = tf.minimum(end_id - row_id + 1, window)
    # Row t + j's next observation is s_{t+j+1}; steps past the episode's
    # stored end read its last row again.
    steps = tf.range(window, dtype=tf.int64)[None, :]
    rows = row_id[:, None] + tf.minimum(steps, length[:, None] - 1)
    envs = tf.broadcast_to(env[:, None], tf.shape(rows))
    flat_env, flat_rows = tf.reshape(envs, [-1]), tf.reshape(rows, [-1])

    def per_step(flat):
      return tf.reshape(flat, tf.concat([[sample_batch_size, window], tf.shape(flat)[1:]], 0))

    first = self._gather(self._observations.variable, env, row_id)
    later = self._gather(self._next_observations.variable, flat_env, flat_rows)
    if self._pixels:
      first = self._frames.observation(first, env, row_id)
      later = self._frames.observation(later, flat_env, flat_rows, next_observation=True)
    observations = tf.nest.map_structure(
        lambda head, rest: tf.concat([head[:, None], per_step(rest)], axis=1), first, later)
    return SampledWindow(
        observations=observations,
        actions=per_step(self._gather(self._actions.variable, flat_env, flat_rows)),
        length=tf.cast(length, tf.int32))

  def sample(self, sample_batch_size):
    """Samples stored transitions uniformly, with a future and the last state of each one's episode."""
    env, row_id, end_id = self._sample_rows(sample_batch_size)
    if self._future_offsets == 'geometric':
      future_id = tf.minimum(row_id + self._geometric_offsets(sample_batch_size) - 1, end_id)
    elif self._future_offsets == 'truncated_geometric':
      future_id = row_id + self._truncated_geometric_offsets(end_id - row_id + 1) - 1
    else:
      future_id = row_id + self._uniform_offsets(end_id - row_id + 1) - 1
    next_states = self._next_observations.variable
    observation = self._gather(self._observations.variable, env, row_id)
    next_observation = self._gather(next_states, env, row_id)
    future_observation = self._gather(next_states, env, future_id)
    last_observation = self._gather(next_states, env, end_id)
    if self._pixels:
      observation = self._frames.observation(observation, env, row_id)
      next_observation = self._frames.observation(next_observation, env, row_id,
                                                  next_observation=True)
      future_observation = {frames.STATE: future_observation,
                            frames.PIXELS: self._frames.row_frame(env, future_id)}
      last_observation = {frames.STATE: last_observation,
                          frames.PIXELS: self._frames.row_frame(env, end_id)}
    return SampledTransition(
        observation=observation,
        action=self._gather(self._actions.variable, env, row_id),
        next_observation=next_observation,
        future_observation=future_observation,
        last_observation=last_observation,
        # Row r's next observation is s_{t+1}: row r + k - 1's is s_{t+k}.
        future_offset=tf.cast(future_id - row_id + 1, tf.int32),
        last_offset=tf.cast(end_id - row_id + 1, tf.int32))

  def _geometric_offsets(self, n):
    """Offsets k >= 1 with P(k) = (1 - gamma) gamma^(k - 1), capped at max_future_steps."""
    uniform = self._rng.uniform([n], minval=1e-12, maxval=1.0, dtype=tf.float64)
    offsets = 1 + tf.cast(tf.floor(tf.math.log(uniform) / self._log_gamma), tf.int64)
    if self._max_future_steps is not None:
      offsets = tf.minimum(offsets, self._max_future_steps)
    return offsets

  def _truncated_geometric_offsets(self, steps_left):
    """Offsets k on 1..steps_left with P(k) proportional to gamma^(k - 1) (int64 [B]), at most max_future_steps.

    The geometric distribution renormalised over the steps the episode has
    left (contrastive RL's future goals), where 'geometric' gives the rest of
    its mass to the episode's last state.
    """
    if self._max_future_steps is not None:
      steps_left = tf.minimum(steps_left, self._max_future_steps)
    uniform = self._rng.uniform(tf.shape(steps_left), minval=0.0, maxval=1.0, dtype=tf.float64)
    # The inverse of the CDF (1 - gamma^k) / (1 - gamma^n).
    tail = 1.0 - tf.exp(self._log_gamma * tf.cast(steps_left, tf.float64))
    offsets = tf.cast(tf.math.ceil(tf.math.log1p(-uniform * tail) / self._log_gamma), tf.int64)
    return tf.clip_by_value(offsets, 1, steps_left)

  def _uniform_offsets(self, steps_left):
    """Offsets k uniform on 1..steps_left (int64 [B], each >= 1), at most max_future_steps."""
    if self._max_future_steps is not None:
      steps_left = tf.minimum(steps_left, self._max_future_steps)
    uniform = self._rng.uniform(tf.shape(steps_left), minval=0.0, maxval=1.0, dtype=tf.float64)
    offsets = 1 + tf.cast(tf.floor(uniform * tf.cast(steps_left, tf.float64)), tf.int64)
    return tf.minimum(offsets, steps_left)  # guards u * n rounding up to n

  def _gather(self, variable, env, row_id):
    return tf.gather_nd(variable, tf.stack([env, row_id % self._max_length], axis=1))

  def _as_dataset(self, sample_batch_size=None, num_steps=None,
                  sequence_preprocess_fn=None, num_parallel_calls=None):
    if sequence_preprocess_fn is not None:
      raise ValueError('GoalReplayBuffer does not support sequence_preprocess_fn.')
    return tf.data.Dataset.from_tensors(0).repeat().map(
        lambda _: self._get_next(sample_batch_size, num_steps))

  def _single_deterministic_pass_dataset(self, *args, **kwargs):
    raise ValueError('GoalReplayBuffer only samples uniformly at random.')

  def _gather_all(self):
    """All stored transitions, oldest first, as [batch_size, num_stored]; needs equal counts."""
    if self._pixels:
      raise NotImplementedError('gather_all of a pixel buffer: its frames are not stored per row.')
    num_added = self._num_added[0]
    tf.debugging.assert_equal(self._num_added, num_added,
                              'gather_all needs equal counts in every environment.')
    num_stored = tf.minimum(num_added, self._max_length)
    ids = tf.range(num_added - num_stored, num_added) % self._max_length

    def take(variable):
      return tf.gather(variable, ids, axis=1)

    return Transition(take(self._observations.variable), take(self._actions.variable),
                      take(self._next_observations.variable))

  def _clear(self):
    return tf.group(
        self._frames.clear() if self._pixels else tf.no_op(),
        self._num_added.assign(tf.zeros_like(self._num_added)),
        self._episode_start.assign(tf.zeros_like(self._episode_start)),
        self._episode_end.variable.assign(tf.fill(tf.shape(self._episode_end.variable),
                                         tf.constant(_ONGOING, tf.int64))))
