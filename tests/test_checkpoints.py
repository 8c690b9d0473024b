"""RunCheckpoints on its own: the newest checkpoint that reads whole, nothing mixed, a full disk cleaned up."""
import os

import numpy as np
import pytest
import tensorflow as tf

from c_learning import checkpoints
from c_learning import config
from c_learning import replay


class _Parts:
  """An agent-like variable and a replay buffer, as a run checkpoints them."""

  def __init__(self):
    self.weights = tf.Variable(tf.zeros([64]))
    self.buffer = replay.GoalReplayBuffer(
        tf.TensorSpec((2,), tf.float32), tf.TensorSpec((1,), tf.float32), batch_size=1,
        max_length=100, gamma=0.9, seed=1)

  def as_dict(self):
    return dict(agent=self.weights, replay_buffer=self.buffer)

  def set(self, value, rows):
    """Weights all `value`, and `rows` rows of (value, value) observations added."""
    self.weights.assign(tf.fill([64], float(value)))
    for _ in range(rows):
      observation = tf.fill([1, 2], float(value))
      self.buffer.add_batch((replay.Transition(observation, tf.zeros([1, 1]), observation),
                             tf.constant([False]), tf.constant([False]), tf.constant([True])))

  def observed(self):
    """(weight value, number of rows, the set of observation values in the buffer)."""
    stored = self.buffer._gather_all().observation.numpy()  # pylint: disable=protected-access
    return float(self.weights[0]), stored.shape[1], set(np.unique(stored).tolist())


def _two_checkpoints(directory):
  """ckpt-1: weights 1, 3 rows of 1; ckpt-2: weights 2, 3 more rows of 2."""
  parts = _Parts()
  saver = checkpoints.RunCheckpoints(str(directory), keep=2, **parts.as_dict())
  assert saver.restore() is None
  parts.set(1, rows=3)
  saver.save(1)
  parts.set(2, rows=3)
  saver.save(2)
  return directory


