"""Frames of pixel observations in the replay: each frame stored once, stacks and goal frames assembled at sampling.

A pixel task observes {'pixels': [H, W, C * k] uint8 (k stacked frames, the
newest last), 'goal_pixels': [H, W, C] uint8, 'state': float32}. Storing whole
observations twice a transition (s and s') would keep 2k + 2 frames a row;
here a row keeps one frame, the newest of its next observation s_{t+1}, and
each episode keeps its first frame (of s_0) and its goal frame once. Frame j of
an episode is then row (first row + j - 1)'s frame, or the episode's first
frame for j = 0 (and for the stack's places before the episode began, as a
frame-stacking env repeats it at reset).

Episodes live in a ring of `max_episodes` slots per env beside the rows' ring;
when the slots run out, the oldest episode leaves the buffer whole (its rows
are no longer sampled), so no live row ever reads another episode's frames.
"""
import numpy as np
import tensorflow as tf

PIXELS = 'pixels'
GOAL_PIXELS = 'goal_pixels'
STATE = 'state'
PIXEL_KEYS = (PIXELS, GOAL_PIXELS, STATE)


def state_of(observation):
  """The full state, concat(state, goal), of an observation (a batch or one): a pixel observation's 'state', else the observation."""
  return observation[STATE] if isinstance(observation, dict) else observation


def is_pixel_spec(observation_spec):
  """Whether `observation_spec` is a pixel task's observation (a dict of pixels, goal_pixels and state)."""
  return isinstance(observation_spec, dict) and set(observation_spec) == set(PIXEL_KEYS)


def frame_shape(observation_spec):
  """(H, W, C, k): a frame's shape and the frames stacked in a pixel observation."""
  height, width, channels = observation_spec[GOAL_PIXELS].shape.as_list()
  stacked = observation_spec[PIXELS].shape.as_list()[-1]
  if stacked % channels:
    raise ValueError(f'pixels have {stacked} channels, not a multiple of the goal frame\'s '
                     f'{channels}.')
  return height, width, channels, stacked // channels


