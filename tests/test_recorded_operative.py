"""Every shipped config and paper command line runs with the values it had before the redesign.

tests/data/operative_before_redesign.json holds the operative.gin that main (the
commit it names) wrote for each. Read through legacy_config.upgrade (parameters
that moved get their new names), every binding in it must reach the same value
in today's operative.gin, and the old file must still parse, as evaluate reads it.
"""
import json
import os

import gin
import pytest

from c_learning import legacy_config
from tests import train_eval_helpers as helpers
from tests.test_train_eval import PAPER_BINDINGS

RECORDED = os.path.join(os.path.dirname(__file__), 'data', 'operative_before_redesign.json')
TINY = ['train_eval.num_iterations = 0', 'train_eval.initial_collect_steps = 10',
        'train_eval.num_eval_episodes = 1', 'train_eval.replay_buffer_capacity = 100']
# case: (gin files, bindings), as recorded.
CASES = {f'file:{name}': ([f'gin/{name}'], []) for name in (
    'quickstart.gin', 'sawyer_reach.gin', 'sawyer_push.gin', 'sawyer_drawer.gin',
    'sawyer_window.gin')}
CASES.update({f'paper:{task}': ([], bindings) for task, bindings in PAPER_BINDINGS.items()})
# SacHerAgent's alpha started at 1 then (now 0.01).
CASES['file:sawyer_reach.gin+sac_her'] = (['gin/sawyer_reach.gin'],
                                           ['train_eval.agent_name = "sac_her"',
                                            'SacHerAgent.initial_log_alpha = 0.0'])

pytestmark = pytest.mark.usefixtures('clear_gin')


def _recorded(case):
  with open(RECORDED) as f:
    return json.load(f)['cases'][case]


def _values(text):
  """{binding: value} of an operative.gin's text, as gin reads them."""
  gin.clear_config()
  gin.parse_config(text, skip_unknown=True)
  bindings = {}
  for line in text.splitlines():
    if ' = ' in line and not line.startswith('#'):
      binding = line.split(' = ')[0]
      bindings[binding] = gin.query_parameter(binding)
  gin.clear_config()
  return bindings


@pytest.mark.parametrize('case', sorted(CASES))
def test_the_recorded_values_are_todays(case, tmp_path):
  gin_files, bindings = CASES[case]
  helpers.run(tmp_path, gin_files, bindings + TINY)
  today = _values((tmp_path / 'operative.gin').read_text())
  before = _values(legacy_config.upgrade(_recorded(case)))
  assert {binding: today.get(binding, 'missing') for binding in before} == before


def test_an_operative_gin_from_before_the_redesign_still_parses(tmp_path):
  path = tmp_path / 'operative.gin'
  path.write_text(_recorded('file:sawyer_reach.gin+sac_her'))
  legacy_config.parse_operative(str(path))
  assert gin.query_parameter('SacHerAgent.actor_fc_layers') == (256, 256)
  assert gin.query_parameter('goal_fn.reward') == 'next_state'
  assert gin.query_parameter('train_eval.gamma') == 0.99
