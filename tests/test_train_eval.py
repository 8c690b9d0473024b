"""End-to-end tests of train_eval: every shipped task config, gin strictness, seeds, outputs."""
import json
import os
import subprocess
import sys
import types
from unittest import mock

import numpy as np
import pytest
from tf_agents.policies import random_tf_policy

from c_learning import config
from c_learning import records
from c_learning import replay
from c_learning import runner
from c_learning import train_eval
from c_learning.agents import c_learning_agent
from tests import test_recorded_losses
from tests import train_eval_helpers as helpers

TASKS = ['sawyer_reach', 'sawyer_push', 'sawyer_drawer', 'sawyer_window']

# The paper README's command lines, as --gin_bindings (google-research/c_learning README).
PAPER_BINDINGS = {
    'sawyer_reach': [
        'train_eval.env_name="sawyer_reach"', 'obs_to_goal.start_index=0',
        'obs_to_goal.end_index=3', 'goal_fn.relabel_next_prob=0.5',
        'goal_fn.relabel_future_prob=0.0'],
    'sawyer_push': [
        'train_eval.env_name="sawyer_push"', 'train_eval.log_subset=(3, 6)',
        'goal_fn.relabel_next_prob=0.3', 'goal_fn.relabel_future_prob=0.2',
        'SawyerPush.reset.arm_goal_type="goal"', 'SawyerPush.reset.fix_z=True',
        'load_sawyer_push.random_init=True', 'load_sawyer_push.wide_goals=True'],
    'sawyer_drawer': [
        'train_eval.env_name="sawyer_drawer"', 'train_eval.log_subset=(3, None)',
        'goal_fn.relabel_next_prob=0.3', 'goal_fn.relabel_future_prob=0.2',
        'SawyerDrawer.reset.arm_goal_type="goal"'],
    'sawyer_window': [
        'train_eval.env_name="sawyer_window"', 'train_eval.log_subset=(3, None)',
        'SawyerWindow.reset.arm_goal_type="goal"', 'goal_fn.relabel_next_prob=0.5',
        'goal_fn.relabel_future_prob=0.0'],
}

# What a shipped config adds to its paper command line: push and drawer train the exact
# hybrid objective (docs/RESULTS.md section 5); the paper's objective is one binding away.
SHIPPED_CHANGES = {
    'sawyer_push': ['CLearningAgent.exact_hybrid=True'],
    'sawyer_drawer': ['CLearningAgent.exact_hybrid=True'],
}

LOSS_TAGS = ('critic_loss', 'actor_loss')

# A run that only builds everything and writes its operative.gin.
OPERATIVE_ONLY = ['train_eval.num_iterations = 0', 'train_eval.initial_collect_steps = 10',
                  'train_eval.num_eval_episodes = 1', 'CLearningAgent.actor_fc_layers = (8,)',
                  'CLearningAgent.critic_fc_layers = (8,)',
                  'train_eval.replay_buffer_capacity = 100']


pytestmark = pytest.mark.usefixtures('clear_gin')


# Drawer and window are built like push (an object, a log_subset): they run with -m slow.
@pytest.mark.parametrize('task', [
    task if task in ('sawyer_reach', 'sawyer_push') else pytest.param(task, marks=pytest.mark.slow)
    for task in TASKS])
def test_task_config_trains_and_writes_every_output(task, tmp_path):
  gin_file = f'gin/{task}.gin'
  result = helpers.run(tmp_path, [gin_file], helpers.SMALL + [
      'train_eval.num_iterations = 600', 'train_eval.eval_interval = 300',
      'train_eval.log_interval = 300', 'train_eval.train_checkpoint_interval = 300'])
  assert (tmp_path / 'operative.gin').exists()
  operative = (tmp_path / 'operative.gin').read_text()
  assert f"train_eval.env_name = '{task}'" in operative
  assert os.listdir(tmp_path / 'train' / 'checkpoints')
  train = helpers.scalars(tmp_path / 'train')
  for tag in LOSS_TAGS:
    assert any(tag in t for t in train), (tag, sorted(train))
  assert 'global_steps_per_sec' in train and 'Metrics/FinalDistance' in train
  evaluation = helpers.scalars(tmp_path / 'eval')
  expected = ['InitialDistance', 'FinalDistance', 'MinimumDistance', 'DeltaDistance',
              'SuccessRate']
  if task != 'sawyer_reach':  # the others log the object (log_subset) as well
    expected += ['Subset' + name for name in expected]
  for name in expected:
    assert sorted(evaluation[f'Metrics/{name}']) == [0, 300, 600], name
    assert name in result
  assert 0.0 <= result['SuccessRate'] <= 1.0


