"""C-learning learns: it reaches the goals of the 2-D point mass within a CI-sized budget."""
import pytest

from c_learning.envs import point_mass
from tests import train_eval_helpers as helpers


@pytest.mark.slow
def test_c_learning_reaches_point_mass_goals(tmp_path):
  # About 1 minute on 2 cores. The eval goals are 50 fresh episodes of the eval env.
  result = helpers.run(tmp_path, [], [
      'train_eval.env_name = "point_mass"',
      'goal_fn.relabel_next_prob = 0.5',
      'goal_fn.relabel_future_prob = 0.0',
      'train_eval.num_iterations = 4000',
      'train_eval.initial_collect_steps = 1000',
      'train_eval.num_eval_episodes = 50',
      'train_eval.eval_interval = 4000',
      'train_eval.log_interval = 1000',
      f'train_eval.success_threshold = {point_mass.SUCCESS_THRESHOLD}',
  ])
  evaluation = helpers.scalars(tmp_path / 'eval')
  print('point_mass eval:', result)
  assert evaluation['Metrics/SuccessRate'][0] <= 0.2  # the untrained policy fails
  assert result['SuccessRate'] >= 0.8
  assert result['FinalDistance'] < result['InitialDistance'] / 4


@pytest.mark.slow
def test_gcsl_reaches_point_mass_goals(tmp_path):
  # About 25 s on 2 cores: GCSL (gin/setups/gcsl.gin) learns online from 1k random steps.
  result = helpers.run(tmp_path, ['gin/base.gin', 'gin/setups/gcsl.gin'], [
      'train_eval.env_name = "point_mass"',
      'train_eval.num_iterations = 3000',
      'train_eval.initial_collect_steps = 1000',
      'train_eval.num_eval_episodes = 50',
      'train_eval.eval_interval = 3000',
      'train_eval.log_interval = 1000',
      'GcslAgent.actor_fc_layers = (64, 64)',
      f'train_eval.success_threshold = {point_mass.SUCCESS_THRESHOLD}',
  ])
  evaluation = helpers.scalars(tmp_path / 'eval')
  print('point_mass GCSL eval:', result)
  assert evaluation['Metrics/SuccessRate'][0] <= 0.2  # the untrained policy fails
  assert result['SuccessRate'] >= 0.8
  assert result['FinalDistance'] < result['InitialDistance'] / 4
