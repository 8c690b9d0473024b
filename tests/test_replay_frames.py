"""Tests of GoalReplayBuffer with pixel observations: frames stored once, stacks and goals assembled right."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from c_learning import frames
from c_learning import relabel
from c_learning import replay
from tests.test_replay import fill

SIZE = 4


class FrameCountingEnv(py_environment.PyEnvironment):
  """A pixel task whose frames say which episode and step they show.

  Frame of step t of episode e: every pixel is 10 * e + t (mod 256) in channel 0
  and e in channel 1; the goal frame is 255 - e everywhere. The state is [e, t]
  and the state goal [e, -1]; `stack` frames are stacked, the newest last, the
  first frame repeated at reset.
  """

  def __init__(self, episode_length, stack, first_episode=0):
    super().__init__()
    self._episode_length = episode_length
    self._stack = stack
    self._episode = first_episode - 1
    self._t = 0
    self._frames = []

  def observation_spec(self):
    return {
        frames.PIXELS: array_spec.ArraySpec((SIZE, SIZE, 2 * self._stack), np.uint8),
        frames.GOAL_PIXELS: array_spec.ArraySpec((SIZE, SIZE, 2), np.uint8),
        frames.STATE: array_spec.ArraySpec((4,), np.float32),
    }

  def action_spec(self):
    return array_spec.BoundedArraySpec((1,), np.float32, -1.0, 1.0)

  def _frame(self):
    frame = np.zeros((SIZE, SIZE, 2), np.uint8)
    frame[..., 0] = (10 * self._episode + self._t) % 256
    frame[..., 1] = self._episode
    return frame

  def _observation(self):
    return {
        frames.PIXELS: np.concatenate(self._frames, axis=-1),
        frames.GOAL_PIXELS: np.full((SIZE, SIZE, 2), 255 - self._episode, np.uint8),
        frames.STATE: np.array([self._episode, self._t, self._episode, -1], np.float32),
    }

  def _reset(self):
    self._episode += 1
    self._t = 0
    self._frames = [self._frame()] * self._stack
    return ts.restart(self._observation())

  def _step(self, action):
    if self.current_time_step().is_last():
      return self.reset()
    self._t += 1
    self._frames = self._frames[1:] + [self._frame()]
    if self._t == self._episode_length:
      return ts.truncation(self._observation(), 0.0)
    return ts.transition(self._observation(), 0.0)


def make_buffer(env, batch_size=1, max_length=100, max_episodes=None, seed=0):
  spec = tf.nest.map_structure(tf.TensorSpec.from_spec, env.observation_spec())
  action_spec = tf.TensorSpec.from_spec(env.action_spec())
  return replay.GoalReplayBuffer(spec, action_spec, batch_size=batch_size,
                                 max_length=max_length, gamma=0.9, seed=seed,
                                 max_episodes=max_episodes)


def stack_of(episode, t, stack):
  """Channel-0 values of the frames an observation at step t stacks, oldest first."""
  return [(10 * episode + max(t - i, 0)) % 256 for i in reversed(range(stack))]


def check_sample(sample, stack):
  """Every row's stacks, goal frames and future frames match its state."""
  observation = tf.nest.map_structure(np.asarray, sample.observation)
  next_observation = tf.nest.map_structure(np.asarray, sample.next_observation)
  for i, (episode, t) in enumerate(observation[frames.STATE][:, :2].astype(int)):
    pixels = observation[frames.PIXELS][i]
    assert list(pixels[0, 0, 0::2]) == stack_of(episode, t, stack)
    assert np.all(pixels[..., 1::2] == episode)
    assert list(next_observation[frames.PIXELS][i][0, 0, 0::2]) == stack_of(episode, t + 1, stack)
    assert np.all(observation[frames.GOAL_PIXELS][i] == 255 - episode)
    assert np.all(next_observation[frames.GOAL_PIXELS][i] == 255 - episode)
    for goal in (sample.future_observation, sample.last_observation):
      goal_episode, goal_t = np.asarray(goal[frames.STATE])[i, :2].astype(int)
      frame = np.asarray(goal[frames.PIXELS])[i]
      assert goal_episode == episode
      assert frame.shape == (SIZE, SIZE, 2)
      assert np.all(frame[..., 0] == (10 * episode + goal_t) % 256)


