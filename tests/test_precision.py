"""Mixed bfloat16 (c_learning.precision): every agent trains with bfloat16 layers and float32 variables, losses and outputs."""
import numpy as np
import pytest
import tensorflow as tf

from c_learning import agents
from c_learning import config
from c_learning import precision
from c_learning import records
from tests import train_eval_helpers as helpers
from tests.agents import test_contract as contract

pytestmark = pytest.mark.usefixtures('clear_gin')


def _layer_policies(agent):
  """{dtype policy name: how many Keras layers of `agent` compute under it}."""
  policies = {}
  for module in agent.submodules:
    if isinstance(module, tf.keras.layers.Layer) and module.trainable_weights:
      name = module.dtype_policy.name
      policies[name] = policies.get(name, 0) + 1
  return policies


# Pixel agents take about 5 s each to build and step: behind -m slow.
@pytest.mark.parametrize('kind', ['state', pytest.param('pixels', marks=pytest.mark.slow)])
@pytest.mark.parametrize('agent_name', sorted(agents.AGENTS))
def test_bfloat16_losses_are_float32_and_close_to_float32s(agent_name, kind):
  batch = contract._batch(kind=kind)  # pylint: disable=protected-access
  built = {}
  for dtype in precision.COMPUTE_DTYPES:
    with precision.computing_in(dtype):
      built[dtype] = contract._create(agent_name, kind)  # pylint: disable=protected-access
  full, mixed = built['float32'], built['bfloat16']
  assert tf.keras.mixed_precision.global_policy().name == 'float32'  # restored
  assert set(_layer_policies(full)) == {'float32'}
  assert _layer_policies(mixed).get('mixed_bfloat16', 0) >= 2
  assert all(v.dtype == tf.float32 for v in mixed.variables if v.dtype.is_floating)
  # The same weights in both: the losses differ only by bfloat16's rounding.
  for source, target in zip(full.variables, mixed.variables):
    target.assign(source)
  losses = {}
  for dtype, agent in built.items():
    tf.random.set_seed(1)  # the same sampled actions in both
    losses[dtype] = agent.loss(batch).extra._asdict()
  full_losses, mixed_losses = losses['float32'], losses['bfloat16']
  for name, value in mixed_losses.items():
    assert value.dtype == tf.float32, name
    np.testing.assert_allclose(value.numpy(), full_losses[name].numpy(), rtol=0.05, atol=0.02,
                               err_msg=name)
  loss_info = mixed.train(batch)
  assert np.isfinite(loss_info.loss.numpy())


def test_a_bad_compute_dtype_is_one_line(tmp_path):
  with pytest.raises(config.ConfigError) as error:
    helpers.run(tmp_path, [], ['train_eval.env_name = "point_mass"',
                               "train_eval.compute_dtype = 'float16'"] + helpers.SMALL)
  assert config.first_line(error.value) == (
      "train_eval.compute_dtype='float16': must be one of 'float32', 'bfloat16'.")
  assert not (tmp_path / 'train').exists()


@pytest.mark.slow
def test_a_bfloat16_run_trains_and_resumes_in_float32(tmp_path):
  task = ['train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
          'goal_fn.relabel_future_prob = 0.0', 'train_eval.train_checkpoint_interval = 100']
  helpers.run(tmp_path, ['gin/setups/bfloat16.gin'],
              task + helpers.SMALL + ['train_eval.num_iterations = 200'])
  losses = helpers.scalars(tmp_path / 'train')['Losses/critic_loss']
  assert max(losses) >= 100 and all(np.isfinite(v) for v in losses.values())
  # Checkpoints hold float32 variables either way: the run goes on in float32.
  helpers.run(tmp_path, [], task + helpers.SMALL + ['train_eval.num_iterations = 300'])
  starts = [r['iteration'] for r in records.read(tmp_path) if r['kind'] == 'start']
  assert starts == [0, 200]
  assert max(helpers.scalars(tmp_path / 'train')['Losses/critic_loss']) >= 200