@pytest.mark.parametrize('task', TASKS)
def test_gin_file_is_the_paper_command_line_and_its_shipped_changes(task, tmp_path):
  helpers.run(tmp_path / 'file', [f'gin/{task}.gin'], OPERATIVE_ONLY)
  helpers.run(tmp_path / 'paper', [],
              PAPER_BINDINGS[task] + SHIPPED_CHANGES.get(task, []) + OPERATIVE_ONLY)
  from_file = (tmp_path / 'file' / 'operative.gin').read_text()
  from_paper = (tmp_path / 'paper' / 'operative.gin').read_text()
  assert from_file == from_paper
  assert 'goal_fn.relabel_next_prob' in from_file


@pytest.mark.parametrize('task', sorted(SHIPPED_CHANGES))
def test_the_paper_objective_is_one_binding_from_the_shipped_config(task, tmp_path):
  helpers.run(tmp_path / 'file', [f'gin/{task}.gin'],
              ['CLearningAgent.exact_hybrid = False'] + OPERATIVE_ONLY)
  helpers.run(tmp_path / 'paper', [], PAPER_BINDINGS[task] + OPERATIVE_ONLY)
  shipped = (tmp_path / 'file' / 'operative.gin').read_text()
  assert shipped == (tmp_path / 'paper' / 'operative.gin').read_text()


@pytest.mark.parametrize('binding, culprit', [
    ('train_eval.num_iteration = 5', 'num_iteration'),
    ('train_evl.num_iterations = 5', 'train_evl'),
    ('SawyerPush.reset.fix_zz = True', 'fix_zz'),
    ('train_eval.num_iterations = (3', 'gin config rejected'),
])
def test_bad_binding_fails_with_one_line_naming_it(binding, culprit):
  with pytest.raises(config.ConfigError) as error:
    config.parse([], [binding])
  assert culprit in str(error.value) and '\n' not in str(error.value)


def test_missing_gin_file_fails_with_the_shipped_names():
  with pytest.raises(config.ConfigError, match=r'no_such.gin.*sawyer_push.gin'):
    config.parse(['gin/no_such.gin'], [])


@pytest.mark.parametrize('bindings, pattern', [
    (['train_eval.env_name = "sawyer_rech"'], r"sawyer_rech.*sawyer_reach"),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.2'],
     r'goal_fn.relabel_next_prob=0.5 \+ goal_fn.relabel_future_prob=0.2'),
    (['goal_fn.relabel_next_prob = 0.5'], r'relabel_future_prob'),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'obs_to_goal.end_index = 7'], r'obs_to_goal.start_index=0, obs_to_goal.end_index=7'),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.agent_name = "sac"'], r"agent_name='sac'.*c_learning"),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.num_parallel_envs = 0'], r'num_parallel_envs=0: must be an int >= 1'),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.num_parallel_envs = 2'],
     r'collect_steps_per_iteration=1 must be a multiple of train_eval.num_parallel_envs=2'),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.iterations_per_call = 0'], r'iterations_per_call=0: must be an int >= 1'),
    # A setting of one loop, chosen under another, would be silently ignored.
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.loop = "plain"', 'train_eval.overlap_collection = True'],
     r"^train_eval.overlap_collection=True has no effect with train_eval.loop='plain'"),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.loop = "offline"', 'train_eval.overlap_collection = False'],
     r"^train_eval.overlap_collection=False has no effect with train_eval.loop='offline'"),
    (['goal_fn.relabel_next_prob = 0.5', 'goal_fn.relabel_future_prob = 0.0',
      'train_eval.loop = "offline"', 'train_eval.dataset = "c_learning/point_mass-random-v0"',
      'train_eval.initial_collect_steps = 0', 'train_eval.collect_steps_per_iteration = 0',
      'train_eval.checkpoint_replay_buffer = True'],
     r"^train_eval.checkpoint_replay_buffer=True has no effect with train_eval.loop='offline'"),
])
def test_bad_settings_fail_at_start_up(bindings, pattern, tmp_path):
  with pytest.raises(config.ConfigError, match=pattern):
    helpers.run(tmp_path, [], ['train_eval.env_name = "point_mass"'] + bindings
                if not any('env_name' in b for b in bindings) else bindings)


