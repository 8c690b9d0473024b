"""Reads the operative.gin of a run made before the redesign, so evaluate and resumes still work."""
import re

from c_learning import config

_BINDING = re.compile(r'^([A-Za-z_][\w.]*)\.(\w+) = (.*)$')
_AGENT_NAME = re.compile(r"^train_eval\.agent_name = '(\w+)'$", re.MULTILINE)
# Loop settings whose default was True and is now None, "the loop's default", so
# that a loop they mean nothing to can refuse a value.
_DEFAULTS_NOW_NONE = ('train_eval.overlap_collection', 'train_eval.checkpoint_replay_buffer')


def upgrade(text):
  """`text` (an operative.gin) with each binding that config.MOVED lists rewritten to where it is now.

  Bindings to parameters that the package now passes itself (config.SET_BY)
  are dropped: an operative.gin records every default, and gin would refuse them.
  So are train_eval.overlap_collection and checkpoint_replay_buffer = True, the
  defaults then (None now), and SacHerAgent.reward_threshold where the reward was
  'next_state', which never read it.
  """
  from c_learning import agents  # pylint: disable=g-import-not-at-top  (agents import config)
  agent_name = _AGENT_NAME.search(text)
  agent_class = agents.AGENTS.get(agent_name.group(1) if agent_name else 'c_learning')
  lines = []
  for line in text.splitlines():
    match = _BINDING.match(line)
    if match:
      owner, parameter, value = match.groups()
      binding = f'{owner}.{parameter}'
      if binding in config.SET_BY:
        continue
      if binding in _DEFAULTS_NOW_NONE and value == 'True':
        continue  # the default then, which the default now (None) means; other loops refuse a value
      if owner == 'train_eval' and parameter in config.MOVED_TO_AGENTS and agent_class:
        line = f'{agent_class.__name__}.{parameter} = {value}'
      elif binding == 'SacHerAgent.reward_type':
        line = f'goal_fn.reward = {value}'
      elif binding == 'SacHerAgent.reward_threshold':
        if "SacHerAgent.reward_type = 'threshold'" not in text:
          continue
        line = f'threshold_reward.threshold = {value}'
    lines.append(line)
  return '\n'.join(lines) + '\n'


def parse_operative(path, gin_bindings=()):
  """Parses a run's operative.gin, of this version or an earlier one, then `gin_bindings` (config.parse's errors)."""
  with open(path) as f:
    text = upgrade(f.read())
  # gin parses a binding string of many lines as a config file's text.
  config.parse([], [text] + list(gin_bindings))