class EpisodeFrames(tf.Module):
  """The frames of a GoalReplayBuffer's rows and episodes (see the module docstring).

  Rows are addressed by (env, row id) as in the buffer; the buffer says which
  rows are real, which start an episode, and where each row sits in its ring.
  """

  def __init__(self, observation_spec, batch_size, max_length, max_episodes, storage,
               name='EpisodeFrames'):
    """Creates the storage.

    Args:
      observation_spec: the pixel observation's spec (is_pixel_spec).
      batch_size: parallel envs.
      max_length: rows per env (the buffer's ring).
      max_episodes: episode slots per env.
      storage: storage(initial_value, name, rows_in_use) -> an object with
        `.variable`, saving only the rows in use (replay._StoredRows).
      name: module name.
    """
    super().__init__(name=name)
    height, width, channels, stack = frame_shape(observation_spec)
    self.frame_shape = (height, width, channels)
    self.stack = stack
    self._batch_size = batch_size
    self._max_length = max_length
    self._max_episodes = max_episodes
    # Every episode begun so far per env; episode e lives in slot e % max_episodes.
    self.episode_count = tf.Variable(tf.zeros([batch_size], tf.int64), trainable=False,
                                     name='episode_count')
    self.row_frames = storage(tf.zeros([batch_size, max_length, *self.frame_shape], tf.uint8),
                              'row_frames', None)
    self.row_episode = storage(tf.zeros([batch_size, max_length], tf.int64), 'row_episode', None)
    slots_in_use = lambda: tf.reduce_max(tf.minimum(self.episode_count, max_episodes))
    self.first_frames = storage(
        tf.zeros([batch_size, max_episodes, *self.frame_shape], tf.uint8), 'first_frames',
        slots_in_use)
    self.goal_frames = storage(
        tf.zeros([batch_size, max_episodes, *self.frame_shape], tf.uint8), 'goal_frames',
        slots_in_use)
    self.episode_first_row = storage(tf.zeros([batch_size, max_episodes], tf.int64),
                                     'episode_first_row', slots_in_use)

  def storage(self):
    """The storage objects (replay._StoredRows) of rows and episodes."""
    return [self.row_frames, self.row_episode, self.first_frames, self.goal_frames,
            self.episode_first_row]

  def write(self, index, is_real, row_id, is_first, observation, next_observation):
    """Stores one step of every env: the row's frame, and the episode's first and goal frames where one starts.

    Args:
      index: [R, 2] (env, ring position) of the real rows.
      is_real: bool [B], which envs' steps are stored.
      row_id: int64 [B], each env's id of this row.
      is_first: bool [B], whose step starts an episode.
      observation, next_observation: the step's pixel observations [B, ...].
    Returns:
      The write ops.
    """
    channels = self.frame_shape[-1]
    # An env's first row starts an episode even if its time step says otherwise.
    starts = (is_first | tf.equal(self.episode_count, 0)) & is_real
    episode = self.episode_count + tf.cast(starts, tf.int64) - 1
    envs = tf.range(self._batch_size, dtype=tf.int64)
    slot_index = tf.boolean_mask(tf.stack([envs, episode % self._max_episodes], axis=1), starts)

    def write_rows(variable, values):
      return variable.scatter_nd_update(index, tf.boolean_mask(values, is_real))

    def write_slots(variable, values):
      return variable.scatter_nd_update(slot_index, tf.boolean_mask(values, starts))

    return [
        write_rows(self.row_frames.variable, next_observation[PIXELS][..., -channels:]),
        write_rows(self.row_episode.variable, episode),
        write_slots(self.first_frames.variable, observation[PIXELS][..., -channels:]),
        write_slots(self.goal_frames.variable, observation[GOAL_PIXELS]),
        write_slots(self.episode_first_row.variable, row_id),
        self.episode_count.assign_add(tf.cast(starts, tf.int64)),
    ]

  def load(self, episode_lengths, episode_frames, goal_frames):
    """Stores whole episodes in an empty store of one env, their rows back to back from row 0.

    Args:
      episode_lengths: int [E], each episode's rows (transitions).
      episode_frames: uint8 [N + E, H, W, C], each episode's T + 1 newest
        frames (of s_0 .. s_T) back to back.
      goal_frames: uint8 [E, H, W, C], each episode's goal frame.
    """
    lengths = np.asarray(episode_lengths, np.int64)
    count, total = len(lengths), int(lengths.sum())
    if count > self._max_episodes or len(episode_frames) != total + count:
      raise ValueError(f'EpisodeFrames.load: {count} episodes of {total} rows with '
                       f'{len(episode_frames)} frames; room for {self._max_episodes} episodes.')
    first_rows = np.cumsum(lengths) - lengths
    first_frames = first_rows + np.arange(count)  # where each episode's frame of s_0 is
    # A row keeps its next observation's frame: every frame but the episodes' first.
    row_frames = np.delete(np.asarray(episode_frames), first_frames, axis=0)
    self.row_frames.variable[0, :total].assign(row_frames)
    self.row_episode.variable[0, :total].assign(np.repeat(np.arange(count), lengths))
    self.first_frames.variable[0, :count].assign(np.asarray(episode_frames)[first_frames])
    self.goal_frames.variable[0, :count].assign(goal_frames)
    self.episode_first_row.variable[0, :count].assign(first_rows)
    self.episode_count.assign([count])

  def oldest_live_row(self, num_added):
    """Per env, the id of the oldest row whose episode still has its slot (int64 [B])."""
    oldest_episode = self.episode_count - self._max_episodes
    first_row = tf.gather(self.episode_first_row.variable,
                          tf.maximum(oldest_episode, 0) % self._max_episodes, batch_dims=1)
    ring_start = tf.maximum(num_added - self._max_length, 0)
    # While no slot was reused every episode is whole; after, the oldest one
    # goes when its slot is taken.
    return tf.where(oldest_episode > 0, tf.maximum(ring_start, first_row), ring_start)

  def sampleable_start(self, num_added):
    """Per env, the oldest row whose whole frame stack is still stored.

    Row r's observation stacks the frames of rows r - k .. r - 1 (each row keeps
    its next observation's frame). A ring that wrapped mid-episode lost the
    frames before its oldest row, so the k oldest rows are not sampled once it
    has wrapped.
    """
    oldest = self.oldest_live_row(num_added)
    wrapped = num_added - oldest >= self._max_length
    return tf.where(wrapped, oldest + self.stack, oldest)

  def _ring(self, row_id):
    return row_id % self._max_length

  def row_frame(self, env, row_id):
    """The newest frame of row `row_id`'s next observation, [B, H, W, C]."""
    return tf.gather_nd(self.row_frames.variable, tf.stack([env, self._ring(row_id)], axis=1))

  def _episode(self, env, row_id):
    """(slot, first row id) of each row's episode."""
    episode = tf.gather_nd(self.row_episode.variable, tf.stack([env, self._ring(row_id)], axis=1))
    slot_index = tf.stack([env, episode % self._max_episodes], axis=1)
    return slot_index, tf.gather_nd(self.episode_first_row.variable, slot_index)

  def goal_frame(self, env, row_id):
    """The goal frame of each row's episode, [B, H, W, C]."""
    slot_index, _ = self._episode(env, row_id)
    return tf.gather_nd(self.goal_frames.variable, slot_index)

  def stacked(self, env, row_id, next_observation=False):
    """The k stacked frames of each row's observation (or next observation), [B, H, W, C * k]."""
    slot_index, first_row = self._episode(env, row_id)
    # Frame j of the episode for the stack's places j = t - k + 1 .. t.
    newest = row_id - first_row + (1 if next_observation else 0)
    places = newest[:, None] + tf.range(1 - self.stack, 1, dtype=tf.int64)[None, :]
    places = tf.maximum(places, 0)
    rows = first_row[:, None] + tf.maximum(places - 1, 0)
    envs = tf.broadcast_to(env[:, None], tf.shape(rows))
    height, width, channels = self.frame_shape
    from_rows = tf.gather_nd(self.row_frames.variable,
                             tf.stack([envs, self._ring(rows)], axis=-1))
    first = tf.gather_nd(self.first_frames.variable, slot_index)
    # One gather picks each place's frame from the B * k row frames and the B
    # first frames (a broadcast tf.where of uint8 frames is 15x slower).
    batch = tf.shape(places, out_type=tf.int64)[0]
    row_pick = tf.reshape(tf.range(batch * self.stack), tf.shape(places))
    first_pick = batch * self.stack + tf.range(batch)[:, None]
    pick = tf.where(tf.equal(places, 0), first_pick, row_pick)
    candidates = tf.concat([tf.reshape(from_rows, [-1, height, width, channels]), first], axis=0)
    frames = tf.reshape(tf.gather(candidates, tf.reshape(pick, [-1])),
                        [-1, self.stack, height, width, channels])
    # [B, k, H, W, C] -> [B, H, W, k * C], the newest frame last.
    frames = tf.transpose(frames, [0, 2, 3, 1, 4])
    return tf.reshape(frames, [-1, height, width, self.stack * channels])

  def observation(self, state, env, row_id, next_observation=False):
    """The pixel observation of each row (its next observation with next_observation), state given."""
    return {STATE: state, PIXELS: self.stacked(env, row_id, next_observation),
            GOAL_PIXELS: self.goal_frame(env, row_id)}

  def clear(self):
    return self.episode_count.assign(tf.zeros_like(self.episode_count))