@pytest.mark.parametrize('stack', [1, 3])
def test_stacks_goal_and_future_frames_match_the_states_they_came_with(stack):
  env = FrameCountingEnv(episode_length=7, stack=stack)
  buffer = make_buffer(env, max_length=200)
  fill(buffer, [env], 60)
  check_sample(buffer.sample(256), stack)


def test_parallel_envs_and_a_wrapped_ring_keep_every_stack_whole():
  stack = 4
  envs = [FrameCountingEnv(episode_length=9, stack=stack, first_episode=10 * i)
          for i in range(2)]
  buffer = make_buffer(envs[0], batch_size=2, max_length=23)
  fill(buffer, envs, 2 * 100)
  sample = buffer.sample(512)
  check_sample(sample, stack)
  # The ring wrapped mid-episode: the rows whose stacks lost frames are not sampled.
  episodes = np.asarray(sample.observation[frames.STATE][:, 0]).astype(int)
  assert len(set(episodes)) >= 3


def test_when_episode_slots_run_out_the_oldest_episode_leaves_whole():
  env = FrameCountingEnv(episode_length=5, stack=2)
  buffer = make_buffer(env, max_length=50, max_episodes=3)
  fill(buffer, [env], 40)  # 8 episodes of 5 rows; slots for 3
  assert int(buffer.num_frames()) == 15
  sample = buffer.sample(300)
  check_sample(sample, 2)
  assert set(np.asarray(sample.observation[frames.STATE][:, 0]).astype(int)) == {5, 6, 7}


def test_a_row_keeps_one_frame_and_an_episode_two():
  env = FrameCountingEnv(episode_length=5, stack=4)
  buffer = make_buffer(env, max_length=1000, max_episodes=10)
  frame_bytes = SIZE * SIZE * 2
  # A row: its frame, the state of s and s' (4 floats each), the action, its
  # episode's end and its episode's id; an episode: two frames and its first row.
  row_bytes = frame_bytes + 2 * 4 * 4 + 4 + 8 + 8
  assert buffer.storage_bytes() == 1000 * row_bytes + 10 * (2 * frame_bytes + 8)


def test_relabeled_pixel_goals_are_the_frames_of_the_goal_states():
  stack = 2
  env = FrameCountingEnv(episode_length=6, stack=stack)
  buffer = make_buffer(env, max_length=200)
  fill(buffer, [env], 60)
  relabeler = relabel.GoalRelabeler(relabel.GoalSlice(), state_dim=2, relabel_orig_prob=0.2,
                                    relabel_next_prob=0.2, relabel_future_prob=0.2,
                                    relabel_last_prob=0.2)
  batch = relabeler(buffer.sample(100))
  state = np.asarray(batch.observation[frames.STATE])
  goal_frames = np.asarray(batch.observation[frames.GOAL_PIXELS])
  np.testing.assert_array_equal(goal_frames, np.asarray(batch.next_observation[frames.GOAL_PIXELS]))
  for i, goal_type in enumerate(np.asarray(batch.goal_type)):
    goal_episode, goal_t = state[i, 2:].astype(int)
    if goal_type == relabel.GoalType.ORIG:
      assert np.all(goal_frames[i] == 255 - goal_episode)
    else:  # a frame of a state: its own episode and step
      assert np.all(goal_frames[i, ..., 0] == (10 * goal_episode + goal_t) % 256)
      assert np.all(goal_frames[i, ..., 1] == goal_episode)
    if goal_type == relabel.GoalType.NEXT:
      assert batch.reward[i] == 1.0


