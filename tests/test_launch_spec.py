"""Tests of sweep specs: expansion, run names, bad input, and --print through a real shell."""
import itertools
import os
import re
import shlex
import subprocess
import sys

import gin
import pytest

from c_learning import config
from c_learning import train_eval
from c_learning.sweep import layout
from c_learning.sweep import spec as spec_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SWEEP_PY = os.path.join(REPO, 'launch', 'sweep.py')
EXAMPLES = os.path.join(REPO, 'launch', 'examples')
SAFE = re.compile(r'^[A-Za-z0-9._=-]+$')


def cli(*args, cwd=None):
  return subprocess.run([sys.executable, SWEEP_PY, *args], capture_output=True, text=True,
                        cwd=cwd or REPO, timeout=60)


def test_paper_example_is_four_tasks_by_three_seeds():
  sweep = spec_lib.load(os.path.join(EXAMPLES, 'paper.yaml'))
  assert sweep.name == 'paper'
  got = {(r.task, r.seed) for r in sweep.runs}
  tasks = ['sawyer_reach', 'sawyer_push', 'sawyer_drawer', 'sawyer_window']
  assert got == set(itertools.product(tasks, [1, 2, 3]))
  assert len(sweep.runs) == 12
  push = next(r for r in sweep.runs if r.task == 'sawyer_push' and r.seed == 2)
  assert push.name == 'sawyer_push-c_learning-seed=2'
  assert push.argv('/runs/x') == [
      'python', '-m', 'c_learning.train_eval', '--root_dir=/runs/x',
      '--gin_file=gin/sawyer_push.gin', '--gin_bindings=train_eval.agent_name="c_learning"',
      '--gin_bindings=train_eval.random_seed=2']


@pytest.mark.usefixtures('clear_gin')
@pytest.mark.parametrize('example', sorted(os.listdir(EXAMPLES)))
def test_every_run_of_the_examples_is_a_config_train_eval_accepts(example):
  for run in spec_lib.load(os.path.join(EXAMPLES, example)).runs:
    gin.clear_config()
    config.parse([os.path.join(spec_lib.ROOT, f) for f in run.gin_files], list(run.bindings))
    arguments = train_eval.configured_arguments()
    assert (arguments['agent_name'], arguments['random_seed']) == (run.agent, run.seed)


def test_grid_is_the_product_of_swept_values_agents_and_seeds():
  sweep = spec_lib.expand({
      'tasks': ['sawyer_reach'], 'agents': ['c_learning', 'td3_her'], 'seeds': [0, 7],
      'bindings': ['train_eval.num_iterations=1000'],
      'sweep': {'goal_fn.relabel_next_prob': [0.3, 0.5], 'train_eval.batch_size': [64, 128, 256]},
  })
  assert len(sweep.runs) == 2 * 2 * 2 * 3
  combos = {(r.agent, r.seed, r.swept) for r in sweep.runs}
  assert len(combos) == len(sweep.runs)
  run = next(r for r in sweep.runs if r.agent == 'td3_her' and r.seed == 7
             and dict(r.swept) == {'goal_fn.relabel_next_prob': '0.3',
                                   'train_eval.batch_size': '128'})
  assert run.name == 'sawyer_reach-td3_her-relabel_next_prob=0.3-batch_size=128-seed=7'
  # Fixed bindings first, then swept values, agent and seed: later bindings win in gin.
  assert run.bindings == ('train_eval.num_iterations=1000', 'goal_fn.relabel_next_prob=0.3',
                          'train_eval.batch_size=128', 'train_eval.agent_name="td3_her"',
                          'train_eval.random_seed=7')


def test_values_become_gin_text_and_names_stay_safe():
  sweep = spec_lib.expand({
      'tasks': [{'name': 'pm', 'bindings': {'train_eval.env_name': '"point_mass"'}}],
      'seeds': [1],
      'sweep': {'train_eval.actor_fc_layers': [[256, 256], [64]],
                'train_eval.log_subset': ['(3, None)', None],
                'train_eval.use_tf_functions': [True]},
  })
  texts = {tuple(v for _, v in r.swept) for r in sweep.runs}
  assert texts == {('(256, 256)', '(3, None)', 'True'), ('(256, 256)', 'None', 'True'),
                   ('(64,)', '(3, None)', 'True'), ('(64,)', 'None', 'True')}
  assert sweep.runs[0].bindings[0] == 'train_eval.env_name="point_mass"'
  names = [r.name for r in sweep.runs]
  assert all(SAFE.match(n) for n in names), names
  assert len(set(names)) == len(names)
  assert 'pm-c_learning-actor_fc_layers=256_256-log_subset=3_None-use_tf_functions=True-seed=1' \
      in names


