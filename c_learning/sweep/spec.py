"""Sweep specs: the one place where a sweep becomes named train_eval runs.

load/expand read a YAML or Python spec (launch/sweep.py); build makes the runs from
checked parts (expand, and benchmarks/learning.py from its flags).
"""
import dataclasses
import hashlib
import itertools
import os
import re
import runpy

from c_learning import config
from c_learning.sweep import layout as layout_lib

# Shipped task configs: gin/ in a checkout, c_learning/gin/ in an installed package.
GIN_DIR = config.SHIPPED_GIN_DIR
# The folder holding gin/ (a checkout's root): gin files under it are named relative to
# it, as the README writes them, and local runs start in it so that those names resolve.
ROOT = os.path.dirname(GIN_DIR)
ENTRY_MODULE = 'c_learning.train_eval'

SPEC_KEYS = ('name', 'tasks', 'agents', 'seeds', 'bindings', 'variants', 'sweep', 'layout')
TASK_KEYS = ('name', 'gin_files', 'bindings')
RESERVED = {'train_eval.random_seed': 'seeds', 'train_eval.agent_name': 'agents'}
# Run names become directory names and gs:// object prefixes: keep to this set.
_UNSAFE = re.compile(r'[^A-Za-z0-9._=-]+')
_SAFE_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
_AGENT_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
# A gin binding's left side: optional scope/, configurable, .parameter.
_BINDING_KEY = re.compile(r'^[A-Za-z_][A-Za-z0-9_./]*\.[A-Za-z_][A-Za-z0-9_]*$')
_MAX_NAME = 200  # under the 255-byte file-name limit, with room for suffixes