def test_checkpoint_round_trip_restores_the_same_frames(tmp_path):
  env = FrameCountingEnv(episode_length=5, stack=2)
  buffer = make_buffer(env, max_length=100, seed=3)
  fill(buffer, [env], 30)
  path = tf.train.Checkpoint(buffer=buffer).save(str(tmp_path / 'ckpt'))
  # Only the rows and episodes in use are saved: 30 rows, 6 episodes, not 100 of each.
  saved = {name: shape for name, shape in tf.train.list_variables(path)}
  frame_shapes = [shape for name, shape in saved.items()
                  if name.endswith('_frames/.ATTRIBUTES/VARIABLE_VALUE')]
  assert sorted(shape[1] for shape in frame_shapes) == [6, 6, 30], saved
  assert max(shape[1] for name, shape in saved.items()
             if len(shape) > 1 and 'buffer' in name) <= 30, saved
  restored = make_buffer(FrameCountingEnv(episode_length=5, stack=2), max_length=100, seed=3)
  tf.train.Checkpoint(buffer=restored).restore(path).assert_existing_objects_matched()
  a, b = buffer.sample(64), restored.sample(64)
  tf.nest.map_structure(np.testing.assert_array_equal, a, b)


def _dataset_of(env, lengths):
  """Episodes of FrameCountingEnv's pixels as a dataset holds them: (states [N, 4], next states, actions, frames, goal frames)."""
  states, next_states, episode_frames, goal_frames = [], [], [], []
  for episode, length in enumerate(lengths):
    episode_states = np.array([[episode, t, episode, -1] for t in range(length + 1)], np.float32)
    states.append(episode_states[:-1])
    next_states.append(episode_states[1:])
    frame = np.zeros((length + 1, SIZE, SIZE, 2), np.uint8)
    frame[..., 0] = ((10 * episode + np.arange(length + 1)) % 256)[:, None, None]
    frame[..., 1] = episode
    episode_frames.append(frame)
    goal_frames.append(np.full((SIZE, SIZE, 2), 255 - episode, np.uint8))
  states = np.concatenate(states)
  return (states, np.concatenate(next_states), np.zeros((len(states), 1), np.float32),
          np.concatenate(episode_frames), np.stack(goal_frames))


@pytest.mark.parametrize('stack', [1, 3])
def test_loaded_episodes_sample_the_stacks_and_goals_of_collected_ones(stack):
  env = FrameCountingEnv(episode_length=7, stack=stack)
  lengths = [7, 3, 9, 1, 5]
  states, next_states, actions, episode_frames, goal_frames = _dataset_of(env, lengths)
  buffer = make_buffer(env, max_length=sum(lengths), max_episodes=len(lengths))
  buffer.load_episodes(states, actions, next_states, lengths, episode_frames, goal_frames)
  sample = buffer.sample(512)
  check_sample(sample, stack)
  assert len(set(np.asarray(sample.observation[frames.STATE][:, 0]).astype(int))) == 5


def test_a_pixel_buffer_loads_frames_and_only_a_pixel_buffer_does():
  env = FrameCountingEnv(episode_length=4, stack=1)
  states, next_states, actions, episode_frames, goal_frames = _dataset_of(env, [4])
  with pytest.raises(ValueError, match='takes episode frames for a pixel buffer'):
    make_buffer(env, max_length=4).load_episodes(states, actions, next_states, [4])


@pytest.mark.parametrize('stack', [1, 3])
def test_windows_of_a_pixel_buffer_stack_each_steps_frames(stack):
  env = FrameCountingEnv(episode_length=6, stack=stack)
  buffer = make_buffer(env, max_length=200)
  fill(buffer, [env], 50)
  sample = buffer.sample_windows(64, 4)
  observations = tf.nest.map_structure(np.asarray, sample.observations)
  newest = observations[frames.STATE][:, 0, 0].max()
  for i, length in enumerate(sample.length.numpy()):
    episode, t = observations[frames.STATE][i, 0, :2].astype(int)
    assert length <= min(4, 6 - t)
    if episode != newest:  # the ongoing episode has fewer steps stored
      assert length == min(4, 6 - t)
    for j in range(5):
      step = t + min(j, length)
      assert list(observations[frames.STATE][i, j, :2]) == [episode, step]
      assert list(observations[frames.PIXELS][i, j][0, 0, 0::2]) == stack_of(episode, step, stack)
      assert np.all(observations[frames.GOAL_PIXELS][i, j] == 255 - episode)