def _truncate(path):
  os.truncate(path, os.path.getsize(path) // 2)


def _flip_a_byte(path):
  data = bytearray(open(path, 'rb').read())
  data[len(data) // 2] ^= 0xFF
  with open(path, 'wb') as f:
    f.write(bytes(data))


DAMAGE = {
    'truncated data': lambda prefix: _truncate(prefix + '.data-00000-of-00001'),
    'truncated index': lambda prefix: _truncate(prefix + '.index'),
    'corrupted data': lambda prefix: _flip_a_byte(prefix + '.data-00000-of-00001'),
    'missing data': lambda prefix: os.remove(prefix + '.data-00000-of-00001'),
    'missing index': lambda prefix: os.remove(prefix + '.index'),
}


@pytest.mark.parametrize('damage', DAMAGE)
def test_damaged_newest_falls_back_with_nothing_mixed(tmp_path, damage, caplog):
  directory = _two_checkpoints(tmp_path / 'checkpoints')
  DAMAGE[damage](str(directory / 'ckpt-2'))
  parts = _Parts()
  with caplog.at_level('WARNING'):
    step = checkpoints.RunCheckpoints(str(directory), keep=2, **parts.as_dict()).restore()
  assert step == 1
  # All of ckpt-1 and none of ckpt-2, even where ckpt-2's first bytes still read.
  assert parts.observed() == (1.0, 3, {1.0})
  warnings = [r.getMessage() for r in caplog.records
              if r.name == 'absl' and r.levelname == 'WARNING']
  assert len(warnings) == 1
  assert f'Checkpoint {directory}/ckpt-2 does not restore' in warnings[0]
  assert 'resuming from ckpt-1 instead' in warnings[0]
  assert not any(name.startswith('ckpt-2') for name in os.listdir(directory))
  assert os.listdir(directory / checkpoints.DAMAGED_DIRNAME)  # set aside, not deleted
  assert tf.train.get_checkpoint_state(str(directory)).model_checkpoint_path.endswith('ckpt-1')


def test_an_unparsable_state_file_still_finds_the_checkpoints(tmp_path, caplog):
  directory = _two_checkpoints(tmp_path / 'checkpoints')
  (directory / 'checkpoint').write_text('model_checkpoint_path: "ckpt-2')  # cut mid-line
  parts = _Parts()
  with caplog.at_level('WARNING'):
    assert checkpoints.RunCheckpoints(str(directory), keep=2, **parts.as_dict()).restore() == 2
  assert parts.observed() == (2.0, 6, {1.0, 2.0})
  assert any('does not parse' in r.getMessage() for r in caplog.records)


def test_no_checkpoint_that_restores_is_one_line_and_moves_nothing(tmp_path):
  directory = _two_checkpoints(tmp_path / 'checkpoints')
  _truncate(str(directory / 'ckpt-2.data-00000-of-00001'))
  _truncate(str(directory / 'ckpt-1.index'))
  before = sorted(os.listdir(directory))
  with pytest.raises(config.RunError) as error:
    checkpoints.RunCheckpoints(str(directory), keep=2, **_Parts().as_dict()).restore()
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(f'no checkpoint in {directory} restores: ckpt-2 (IndexError: ')
  assert 'ckpt-1 (' in message and f'move {directory} aside' in message
  assert sorted(os.listdir(directory)) == before


def test_the_last_n_are_kept(tmp_path):
  parts = _Parts()
  saver = checkpoints.RunCheckpoints(str(tmp_path), keep=3, **parts.as_dict())
  saver.restore()
  for step in range(1, 6):
    saver.save(step)
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.index')) == [
      'ckpt-3.index', 'ckpt-4.index', 'ckpt-5.index']


def test_a_save_that_fills_the_disk_cleans_up_and_leaves_the_previous_one(tmp_path, monkeypatch):
  """An injected write error, as TensorFlow raises it, halfway through the files of ckpt-3."""
  directory = _two_checkpoints(tmp_path / 'checkpoints')
  parts = _Parts()
  saver = checkpoints.RunCheckpoints(str(directory), keep=2, **parts.as_dict())
  assert saver.restore() == 2

  def save_until_the_disk_is_full(checkpoint_number):
    os.makedirs(directory / f'ckpt-{checkpoint_number}_temp')
    (directory / f'ckpt-{checkpoint_number}_temp' / 'part-00000-of-00001.data').write_bytes(
        b'x' * 100)
    (directory / f'ckpt-{checkpoint_number}.index').write_bytes(b'half')
    raise tf.errors.ResourceExhaustedError(
        None, None, f'{directory}/ckpt-3_temp/part-00000-of-00001.data-00000-of-00001; '
        'No space left on device [Op:SaveV2]')

  monkeypatch.setattr(saver._manager, 'save', save_until_the_disk_is_full)  # pylint: disable=protected-access
  with pytest.raises(checkpoints.DiskFull) as error:
    saver.save(3)
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(f'no space left in {directory} for checkpoint ckpt-3: it needs '
                            'about ')
  assert ' are free. ckpt-2 is intact: free some space and run the same command' in message
  assert sorted(os.listdir(directory)) == [
      'checkpoint', 'ckpt-1.data-00000-of-00001', 'ckpt-1.index',
      'ckpt-2.data-00000-of-00001', 'ckpt-2.index']
  restored = _Parts()
  assert checkpoints.RunCheckpoints(str(directory), keep=2, **restored.as_dict()).restore() == 2


def test_other_save_errors_keep_their_traceback(tmp_path, monkeypatch):
  saver = checkpoints.RunCheckpoints(str(tmp_path), keep=2, **_Parts().as_dict())
  saver.restore()

  def broken(checkpoint_number):
    raise tf.errors.PermissionDeniedError(None, None, f'ckpt-{checkpoint_number}: read-only')

  monkeypatch.setattr(saver._manager, 'save', broken)  # pylint: disable=protected-access
  with pytest.raises(tf.errors.PermissionDeniedError):
    saver.save(1)


def test_estimated_bytes_counts_the_rows_stored(tmp_path):
  parts = _Parts()
  parts.set(1, rows=50)
  checkpoint = tf.train.Checkpoint(replay_buffer=parts.buffer,
                                   agent=tf.Variable(tf.zeros([100_000])))
  estimate = checkpoints.estimated_bytes(checkpoint)
  saved = checkpoint.save(str(tmp_path / 'ckpt'))
  actual = sum(os.path.getsize(p) for p in tf.io.gfile.glob(saved + '.*'))
  assert 0.95 * actual < estimate < 1.05 * actual
