"""Tests of GoalReplayBuffer: storage, episode boundaries, future-state sampling, checkpoints."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.environments import batched_py_environment
from tf_agents.environments import py_environment
from tf_agents.environments import tf_py_environment
from tf_agents.policies import random_tf_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from c_learning import replay


class CountingEnv(py_environment.PyEnvironment):
  """Observation = [episode number, step in episode]; episodes of a fixed length."""

  def __init__(self, episode_length, first_episode=0):
    super().__init__()
    self._episode_length = episode_length
    self._episode = first_episode - 1
    self._t = 0

  def observation_spec(self):
    return array_spec.ArraySpec((2,), np.float32)

  def action_spec(self):
    return array_spec.BoundedArraySpec((1,), np.float32, -1.0, 1.0)

  def _observation(self):
    return np.array([self._episode, self._t], np.float32)

  def _reset(self):
    self._episode += 1
    self._t = 0
    return ts.restart(self._observation())

  def _step(self, action):
    if self.current_time_step().is_last():
      return self.reset()
    self._t += 1
    if self._t == self._episode_length:
      return ts.truncation(self._observation(), 0.0)
    return ts.transition(self._observation(), 0.0)


def fill(buffer, envs, num_steps):
  """Runs a real DynamicStepDriver with a random policy into the buffer."""
  tf_env = tf_py_environment.TFPyEnvironment(
      envs[0] if len(envs) == 1 else batched_py_environment.BatchedPyEnvironment(envs))
  policy = random_tf_policy.RandomTFPolicy(tf_env.time_step_spec(), tf_env.action_spec())
  driver = dynamic_step_driver.DynamicStepDriver(
      tf_env, policy, transition_observers=[buffer.add_transition], num_steps=num_steps)
  # Traced once, as train_eval runs it; eager stepping is 10x slower.
  common.function(driver.run)()
  return tf_env


def make_buffer(batch_size=1, max_length=1000, gamma=0.9, max_future_steps=None,
                future_offsets='geometric'):
  return replay.GoalReplayBuffer(
      tf.TensorSpec((2,), tf.float32), tf.TensorSpec((1,), tf.float32),
      batch_size=batch_size, max_length=max_length, gamma=gamma,
      max_future_steps=max_future_steps, future_offsets=future_offsets, seed=1)


def check_sample(sample, episode_length):
  """Every sampled row is a real step whose future and last states share its episode."""
  obs, next_obs, future, last = (sample.observation.numpy(), sample.next_observation.numpy(),
                                 sample.future_observation.numpy(),
                                 sample.last_observation.numpy())
  np.testing.assert_array_equal(next_obs[:, 0], obs[:, 0])  # no boundary transitions
  np.testing.assert_array_equal(next_obs[:, 1], obs[:, 1] + 1)
  np.testing.assert_array_equal(future[:, 0], obs[:, 0])
  np.testing.assert_array_equal(last[:, 0], obs[:, 0])
  assert np.all(future[:, 1] >= obs[:, 1] + 1)
  assert np.all(future[:, 1] <= last[:, 1])
  assert np.all(last[:, 1] <= episode_length)


def test_stores_only_real_transitions():
  buffer = make_buffer()
  fill(buffer, [CountingEnv(episode_length=5)], num_steps=23)
  # 23 real steps: boundary steps (LAST -> FIRST) are neither counted nor stored.
  assert int(buffer.num_frames()) == 23
  stored = buffer.gather_all()
  steps = stored.observation.numpy()[0]
  np.testing.assert_array_equal(steps[:7, 1], [0, 1, 2, 3, 4, 0, 1])
  check_sample(buffer.sample(512), episode_length=5)


def test_future_states_stay_in_their_episode_with_parallel_envs_and_wraparound():
  buffer = make_buffer(batch_size=2, max_length=40)
  # Different episode lengths make the environments' boundaries fall apart.
  fill(buffer, [CountingEnv(7), CountingEnv(4, first_episode=1000)], num_steps=300)
  assert int(buffer.num_frames()) == 80
  for _ in range(5):
    sample = buffer.sample(256)
    lengths = np.where(sample.observation.numpy()[:, 0] >= 1000, 4, 7)
    check_sample(sample, episode_length=7)
    assert np.all(sample.last_observation.numpy()[:, 1] <= lengths)


def test_ongoing_episode_truncates_at_newest_step():
  buffer = make_buffer(gamma=0.99)
  fill(buffer, [CountingEnv(episode_length=1000)], num_steps=30)
  sample = buffer.sample(1000)
  assert sample.last_observation.numpy()[:, 1].max() == 30
  assert np.all(sample.future_observation.numpy()[:, 1] <= 30)


def test_future_offsets_are_geometric():
  """Away from episode ends, the offset k of s_{t+k} follows (1 - gamma) gamma^(k-1)."""
  gamma = 0.8
  buffer = make_buffer(max_length=5000, gamma=gamma)
  fill(buffer, [CountingEnv(episode_length=2000)], num_steps=4000)
  offsets = []
  for _ in range(20):
    sample = buffer.sample(1000)
    t = sample.observation.numpy()[:, 1]
    far_from_end = t < 1900  # truncation cannot touch these rows
    offsets.append((sample.future_observation.numpy()[:, 1] - t)[far_from_end])
  offsets = np.concatenate(offsets).astype(int)
  n = len(offsets)
  expected = n * (1 - gamma) * gamma ** np.arange(10)
  observed = np.bincount(offsets, minlength=12)[1:11]
  chi2 = np.sum((observed - expected) ** 2 / expected)
  # 10 bins: chi-square 99.9th percentile with 10 degrees of freedom is 29.6.
  assert chi2 < 29.6, (observed, expected.round())
  assert abs(offsets.mean() - 1 / (1 - gamma)) < 0.1


def test_max_future_steps_caps_offsets():
  buffer = make_buffer(gamma=0.99, max_future_steps=3)
  fill(buffer, [CountingEnv(episode_length=500)], num_steps=400)
  sample = buffer.sample(2000)
  offsets = sample.future_observation.numpy()[:, 1] - sample.observation.numpy()[:, 1]
  assert offsets.min() == 1 and offsets.max() == 3


def test_uniform_future_offsets_cover_the_rest_of_the_episode_evenly():
  """With 'uniform', s_{t+k} has k uniform on 1..(steps left in the episode)."""
  buffer = make_buffer(max_length=2000, future_offsets='uniform')
  episode_length = 10
  fill(buffer, [CountingEnv(episode_length)], num_steps=1000)
  sample = buffer.sample(20000)
  check_sample(sample, episode_length)
  t = sample.observation.numpy()[:, 1].astype(int)
  k = sample.future_observation.numpy()[:, 1].astype(int) - t
  np.testing.assert_array_equal(k, sample.future_offset.numpy())
  for row_t in (0, 5, 9):
    offsets = k[t == row_t]
    steps_left = episode_length - row_t
    counts = np.bincount(offsets, minlength=steps_left + 1)[1:]
    assert len(counts) == steps_left and counts.min() > 0  # every later state, none beyond
    expected = len(offsets) / steps_left
    chi2 = np.sum((counts - expected) ** 2 / expected)
    # chi-square 99.9th percentile with 9 degrees of freedom is 27.9 (fewer bins: smaller).
    assert chi2 < 27.9, (row_t, counts)


def test_truncated_geometric_offsets_are_the_geometric_renormalised_over_the_episode():
  """With 'truncated_geometric', P(k) is proportional to gamma^(k-1) on 1..(steps left): no pile at the end."""
  gamma, episode_length = 0.8, 10
  buffer = make_buffer(max_length=2000, gamma=gamma, future_offsets='truncated_geometric')
  fill(buffer, [CountingEnv(episode_length)], num_steps=1000)
  sample = buffer.sample(20000)
  check_sample(sample, episode_length)
  t = sample.observation.numpy()[:, 1].astype(int)
  k = sample.future_observation.numpy()[:, 1].astype(int) - t
  np.testing.assert_array_equal(k, sample.future_offset.numpy())
  for row_t in (0, 6, 9):
    offsets = k[t == row_t]
    steps_left = episode_length - row_t
    counts = np.bincount(offsets, minlength=steps_left + 1)[1:]
    assert len(counts) == steps_left
    weights = gamma ** np.arange(steps_left)
    expected = len(offsets) * weights / weights.sum()
    chi2 = np.sum((counts - expected) ** 2 / expected)
    # chi-square 99.9th percentile with 9 degrees of freedom is 27.9 (fewer bins: smaller).
    assert chi2 < 27.9, (row_t, counts, expected.round())
  # 'geometric' gives the last state gamma^(steps left - 1) instead: 0.13 from t = 0, not 0.02.
  last_share = np.mean(k[t == 0] == episode_length)
  assert last_share < 0.05


def test_uniform_future_offsets_respect_max_future_steps():
  buffer = make_buffer(future_offsets='uniform', max_future_steps=3)
  fill(buffer, [CountingEnv(episode_length=50)], num_steps=400)
  offsets = buffer.sample(4000).future_offset.numpy()
  assert sorted(set(offsets)) == [1, 2, 3]


def test_an_unknown_future_offset_distribution_is_one_line():
  with pytest.raises(ValueError, match="train_eval.future_offsets='poisson' is unknown; valid: "
                     'geometric, truncated_geometric, uniform'):
    make_buffer(future_offsets='poisson')


def test_load_episodes_stores_whole_episodes_that_sample_like_collected_ones():
  lengths = [3, 5, 2]
  rows = []
  for episode, length in enumerate(lengths):
    rows += [(episode, t) for t in range(length)]
  observations = np.array(rows, np.float32)
  next_observations = observations + [0, 1]
  actions = np.zeros((len(rows), 1), np.float32)
  buffer = make_buffer(max_length=len(rows), future_offsets='uniform')
  buffer.load_episodes(observations, actions, next_observations, lengths)
  assert int(buffer.num_frames()) == 10
  sample = buffer.sample(2000)
  check_sample(sample, episode_length=5)
  episode = sample.observation.numpy()[:, 0].astype(int)
  # The last state of each episode is its own: s_3, s_5 and s_2.
  np.testing.assert_array_equal(sample.last_observation.numpy()[:, 1],
                                np.array(lengths)[episode])
  with pytest.raises(ValueError, match='fills an empty buffer'):
    buffer.load_episodes(observations, actions, next_observations, lengths)
  with pytest.raises(ValueError, match='room for 4'):
    make_buffer(max_length=4).load_episodes(observations, actions, next_observations, lengths)


def test_checkpoint_round_trip(tmp_path):
  buffer = make_buffer(max_length=50)
  fill(buffer, [CountingEnv(6)], num_steps=70)
  before = buffer.gather_all()
  tf.train.Checkpoint(buffer=buffer).save(str(tmp_path / 'ckpt'))
  restored = make_buffer(max_length=50)
  tf.train.Checkpoint(buffer=restored).restore(
      tf.train.latest_checkpoint(str(tmp_path))).assert_consumed()
  assert int(restored.num_frames()) == 50
  np.testing.assert_array_equal(restored.gather_all().observation.numpy(),
                                before.observation.numpy())
  check_sample(restored.sample(256), episode_length=6)


def _saved_bytes(buffer, directory):
  """Saves a checkpoint of the buffer in directory; returns its size in bytes."""
  tf.train.Checkpoint(buffer=buffer).save(str(directory / 'ckpt'))
  return sum(path.stat().st_size for path in directory.iterdir()
             if path.name.startswith('ckpt'))


@pytest.mark.parametrize('steps', [30, 130], ids=['filling', 'wrapped'])
def test_checkpoint_restores_the_same_samples(tmp_path, steps):
  """Two parallel envs, rows partly filled or wrapped around: the restored buffer draws what the saved one would."""
  buffer = make_buffer(batch_size=2, max_length=50)
  fill(buffer, [CountingEnv(6), CountingEnv(4, first_episode=100)], num_steps=steps)
  buffer.sample(3)  # the sampling stream's state is saved too
  tf.train.Checkpoint(buffer=buffer).save(str(tmp_path / 'ckpt'))
  restored = make_buffer(batch_size=2, max_length=50)
  tf.train.Checkpoint(buffer=restored).restore(
      tf.train.latest_checkpoint(str(tmp_path))).assert_consumed()
  restored.check_restored()
  for _ in range(3):
    expected, got = buffer.sample(64), restored.sample(64)
    for name in expected._fields:
      np.testing.assert_array_equal(getattr(got, name).numpy(), getattr(expected, name).numpy())


def test_checkpoint_size_follows_the_rows_stored_not_the_capacity(tmp_path):
  sizes = {}
  for max_length in (100, 100_000):
    buffer = make_buffer(max_length=max_length)
    fill(buffer, [CountingEnv(6)], num_steps=60)
    sizes[max_length] = _saved_bytes(buffer, tmp_path / str(max_length))
  # 1000x the capacity, the same 50 rows: the same bytes (a full 100k-row
  # buffer would take 100_000 * 5 * 8 = 4 MB).
  assert sizes[100_000] == sizes[100] < 20_000
  fill(buffer, [CountingEnv(6)], num_steps=600)
  assert _saved_bytes(buffer, tmp_path / 'more') > sizes[100] + 500 * 4 * 5  # 5 floats a row


class _BufferBeforeRowSaving(tf.Module):
  """The variables a GoalReplayBuffer had, saved whole, as checkpoints of 2026-12-01 hold them."""

  def __init__(self, buffer):
    super().__init__()
    for name in ('_observations', '_actions', '_next_observations', '_episode_end'):
      setattr(self, name, tf.Variable(getattr(buffer, name).variable))
    for name in ('_episode_start', '_num_added'):
      setattr(self, name, tf.Variable(getattr(buffer, name)))
    self._rng = buffer._rng


def test_checkpoint_with_the_whole_buffer_still_restores(tmp_path):
  buffer = make_buffer(max_length=50)
  fill(buffer, [CountingEnv(6)], num_steps=70)
  tf.train.Checkpoint(buffer=_BufferBeforeRowSaving(buffer)).save(str(tmp_path / 'ckpt'))
  restored = make_buffer(max_length=50)
  tf.train.Checkpoint(buffer=restored).restore(tf.train.latest_checkpoint(str(tmp_path)))
  restored.check_restored()
  np.testing.assert_array_equal(restored.gather_all().observation.numpy(),
                                buffer.gather_all().observation.numpy())


def test_restoring_rows_written_for_another_capacity_says_so(tmp_path):
  buffer = make_buffer(max_length=50)
  fill(buffer, [CountingEnv(6)], num_steps=70)
  tf.train.Checkpoint(buffer=buffer).save(str(tmp_path / 'ckpt'))
  restored = make_buffer(max_length=80)
  tf.train.Checkpoint(buffer=restored).restore(tf.train.latest_checkpoint(str(tmp_path)))
  with pytest.raises(ValueError, match='holds 50 rows per environment.*now give 80'):
    restored.check_restored()


def test_bad_arguments_fail_fast():
  with pytest.raises(ValueError, match='gamma'):
    make_buffer(gamma=1.0)
  with pytest.raises(ValueError, match='max_future_steps'):
    make_buffer(max_future_steps=0)
  buffer = make_buffer()
  fill(buffer, [CountingEnv(5)], num_steps=5)
  with pytest.raises(ValueError, match='num_steps'):
    buffer.get_next(sample_batch_size=4, num_steps=2)


def test_episode_abandoned_by_a_reset_is_closed():
  """A restart (e.g. resuming from a checkpoint) resets the env mid-episode: no goal may cross."""
  buffer = make_buffer(gamma=0.99)
  fill(buffer, [CountingEnv(episode_length=1000)], num_steps=40)  # stops mid-episode 0
  fill(buffer, [CountingEnv(episode_length=1000, first_episode=1)], num_steps=40)
  for _ in range(5):
    sample = buffer.sample(512)
    check_sample(sample, episode_length=1000)
    abandoned = sample.observation.numpy()[:, 0] == 0
    assert abandoned.any() and np.all(sample.last_observation.numpy()[abandoned, 1] == 40)


def _actions_by_step(buffer):
  """{(episode, t): the action taken at s_t} of every row of a filled ring."""
  observations = buffer._observations.variable.numpy().reshape(-1, 2)  # pylint: disable=protected-access
  actions = buffer._actions.variable.numpy().reshape(-1)  # pylint: disable=protected-access
  return {tuple(obs.astype(int)): float(action) for obs, action in zip(observations, actions)}


def test_windows_are_consecutive_steps_of_one_episode_cut_at_its_end():
  window = 4
  buffer = make_buffer(batch_size=2, max_length=60)
  fill(buffer, [CountingEnv(7), CountingEnv(5, first_episode=1000)], num_steps=200)
  actions_at = _actions_by_step(buffer)
  sample = buffer.sample_windows(256, window)
  observations, actions, lengths = (sample.observations.numpy(), sample.actions.numpy(),
                                    sample.length.numpy())
  assert observations.shape == (256, window + 1, 2) and actions.shape == (256, window, 1)
  seen_lengths = set()
  newest = {observations[:, 0, 0][observations[:, 0, 0] < 1000].max(),
            observations[:, 0, 0].max()}
  for obs, acts, length in zip(observations, actions, lengths):
    episode, t = obs[0].astype(int)
    episode_length = 5 if episode >= 1000 else 7
    # Every stored step of the episode from t on, up to the window (an ongoing
    # episode has fewer stored).
    assert length <= min(window, episode_length - t)
    if episode not in newest:
      assert length == min(window, episode_length - t)
    seen_lengths.add(int(length))
    for j in range(window + 1):
      np.testing.assert_array_equal(obs[j], [episode, t + min(j, length)])
    for j in range(window):
      assert acts[j, 0] == actions_at[(episode, t + min(j, length - 1))]
  assert seen_lengths == {1, 2, 3, 4}


def test_a_window_of_the_ongoing_episode_stops_at_the_newest_step():
  buffer = make_buffer()
  fill(buffer, [CountingEnv(episode_length=1000)], num_steps=12)
  sample = buffer.sample_windows(200, 5)
  last = sample.observations.numpy()[np.arange(200), sample.length.numpy(), 1]
  assert last.max() == 12 and np.all(last <= 12)


def test_a_window_must_be_at_least_one_step():
  buffer = make_buffer()
  fill(buffer, [CountingEnv(episode_length=5)], num_steps=10)
  with pytest.raises(ValueError, match='window=0: must be an int >= 1'):
    buffer.sample_windows(4, 0)