class SpecError(ValueError):
  """A sweep spec is malformed; the message names the culprit and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Task:
  """A task: its name, the gin files that configure it and the bindings it adds."""
  name: str
  gin_files: tuple  # relative to ROOT for shipped configs, absolute otherwise
  bindings: tuple = ()


@dataclasses.dataclass(frozen=True)
class Variant:
  """A named set of gin bindings applied to every task and agent; the name '' is no variant."""
  name: str = ''
  bindings: tuple = ()


@dataclasses.dataclass(frozen=True)
class Run:
  """One train_eval run of a sweep."""
  name: str  # its directory under the sweep's root ('/'-separated in the tree layout)
  task: str
  agent: str
  seed: int
  gin_files: tuple  # relative to ROOT for shipped configs, absolute otherwise
  bindings: tuple  # 'key=value' gin bindings, applied in this order
  swept: tuple  # ((key, gin value text), ...) of the swept bindings
  variant: str = ''

  def run_dir(self, root):
    """The run's directory: root/<name>."""
    return os.path.join(root, *self.name.split('/'))

  def argv(self, root_dir, python='python', gin_dir=None):
    """The train_eval command line; gin_dir puts every gin file in that folder (cloud copies)."""
    files = [os.path.join(gin_dir, os.path.basename(f)) if gin_dir else f
             for f in self.gin_files]
    return ([python, '-m', ENTRY_MODULE, f'--root_dir={root_dir}']
            + [f'--gin_file={f}' for f in files]
            + [f'--gin_bindings={b}' for b in self.bindings])


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A named list of runs and the gin files they read."""
  name: str
  runs: tuple

  def gin_files(self):
    """Every distinct gin file the runs name, in first-use order."""
    return list(dict.fromkeys(f for run in self.runs for f in run.gin_files))


def load(path):
  """Reads a .yaml/.yml spec or a .py spec (defining SPEC = {...}) and expands it."""
  if not os.path.isfile(path):
    raise SpecError(f'--spec={path}: no such file.')
  stem, ext = os.path.splitext(os.path.basename(path))
  if ext in ('.yaml', '.yml'):
    import yaml  # pylint: disable=g-import-not-at-top
    try:
      with open(path) as f:
        raw = yaml.safe_load(f)
    except yaml.YAMLError as error:
      message = ' '.join(str(error).split())
      raise SpecError(f'{path}: not valid YAML: {message}') from error
  elif ext == '.py':
    raw = runpy.run_path(path).get('SPEC')
    if raw is None:
      raise SpecError(f'{path}: a Python spec must define SPEC = {{...}}.')
  else:
    raise SpecError(f'--spec={path}: unknown spec type {ext!r}; allowed: .yaml, .yml, .py.')
  return expand(raw, spec_dir=os.path.dirname(os.path.abspath(path)), default_name=stem)


def expand(raw, spec_dir='.', default_name='sweep'):
  """Checks a spec mapping and expands it: tasks x variants x agents x swept values x seeds."""
  if not isinstance(raw, dict):
    raise SpecError(f'a spec is a mapping with keys {", ".join(SPEC_KEYS)}; '
                    f'got {type(raw).__name__}.')
  unknown = sorted(set(raw) - set(SPEC_KEYS))
  if unknown:
    raise SpecError(f'unknown spec key(s) {", ".join(map(str, unknown))}; '
                    f'allowed: {", ".join(SPEC_KEYS)}.')
  name = raw.get('name', default_name)
  if not (isinstance(name, str) and _SAFE_NAME.match(name)):
    raise SpecError(f'name={name!r}: a sweep name is letters, digits, ".", "_", "-" '
                    '(it names folders and bucket paths).')
  tasks = [_task(t, spec_dir) for t in _nonempty_list(raw, 'tasks')]
  agents = _nonempty_list(raw, 'agents', default=['c_learning'])
  for agent in agents:
    if not (isinstance(agent, str) and _AGENT_NAME.match(agent)):
      raise SpecError(f'agents: {agent!r} is not an agent name (e.g. c_learning).')
  seeds = _nonempty_list(raw, 'seeds')
  for seed in seeds:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
      raise SpecError(f'seeds: {seed!r} is not a non-negative integer.')
  fixed = _bindings(raw.get('bindings', []), 'bindings')
  variants = _variants(raw.get('variants', {}))
  grid = _grid(raw.get('sweep', {}))
  layout = raw.get('layout', 'flat')
  if layout not in layout_lib.LAYOUTS:
    raise SpecError(f'layout: {layout!r} is unknown; allowed: {", ".join(layout_lib.LAYOUTS)}.')
  _check_keys(fixed, grid, tasks, variants)
  _unique('tasks', [t.name for t in tasks])
  _unique('agents', agents)
  _unique('seeds', seeds)
  return build(name, tasks, agents, seeds, fixed, variants, grid, layout)


def build(name, tasks, agents, seeds, bindings=(), variants=(), grid=(), layout='flat',
          derive=None):
  """The Sweep of tasks x variants x agents x grid values x seeds, in that order.

  A run's bindings are, in this order (a later one wins in gin): `bindings`, the task's,
  the variant's, its swept values, what `derive` adds, train_eval.agent_name and
  train_eval.random_seed. The parts are trusted: expand and the callers check them.

  Args:
    name: the sweep's name.
    tasks: Task objects.
    agents: agent names.
    seeds: non-negative ints.
    bindings: 'key=value' gin bindings of every run.
    variants: Variant objects; none is one variant without a name or bindings.
    grid: [(key, [gin value text, ...]), ...]: every combination of these values.
    layout: how runs are named and placed under the sweep's root (layout.run_name).
    derive: derive(task, variant, bindings) -> more bindings, computed from the run's others
      (e.g. a budget read from its config); called once a task, variant and grid point,
      before the sweep is returned, so that a bad config stops it before anything runs.
  """
  variants = list(variants) or [Variant()]
  keys = [key for key, _ in grid]
  short = _short_keys(keys)
  derived = {}
  made = []
  for task, variant, agent, values, seed in itertools.product(
      tasks, variants, agents, itertools.product(*[v for _, v in grid]), seeds):
    swept = tuple(zip(keys, values))
    shared = (tuple(bindings) + tuple(task.bindings) + tuple(variant.bindings)
              + tuple(f'{k}={v}' for k, v in swept))
    if derive is not None:
      if (task, variant, swept) not in derived:
        derived[task, variant, swept] = tuple(derive(task, variant, shared))
      shared += derived[task, variant, swept]
    run_bindings = shared + (f'train_eval.agent_name="{agent}"', f'train_eval.random_seed={seed}')
    detail = ([_safe(variant.name)] if variant.name else []) + [
        _safe(f'{short[k]}={_safe(v)}') for k, v in swept]
    made.append((Run('', task.name, agent, seed, tuple(task.gin_files), run_bindings, swept,
                     variant.name), detail))
  return Sweep(name, tuple(_named(made, layout)))


def shipped_tasks():
  """Task names that have a config in gin/ (base.gin is not a task)."""
  return sorted(f[:-4] for f in os.listdir(GIN_DIR)
                if f.endswith('.gin') and f != 'base.gin')


def gin_value(value, where):
  """Gin source text for a spec value: strings are gin as written, lists become tuples."""
  if isinstance(value, bool) or value is None:
    return str(value)
  if isinstance(value, (int, float)):
    return repr(value)
  if isinstance(value, (list, tuple)):
    items = [gin_value(v, where) for v in value]
    return '(' + ', '.join(items) + (',)' if len(items) == 1 else ')')
  if isinstance(value, str) and value.strip() and '\n' not in value:
    return value.strip()
  raise SpecError(f'{where}: {value!r} is not a gin value (a number, bool, null, list, '
                  'or a one-line gin expression such as \'"goal"\').')


def _nonempty_list(raw, key, default=None):
  value = raw.get(key, default)
  if value is None:
    raise SpecError(f'the spec needs {key}: a non-empty list.')
  if not isinstance(value, list) or not value:
    raise SpecError(f'{key}: must be a non-empty list, got {value!r}.')
  return value


def _task(entry, spec_dir):
  """The Task of a tasks: entry: a shipped task, a .gin path or a mapping."""
  if isinstance(entry, dict):
    unknown = sorted(set(entry) - set(TASK_KEYS))
    if unknown or 'name' not in entry:
      raise SpecError(f'tasks: {entry!r}: a task mapping has a name and optionally '
                      'gin_files and bindings.')
    name = entry['name']
    if not (isinstance(name, str) and _SAFE_NAME.match(name)):
      raise SpecError(f'tasks: name {name!r} must be letters, digits, ".", "_", "-".')
    files = entry.get('gin_files', [])
    if not isinstance(files, list):
      raise SpecError(f'tasks: {name}: gin_files must be a list.')
    return Task(name, tuple(_gin_path(f, spec_dir) for f in files),
                tuple(_bindings(entry.get('bindings', []), f'tasks: {name}: bindings')))
  if not isinstance(entry, str):
    raise SpecError(f'tasks: {entry!r} is neither a task name, a .gin path nor a mapping.')
  if entry.endswith('.gin'):
    path = _gin_path(entry, spec_dir)
    return Task(os.path.splitext(os.path.basename(path))[0], (path,))
  if entry in shipped_tasks():
    return Task(entry, (os.path.join('gin', entry + '.gin'),))
  raise SpecError(f'tasks: unknown task {entry!r}; allowed: {", ".join(shipped_tasks())} '
                  '(gin/<task>.gin), a path to a .gin file, or a mapping '
                  '{name, gin_files, bindings} (e.g. for point_mass).')


def _gin_path(path, spec_dir):
  """A gin file as found from the working directory, the spec's folder or gin/."""
  if not isinstance(path, str) or not path.endswith('.gin'):
    raise SpecError(f'gin file {path!r}: expected a path ending in .gin.')
  for candidate in (path, os.path.join(spec_dir, path), os.path.join(GIN_DIR, path)):
    if os.path.isfile(candidate):
      full = os.path.realpath(candidate)
      # Files under ROOT stay relative so that command lines read like the README's.
      inside = os.path.relpath(full, os.path.realpath(ROOT))
      return full if inside.startswith('..') else inside
  raise SpecError(f'gin file {path!r}: no such file (looked in the working directory, '
                  f'{spec_dir} and {GIN_DIR}).')