def _main_with(monkeypatch, tmp_path, bindings):
  """Runs the entry point's main() as the command line would, with these --gin_bindings."""
  monkeypatch.setattr(train_eval, 'FLAGS', types.SimpleNamespace(
      root_dir=str(tmp_path), gin_file=[], gin_bindings=bindings))
  train_eval.main(None)


def test_a_config_mistake_exits_with_one_line(monkeypatch, tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    _main_with(monkeypatch, tmp_path, ['train_eval.env_name = "point_mas"'])
  assert str(exit_info.value).startswith("c_learning.train_eval: error: Unknown env_name 'point_mas'")
  assert '\n' not in str(exit_info.value)


def test_a_bug_during_set_up_keeps_its_type_and_traceback(monkeypatch, tmp_path):
  def load_with_a_bug(*args, **kwargs):
    raise ValueError('a bug in a loader')
  monkeypatch.setattr(runner.envs, "load", load_with_a_bug)
  with pytest.raises(ValueError, match='a bug in a loader') as error:
    _main_with(monkeypatch, tmp_path, [
        'train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
        'goal_fn.relabel_future_prob = 0.0'])
  assert not isinstance(error.value, config.ConfigError)
  assert error.traceback[-1].name == 'load_with_a_bug'


def first_losses(root_dir, seed, num_iterations=3, summary_interval=1, extra=()):
  """The loss summaries of a short point-mass run, {tag: {step: value}}."""
  helpers.run(root_dir, [], helpers.SMALL + [
      'train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
      'goal_fn.relabel_future_prob = 0.0', f'train_eval.num_iterations = {num_iterations}',
      f'train_eval.summary_interval = {summary_interval}', 'train_eval.num_eval_episodes = 0',
      f'train_eval.random_seed = {seed}', *extra])
  train = helpers.scalars(root_dir / 'train')
  return {tag: values for tag, values in train.items()
          if any(loss in tag for loss in LOSS_TAGS)}


@pytest.mark.slow  # the default suite's budget; python -m pytest -m slow runs it
def test_same_seed_gives_same_first_losses(tmp_path):
  first = first_losses(tmp_path / 'a', seed=7)
  assert first and all(len(values) == 3 for values in first.values())
  assert first_losses(tmp_path / 'b', seed=7) == first
  assert first_losses(tmp_path / 'c', seed=8) != first


def test_overlapped_collection_changes_speed_only(tmp_path):
  # 300 iterations: collection with the trained actor feeds later batches, so
  # the two runs agree only if the halves never disturb each other. The
  # overlapped run is tests/test_recorded_losses.py's point_mass case (the same
  # settings and seed), so its recorded losses stand in for running it here.
  serial = first_losses(tmp_path / 'off', seed=3, num_iterations=300,
                        extra=['train_eval.overlap_collection = False'])
  with open(test_recorded_losses.RECORDED) as f:
    overlapped = json.load(f)['cases']['point_mass']
  serial = {tag.split('/')[-1]: [values[step] for step in sorted(values)]
            for tag, values in serial.items()}
  assert sorted(serial) == sorted(overlapped)
  for name, values in overlapped.items():
    assert len(serial[name]) == 300
    # Equal on the machine that recorded them; other CPUs may round differently.
    np.testing.assert_allclose(serial[name], values, rtol=1e-4, atol=1e-5, err_msg=name)


def test_iterations_per_call_changes_speed_only(tmp_path):
  # With 3 iterations a call and summaries every 5, calls of 3 and of 2 start
  # at both parities.
  one = first_losses(tmp_path / 'one', seed=4, num_iterations=150, summary_interval=5)
  three = first_losses(tmp_path / 'three', seed=4, num_iterations=150, summary_interval=5,
                       extra=['train_eval.iterations_per_call = 3'])
  assert three == one and len(next(iter(one.values()))) == 30


def test_plain_loop_is_deterministic_and_differs_from_the_overlapped_loop_in_its_batches(
    tmp_path):
  # The plain loop trains on batches that hold the iteration's own env steps;
  # the overlapped loop's batches hold them one iteration later. So the two
  # agree on nothing from the first train step on, but each one is a function
  # of the seed alone, whatever the iterations a call. The overlapped run at
  # these settings and seed is tests/test_recorded_losses.py's point_mass case.
  plain = ['train_eval.loop = "plain"']
  one = first_losses(tmp_path / 'one', seed=3, num_iterations=40, extra=plain + [
      'train_eval.iterations_per_call = 1'])
  three = first_losses(tmp_path / 'three', seed=3, num_iterations=40, extra=plain + [
      'train_eval.iterations_per_call = 3'])
  assert three == one and len(next(iter(one.values()))) == 40
  with open(test_recorded_losses.RECORDED) as f:
    overlapped = json.load(f)['cases']['point_mass']
  for tag, values in one.items():
    assert abs(values[0] - overlapped[tag.split('/')[-1]][0]) > 1e-3, tag
  # The plain loop takes the same env steps: the initial ones, then one an iteration.
  ends = [r for r in records.read(str(tmp_path / 'one')) if r['kind'] == 'end']
  assert ends[-1]['env_steps'] == 300 + 40


def test_an_unknown_loop_is_named_with_the_valid_ones(tmp_path):
  with pytest.raises(config.ConfigError, match=r"train_eval.loop='fast' is unknown; valid "
                                               r'loops: overlapped, plain'):
    first_losses(tmp_path, seed=0, extra=['train_eval.loop = "fast"'])


@pytest.mark.parametrize('iteration, expected', [
    (0, 4), (96, 4), (97, 3), (99, 1), (100, 4), (296, 2), (297, 1)])
def test_a_call_never_runs_past_an_interval_or_the_end(iteration, expected):
  # 4 a call, log every 100, checkpoint every 1000, 298 iterations in all.
  assert runner.iterations_in_next_call(iteration, 4, 298, [100, 1000]) == expected


def test_every_collection_step_draws_fresh_random_numbers(tmp_path):
  # The snapshot policies act uniformly at random, like the initial policy, so
  # a repeated action row means two traced parts drew the same numbers (as the
  # two parities and the initial collection once did).
  buffers = []
  make_buffer = replay.GoalReplayBuffer.__init__

  def keep_buffer(self, *args, **kwargs):
    make_buffer(self, *args, **kwargs)
    buffers.append(self)

  def random_policy_with(self, actor_network):
    del actor_network
    return random_tf_policy.RandomTFPolicy(*self._policy_specs)  # pylint: disable=protected-access

  with mock.patch.object(replay.GoalReplayBuffer, '__init__', keep_buffer), \
       mock.patch.object(c_learning_agent.CLearningAgent, 'collect_policy_with',
                         random_policy_with):
    helpers.run(tmp_path, [], helpers.SMALL + [
        'train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
        'goal_fn.relabel_future_prob = 0.0', 'train_eval.num_iterations = 400',
        'train_eval.num_eval_episodes = 0'])
  actions = buffers[0].gather_all().action.numpy()[0]
  assert len(actions) == 700  # 300 initial steps, 400 iterations
  assert len(np.unique(actions, axis=0)) == len(actions)


@pytest.mark.slow  # the default suite's budget; python -m pytest -m slow runs it
def test_eager_run_without_tf_functions(tmp_path):
  # For debugging: the same loop with every call run eagerly, calls of 3 included.
  losses = first_losses(tmp_path, seed=2, num_iterations=7, summary_interval=3, extra=[
      'train_eval.use_tf_functions = False', 'train_eval.iterations_per_call = 3'])
  assert all(sorted(values) == [0, 3, 6] for values in losses.values())


@pytest.mark.slow  # the default suite's budget; python -m pytest -m slow runs it
def test_xla_train_step_writes_the_same_loss_summaries(tmp_path):
  # XLA compiles the step with summaries off; the loop writes the losses instead,
  # under the same tags, at the same steps. XLA draws the actor's samples with its
  # own random-number algorithm, so values agree closely but not exactly.
  plain = first_losses(tmp_path / 'plain', seed=5)
  compiled = first_losses(tmp_path / 'xla', seed=5, extra=['train_eval.xla_train_step = True'])
  assert sorted(compiled) == sorted(plain)
  for tag, values in plain.items():
    assert sorted(compiled[tag]) == sorted(values)
    for step, value in values.items():
      assert compiled[tag][step] == pytest.approx(value, rel=0.1), (tag, step)


@pytest.mark.slow  # the default suite's budget; python -m pytest -m slow runs it
def test_parallel_envs_collect_from_every_process(tmp_path):
  # Two spawned point-mass envs, 2 env steps and 2 train steps an iteration.
  helpers.run(tmp_path, [], helpers.SMALL + [
      'train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
      'goal_fn.relabel_future_prob = 0.0', 'train_eval.num_iterations = 100',
      'train_eval.num_parallel_envs = 2', 'train_eval.collect_steps_per_iteration = 2',
      'train_eval.train_steps_per_iteration = 2', 'train_eval.log_interval = 100'])
  train = helpers.scalars(tmp_path / 'train')
  # 300 initial steps + 100 iterations x 2 envs; the train step counter counts 200.
  assert train['Metrics/EnvironmentSteps'][200] == 500
  assert train['Metrics/PhysicsBlowups'][200] == 0


def test_records_follow_the_run_and_its_resume(tmp_path):
  """records.jsonl: a start, progress every log interval, each eval as returned, an end; resumed."""
  bindings = helpers.SMALL + [
      'train_eval.env_name = "point_mass"', 'goal_fn.relabel_next_prob = 0.5',
      'goal_fn.relabel_future_prob = 0.0', 'train_eval.train_steps_per_iteration = 2',
      'train_eval.log_interval = 10', 'train_eval.eval_interval = 20',
      'train_eval.train_checkpoint_interval = 20']
  result = helpers.run(tmp_path, [], bindings + ['train_eval.num_iterations = 40'])
  first = records.read(tmp_path)
  assert [(r['kind'], r['iteration']) for r in first] == [
      ('start', 0), ('eval', 0), ('progress', 10), ('eval', 20), ('progress', 20),
      ('progress', 30), ('eval', 40), ('progress', 40), ('end', 40)]
  # The start comes before the random initial steps.
  assert first[0]['resumed'] is False and first[0]['env_steps'] == 0
  for record in first:
    assert record['train_step'] == 2 * record['iteration']  # two train steps an iteration
  for record in first[1:]:
    assert record['env_steps'] == 300 + record['iteration']  # the initial steps, then one each
  for record in first:
    if record['kind'] == 'progress':
      assert record['num_iterations'] == 40 and record['steps_per_sec'] > 0
      assert {'critic_loss', 'actor_loss'} <= set(record['losses'])
      assert all(np.isfinite(value) for value in record['losses'].values())
  # Each eval has the metrics train_eval wrote to TensorBoard at its train step.
  evaluation = helpers.scalars(tmp_path / 'eval')
  evals = [r for r in first if r['kind'] == 'eval']
  for record in evals:
    assert set(record['metrics']) == set(result)
    for name, value in record['metrics'].items():
      assert evaluation[f'Metrics/{name}'][record['train_step']] == pytest.approx(value)
  assert evals[-1]['metrics'] == result and first[-1]['metrics'] == result

  # Resumed from its checkpoint at iteration 40, to 50: evaluated again at 40 and at the end.
  result = helpers.run(tmp_path, [], bindings + ['train_eval.num_iterations = 50'])
  written = records.read(tmp_path)
  assert written[:len(first)] == first
  resumed = written[len(first):]
  assert [(r['kind'], r['iteration']) for r in resumed] == [
      ('start', 40), ('eval', 40), ('progress', 50), ('eval', 50), ('end', 50)]
  assert resumed[0]['resumed'] is True and resumed[0]['env_steps'] == 340
  assert resumed[-1]['env_steps'] == 350 and resumed[-1]['metrics'] == result
  by_step = records.evals_by_step(written)
  assert list(by_step) == [0, 40, 80, 100]
  assert by_step[80] is resumed[1] and by_step[100]['metrics'] == result


@pytest.mark.parametrize('bindings, culprit', [
    (['train_eval.num_iteration=5'], "named 'num_iteration'"),
    (['train_eval.env_name="sawyer_rech"', 'goal_fn.relabel_next_prob=0.5',
      'goal_fn.relabel_future_prob=0.0'], "'sawyer_rech'; valid names: goal_cartpole, point_mass"),
])
def test_command_line_reports_a_bad_setting_in_one_line(bindings, culprit, tmp_path):
  completed = subprocess.run(
      [sys.executable, '-m', 'c_learning.train_eval', f'--root_dir={tmp_path}'] +
      [f'--gin_bindings={b}' for b in bindings],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=120)
  assert completed.returncode != 0
  assert 'Traceback' not in completed.stderr
  last_line = completed.stderr.strip().splitlines()[-1]
  assert last_line.startswith('c_learning.train_eval: error: ') and culprit in last_line