def test_values_that_sanitise_alike_still_get_distinct_names():
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [1],
                           'sweep': {'SawyerPush.reset.arm_goal_type': ['"a b"', '"a_b"']}})
  names = [r.name for r in sweep.runs]
  assert len(set(names)) == 2 and all(SAFE.match(n) for n in names), names


def test_same_parameter_name_under_two_configurables_keeps_full_keys():
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [1],
                           'sweep': {'a.x': [1], 'b.x': [2]}})
  assert sweep.runs[0].name == 'sawyer_reach-c_learning-a.x=1-b.x=2-seed=1'


def test_variants_apply_to_every_task_and_agent_and_name_the_runs():
  sweep = spec_lib.expand({
      'tasks': ['sawyer_reach', {'name': 'pm', 'bindings': ['train_eval.env_name="point_mass"']}],
      'agents': ['c_learning', 'sac_her'], 'seeds': [1],
      'bindings': ['goal_fn.relabel_future_prob=0.0'],
      'variants': {'next0.1': ['goal_fn.relabel_next_prob=0.1'], 'base': None},
  })
  assert [r.name for r in sweep.runs] == [
      'sawyer_reach-c_learning-next0.1-seed=1', 'sawyer_reach-sac_her-next0.1-seed=1',
      'sawyer_reach-c_learning-base-seed=1', 'sawyer_reach-sac_her-base-seed=1',
      'pm-c_learning-next0.1-seed=1', 'pm-sac_her-next0.1-seed=1',
      'pm-c_learning-base-seed=1', 'pm-sac_her-base-seed=1']
  pm = sweep.runs[4]
  assert (pm.task, pm.agent, pm.variant, pm.seed) == ('pm', 'c_learning', 'next0.1', 1)
  # Spec bindings, the task's, the variant's, then agent and seed.
  assert pm.bindings == ('goal_fn.relabel_future_prob=0.0', 'train_eval.env_name="point_mass"',
                         'goal_fn.relabel_next_prob=0.1', 'train_eval.agent_name="c_learning"',
                         'train_eval.random_seed=1')
  assert sweep.runs[6].bindings == ('goal_fn.relabel_future_prob=0.0',
                                    'train_eval.env_name="point_mass"',
                                    'train_eval.agent_name="c_learning"',
                                    'train_eval.random_seed=1')


def test_tree_layout_places_runs_where_the_learning_benchmark_finds_them(tmp_path):
  sweep = spec_lib.expand({
      'tasks': ['sawyer_reach', 'sawyer_push'], 'seeds': [0, 1], 'layout': 'tree',
      'variants': {'g9': {'train_eval.gamma': 0.9}, 'base': []},
      'sweep': {'train_eval.batch_size': [64]}})
  assert [r.name for r in sweep.runs][:4] == [
      'sawyer_reach/c_learning/g9-batch_size=64/seed_0',
      'sawyer_reach/c_learning/g9-batch_size=64/seed_1',
      'sawyer_reach/c_learning/base-batch_size=64/seed_0',
      'sawyer_reach/c_learning/base-batch_size=64/seed_1']
  assert sweep.runs[0].run_dir('/r') == '/r/sawyer_reach/c_learning/g9-batch_size=64/seed_0'
  plain = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [3], 'layout': 'tree'})
  assert plain.runs[0].name == 'sawyer_reach/c_learning/seed_3'
  expected = {}
  for run in sweep.runs + plain.runs:
    os.makedirs(run.run_dir(str(tmp_path)))
    detail = ''.join(run.name.split('/')[2:-1])  # the variant folder, where there is one
    expected[run.task, run.agent, detail, run.seed] = run.run_dir(str(tmp_path))
  found = layout.tree_runs(str(tmp_path))
  assert {(r.task, r.agent, r.variant, r.seed): r.path for r in found} == expected


def test_tree_names_that_sanitise_alike_get_distinct_variant_folders(tmp_path):
  sweep = spec_lib.expand({'tasks': ['sawyer_reach'], 'seeds': [1], 'layout': 'tree',
                           'sweep': {'SawyerPush.reset.arm_goal_type': ['"a b"', '"a_b"']}})
  names = [r.name for r in sweep.runs]
  assert len(set(names)) == 2, names
  for name in names:
    task, agent, detail, seed = name.split('/')
    assert (task, agent, seed) == ('sawyer_reach', 'c_learning', 'seed_1')
    assert SAFE.match(detail) and detail.startswith('arm_goal_type=a_b-')
    os.makedirs(os.path.join(tmp_path, name))
  assert len(layout.tree_runs(str(tmp_path))) == 2