def _bindings(value, where):
  """['key=value', ...] from a list of binding strings or a mapping of key to value."""
  if isinstance(value, dict):
    items = [(k, gin_value(v, f'{where}: {k}')) for k, v in value.items()]
  elif isinstance(value, list):
    items = []
    for binding in value:
      if not isinstance(binding, str) or '=' not in binding or '\n' in binding:
        raise SpecError(f'{where}: {binding!r} is not a one-line gin binding "key=value".')
      key, text = (part.strip() for part in binding.split('=', 1))
      items.append((key, gin_value(text, f'{where}: {key}')))
  else:
    raise SpecError(f'{where}: expected a list of "key=value" or a mapping, got {value!r}.')
  for key, _ in items:
    _check_key(key, where)
  return [f'{k}={v}' for k, v in items]


def _variants(value):
  """[Variant, ...] from the variants: mapping of name to bindings (a list or a mapping)."""
  if not isinstance(value, dict):
    raise SpecError(f'variants: expected a mapping of variant name to its bindings, '
                    f'got {value!r}.')
  variants = []
  for name, bindings in value.items():
    # A tree layout's discovery reads seed_<n> folders as runs: a variant must not look like one.
    if not (isinstance(name, str) and _SAFE_NAME.match(name)) or name.startswith('seed_'):
      raise SpecError(f'variants: name {name!r} must be letters, digits, ".", "_", "-", '
                      'not starting with seed_.')
    variants.append(Variant(name, tuple(_bindings(bindings or [], f'variants: {name}'))))
  return variants


