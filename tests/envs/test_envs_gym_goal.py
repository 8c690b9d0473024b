"""Gymnasium goal environments as tasks: 'gym:FetchReach-v4' and 'gym:FetchPush-v4' (gymnasium-robotics)."""
import numpy as np
import pytest
from tf_agents.trajectories import policy_step

from c_learning import config
from c_learning import envs
from c_learning import relabel
from c_learning import replay
from tests import train_eval_helpers as helpers


@pytest.mark.parametrize('env_name, observation_dim', [
    ('gym:FetchReach-v4', 10), ('gym:FetchPush-v4', 25)])
def test_spec_reads_the_dict_goal_layout(env_name, observation_dim):
  spec = envs.task_spec(env_name)
  assert (spec.state_dim, spec.goal_dim, spec.goal_offset) == (observation_dim + 3, 3,
                                                                observation_dim)
  assert spec.success_dims == (observation_dim, observation_dim + 3)
  assert spec.success_threshold == 0.05  # Fetch's distance_threshold
  # obs_to_goal picks goal dimensions; the relabeler gets the state's achieved goal.
  assert spec.goal_slice(relabel.GoalSlice()) == relabel.GoalSlice(observation_dim,
                                                                    observation_dim + 3)
  assert spec.goal_slice(relabel.GoalSlice(0, 2)) == relabel.GoalSlice(observation_dim,
                                                                       observation_dim + 2)


def test_fetch_reach_observation_is_state_then_desired_goal():
  train_env, eval_env, state_dim = envs.load('gym:FetchReach-v4', seed=3)
  assert state_dim == 13 and train_env.observation_spec().shape == (16,)
  time_step = train_env.reset()
  observation = time_step.observation.numpy()[0]
  # FetchReach's achieved goal is the gripper position, observation[0:3].
  np.testing.assert_allclose(observation[10:13], observation[0:3], atol=1e-6)
  spec = envs.task_spec('gym:FetchReach-v4')
  distance = spec.distance(observation)
  assert distance == pytest.approx(np.linalg.norm(observation[10:13] - observation[13:16]))
  steps = 0
  while not time_step.is_last():
    time_step = train_env.step(np.zeros((1, 4), np.float32))
    steps += 1
  assert steps == 50  # the registered max_episode_steps
  train_env.close()
  eval_env.close()


def test_same_seed_same_goals():
  first = [envs.load_py_environment('gym:FetchPush-v4', seed=5).reset().observation
           for _ in range(2)]
  other = envs.load_py_environment('gym:FetchPush-v4', seed=6).reset().observation
  np.testing.assert_array_equal(first[0], first[1])
  assert not np.array_equal(first[0][-3:], other[-3:])


def test_relabeled_next_goals_are_achieved_goals():
  train_env, _, state_dim = envs.load('gym:FetchPush-v4', seed=0)
  spec = envs.task_spec('gym:FetchPush-v4')
  buffer = replay.GoalReplayBuffer(train_env.observation_spec(), train_env.action_spec(),
                                   batch_size=1, max_length=200, gamma=0.9)
  time_step = train_env.reset()
  rng = np.random.default_rng(0)
  for _ in range(60):
    action = rng.uniform(-1, 1, (1, 4)).astype(np.float32)
    next_time_step = train_env.step(action)
    buffer.add_transition((time_step, policy_step.PolicyStep(action=action), next_time_step))
    time_step = next_time_step
  relabeler = relabel.GoalRelabeler(spec.goal_slice(), state_dim, relabel_next_prob=1.0)
  batch = relabeler(buffer.sample(16))
  next_states = batch.next_observation.numpy()[:, :state_dim]
  goals = batch.observation.numpy()[:, state_dim:]
  np.testing.assert_array_equal(goals, next_states[:, 25:28])  # the object's position
  np.testing.assert_array_equal(batch.reward.numpy(), np.ones(16))
  train_env.close()


@pytest.mark.parametrize('env_name, match', [
    ('gym:Pendulum-v1', r"observation must be a dict with observation, achieved_goal"),
    ('gym:NoSuchEnv-v0', r"no gymnasium environment 'NoSuchEnv-v0' is registered"),
])
def test_a_gym_env_that_cannot_be_a_goal_task_fails_in_one_line(env_name, match):
  with pytest.raises(config.ConfigError, match=match) as error:
    envs.task_spec(env_name)
  assert '\n' not in str(error.value)


@pytest.mark.usefixtures('clear_gin')
@pytest.mark.parametrize('agent', ['sac_her', pytest.param('c_learning', marks=pytest.mark.slow)])
def test_train_eval_runs_fetch_reach_by_a_binding(agent, tmp_path):
  result = helpers.run(tmp_path, [], helpers.SMALL + [
      'train_eval.env_name = "gym:FetchReach-v4"', f'train_eval.agent_name = "{agent}"',
      'goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.num_iterations = 100', 'train_eval.initial_collect_steps = 100',
      'train_eval.eval_interval = 100', 'train_eval.success_threshold = None'])
  assert 0.0 <= result['SuccessRate'] <= 1.0 and result['FinalDistance'] > 0.0
  operative = (tmp_path / 'operative.gin').read_text()
  assert "train_eval.env_name = 'gym:FetchReach-v4'" in operative