def test_build_derives_bindings_once_a_task_variant_and_grid_point():
  calls = []

  def derive(task, variant, bindings):
    calls.append((task.name, variant.name, bindings))
    return [f'train_eval.num_iterations={len(bindings)}']
  task = spec_lib.Task('t', ('gin/sawyer_reach.gin',), ('a.b=1',))
  sweep = spec_lib.build('b', [task], ['c_learning', 'sac_her'], [0, 1], bindings=['x.y=2'],
                         variants=[spec_lib.Variant('v', ('c.d=3',))],
                         grid=[('e.f', ['4', '5'])], layout='tree', derive=derive)
  assert calls == [('t', 'v', ('x.y=2', 'a.b=1', 'c.d=3', 'e.f=4')),
                   ('t', 'v', ('x.y=2', 'a.b=1', 'c.d=3', 'e.f=5'))]
  assert len(sweep.runs) == 2 * 2 * 2
  assert sweep.runs[0].name == 't/c_learning/v-f=4/seed_0'
  assert sweep.runs[0].bindings == (
      'x.y=2', 'a.b=1', 'c.d=3', 'e.f=4', 'train_eval.num_iterations=4',
      'train_eval.agent_name="c_learning"', 'train_eval.random_seed=0')


def test_task_gin_path_and_python_spec(tmp_path):
  gin_file = tmp_path / 'my_task.gin'
  gin_file.write_text("include 'sawyer_reach.gin'\n")
  (tmp_path / 'spec.py').write_text(
      "SPEC = {'tasks': ['my_task.gin', 'sawyer_push'], 'seeds': [1, 2]}\n")
  sweep = spec_lib.load(str(tmp_path / 'spec.py'))
  assert sweep.name == 'spec'
  assert [r.name for r in sweep.runs][:2] == ['my_task-c_learning-seed=1',
                                              'my_task-c_learning-seed=2']
  assert sweep.runs[0].gin_files == (str(gin_file.resolve()),)
  assert sweep.runs[2].gin_files == ('gin/sawyer_push.gin',)


def test_yaml_and_python_specs_expand_alike(tmp_path):
  (tmp_path / 'a.yaml').write_text(
      'name: same\ntasks: [sawyer_window]\nseeds: [3, 4]\n'
      'bindings:\n  - train_eval.log_subset=(3, None)\n'
      'sweep:\n  SawyerWindow.reset.arm_goal_type: [\'"goal"\', \'"random"\']\n')
  (tmp_path / 'b.py').write_text(
      "SPEC = dict(name='same', tasks=['sawyer_window'], seeds=[3, 4],\n"
      "            bindings={'train_eval.log_subset': '(3, None)'},\n"
      "            sweep={'SawyerWindow.reset.arm_goal_type': ['\"goal\"', '\"random\"']})\n")
  a = spec_lib.load(str(tmp_path / 'a.yaml'))
  b = spec_lib.load(str(tmp_path / 'b.py'))
  assert a == b and len(a.runs) == 4
  assert 'SawyerWindow.reset.arm_goal_type="goal"' in a.runs[0].bindings


@pytest.mark.parametrize('raw, culprit', [
    ({'tasks': ['sawyer_jump'], 'seeds': [1]}, "unknown task 'sawyer_jump'; allowed: dmc_ball_in_cup, dmc_cartpole, dmc_finger"),
    ({'tasks': ['nowhere/missing.gin'], 'seeds': [1]}, "gin file 'nowhere/missing.gin': no such"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'seed': [2]}, 'unknown spec key(s) seed'),
    ({'tasks': ['sawyer_reach']}, 'the spec needs seeds'),
    ({'tasks': ['sawyer_reach'], 'seeds': 3}, 'seeds: must be a non-empty list'),
    ({'tasks': ['sawyer_reach'], 'seeds': [-1]}, 'seeds: -1 is not a non-negative integer'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1, 1]}, 'seeds: 1 is listed twice'),
    ({'tasks': [], 'seeds': [1]}, 'tasks: must be a non-empty list'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'bindings': ['train_eval.batch_size']},
     "'train_eval.batch_size' is not a one-line gin binding"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'sweep': {'batch size': [1]}},
     "'batch size' is not a gin parameter name"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'sweep': {'train_eval.gamma': 0.9}},
     'sweep: train_eval.gamma: expected a non-empty list'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'sweep': {'train_eval.random_seed': [1]}},
     "train_eval.random_seed is set by the spec's seeds"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'bindings': ['train_eval.gamma=0.9'],
      'sweep': {'train_eval.gamma': [0.5]}}, 'sweep: train_eval.gamma is also a fixed binding'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'agents': ['c learning']},
     "agents: 'c learning' is not an agent name"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'name': 'a/b'}, "name='a/b'"),
    ({'tasks': [{'gin_files': []}], 'seeds': [1]}, 'a task mapping has a name'),
    (['sawyer_reach'], 'a spec is a mapping'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'sweep': {'train_eval.gamma': [{'a': 1}]}},
     "{'a': 1} is not a gin value"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'variants': ['a']},
     'variants: expected a mapping of variant name to its bindings'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'variants': {'seed_2': []}},
     "variants: name 'seed_2' must be letters, digits"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'variants': {'a': ['train_eval.random_seed=3']}},
     "train_eval.random_seed is set by the spec's seeds"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'variants': {'a': {'train_eval.gamma': 0.9}},
      'sweep': {'train_eval.gamma': [0.5]}}, 'sweep: train_eval.gamma is also a variant binding'),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'variants': {'a': ['train_eval.gamma']}},
     "variants: a: 'train_eval.gamma' is not a one-line gin binding"),
    ({'tasks': ['sawyer_reach'], 'seeds': [1], 'layout': 'nested'},
     "layout: 'nested' is unknown; allowed: flat, tree"),
])
def test_bad_specs_fail_with_the_culprit(raw, culprit):
  with pytest.raises(spec_lib.SpecError) as error:
    spec_lib.expand(raw)
  assert culprit in str(error.value)
  assert '\n' not in str(error.value)