def _grid(value):
  """[(key, [gin value text, ...]), ...] from the sweep: mapping."""
  if not isinstance(value, dict):
    raise SpecError(f'sweep: expected a mapping of gin binding key to a list of values, '
                    f'got {value!r}.')
  grid = []
  for key, values in value.items():
    _check_key(key, 'sweep')
    if not isinstance(values, list) or not values:
      raise SpecError(f'sweep: {key}: expected a non-empty list of values, got {values!r}.')
    texts = [gin_value(v, f'sweep: {key}') for v in values]
    _unique(f'sweep: {key}', texts)
    grid.append((key, texts))
  return grid


def _check_key(key, where):
  if not isinstance(key, str) or not _BINDING_KEY.match(key):
    raise SpecError(f'{where}: {key!r} is not a gin parameter name such as '
                    'train_eval.batch_size.')


def _check_keys(fixed, grid, tasks, variants):
  """Seeds and agents have their own lists; a swept key is swept only."""
  def keys(bindings):
    return {b.split('=', 1)[0] for b in bindings}
  fixed_keys = keys(fixed)
  task_keys = set().union(*[keys(t.bindings) for t in tasks])
  variant_keys = set().union(*[keys(v.bindings) for v in variants])
  for key in fixed_keys | task_keys | variant_keys | {k for k, _ in grid}:
    if key in RESERVED:
      raise SpecError(f'{key} is set by the spec\'s {RESERVED[key]}: list; '
                      'remove it from bindings/variants/sweep.')
  for key, _ in grid:
    if key in fixed_keys | task_keys | variant_keys:
      kind = 'fixed' if key in fixed_keys | task_keys else 'variant'
      raise SpecError(f'sweep: {key} is also a {kind} binding; keep it in one place.')


def _unique(where, values):
  seen = set()
  for value in values:
    if value in seen:
      raise SpecError(f'{where}: {value!r} is listed twice.')
    seen.add(value)


def _short_keys(keys):
  """The parameter part of each swept key (goal_fn.relabel_next_prob -> relabel_next_prob)."""
  short = {k: re.split(r'[./]', k)[-1] for k in keys}
  counts = {}
  for value in short.values():
    counts[value] = counts.get(value, 0) + 1
  # Two swept keys with the same parameter name keep their full names.
  return {k: (s if counts[s] == 1 else k) for k, s in short.items()}


def _safe(text):
  return _UNSAFE.sub('_', text).strip('_') or 'empty'


def _named(made, layout):
  """The runs named by the layout, with a hash where a name collides or is too long."""
  def name(run, detail):
    return layout_lib.run_name(layout, _safe(run.task), _safe(run.agent), '-'.join(detail),
                               run.seed)
  counts = {}
  for run, detail in made:
    counts[name(run, detail)] = counts.get(name(run, detail), 0) + 1
  runs = []
  for run, detail in made:
    full = name(run, detail)
    # The flat layout's names are whole folder names; the tree's long part is its detail folder.
    long = len(full if layout == 'flat' else '-'.join(detail)) > _MAX_NAME
    if counts[full] > 1 or long:
      identity = (run.task, run.agent, run.swept, run.seed) + (
          (run.variant,) if run.variant else ())
      digest = hashlib.sha1(repr(identity).encode()).hexdigest()[:8]
      if layout == 'flat':
        full = f'{full[:_MAX_NAME - 9]}-{digest}'
      else:
        detail_text = '-'.join(detail)[:_MAX_NAME - 9]
        full = name(run, [detail_text, digest] if detail_text else [digest])
    runs.append(dataclasses.replace(run, name=full))
  return runs