def test_print_lines_survive_the_shell(tmp_path):
  """Every printed line, parsed by bash, is exactly the run's argv (quotes included)."""
  spec = tmp_path / 'quotes.yaml'
  spec.write_text(
      'tasks:\n  - name: push\n    gin_files: [gin/sawyer_push.gin]\n'
      '    bindings: [train_eval.env_name="sawyer_push", SawyerPush.reset.arm_goal_type="goal"]\n'
      'seeds: [1, 2]\n'
      'sweep:\n  train_eval.log_subset: ["(3, None)", "(3, 6)"]\n'
      '  SawyerPush.reset.fix_z: [\'"it\'\'s $HOME `x`"\']\n')
  result = cli('--spec', str(spec), '--print', '--root', str(tmp_path / 'runs'))
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  sweep = spec_lib.load(str(spec))
  assert len(lines) == len(sweep.runs) == 4
  for line, run in zip(lines, sweep.runs):
    # `python` becomes a function that prints its arguments NUL-separated.
    shell = subprocess.run(['bash', '-c', 'python() { printf "%s\\0" "$@"; }\n' + line],
                           capture_output=True, text=True, check=True)
    got = shell.stdout.split('\0')[:-1]
    assert got == run.argv(str(tmp_path / 'runs' / run.name))[1:]
  assert "--gin_bindings=SawyerPush.reset.fix_z=\"it's $HOME `x`\"" in got
  assert '--gin_bindings=train_eval.log_subset=(3, 6)' in got


@pytest.mark.parametrize('args, message', [
    (['--spec', 'launch/examples/paper.yaml', '--local', '--workers', '0'],
     '--workers=0: need at least 1'),
    (['--spec', 'nope.yaml', '--print'], '--spec=nope.yaml: no such file'),
    (['--spec', 'launch/examples/paper.yaml', '--print', '--filter', 'sawyer_fly'],
     '--filter=sawyer_fly matches none of the 12 runs'),
])
def test_cli_rejects_bad_input_in_one_line(args, message):
  result = cli(*args)
  assert result.returncode == 2
  assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_prints_a_tree_layout_under_its_root(tmp_path):
  spec = tmp_path / 'tree.yaml'
  spec.write_text('tasks: [sawyer_reach]\nseeds: [1, 2]\nlayout: tree\n'
                  'variants:\n  g9: [train_eval.gamma=0.9]\n')
  result = cli('--spec', str(spec), '--print', '--root', 'out', cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr
  roots = [shlex.split(line)[3] for line in result.stdout.splitlines()]
  assert roots == ['--root_dir=out/sawyer_reach/c_learning/g9/seed_1',
                   '--root_dir=out/sawyer_reach/c_learning/g9/seed_2']


def test_cli_filter_selects_runs():
  result = cli('--spec', 'launch/examples/paper.yaml', '--print', '--filter', 'push.*seed=[12]$')
  assert result.returncode == 0, result.stderr
  roots = [shlex.split(line)[3] for line in result.stdout.splitlines()]
  assert roots == ['--root_dir=sweeps/paper/sawyer_push-c_learning-seed=1',
                   '--root_dir=sweeps/paper/sawyer_push-c_learning-seed=2']
