"""Where a sweep's runs live: each run's directory under the sweep's root; finding them."""
import dataclasses
import os
import re

LAYOUTS = ('flat', 'tree')
_SEED_DIR = re.compile(r'^seed_(\d+)$')


def run_name(layout, task, agent, detail, seed):
  """A run's directory under the sweep's root, '/'-separated; detail: its variant and swept values.

  flat: <task>-<agent>[-<detail>]-seed=<n>, one folder a run (launch/sweep.py's default);
  tree: <task>/<agent>[/<detail>]/seed_<n> (benchmarks/learning.py's, and tree_runs').
  """
  if layout == 'flat':
    return '-'.join([task, agent] + ([detail] if detail else []) + [f'seed={seed}'])
  if layout == 'tree':
    return '/'.join([task, agent] + ([detail] if detail else []) + [f'seed_{seed}'])
  raise ValueError(f'layout={layout!r} is unknown; allowed: {", ".join(LAYOUTS)}.')


@dataclasses.dataclass(frozen=True)
class TreeRun:
  """A run directory found in a tree layout."""
  task: str
  agent: str
  variant: str  # the detail folder ('' where there is none)
  seed: int
  path: str


def tree_runs(root):
  """Every root/<task>/<agent>[/<detail>]/seed_<n> directory, sorted."""
  runs = []
  for parent, dirs, _ in os.walk(root):
    for name in list(dirs):
      match = _SEED_DIR.match(name)
      if not match:
        continue
      dirs.remove(name)  # nothing to find inside a run
      parts = os.path.relpath(parent, root).split(os.sep)
      # Deeper seed_<n> folders belong to some other layout (e.g. a runs tree inside).
      if len(parts) in (2, 3) and parts[0] != '.':
        runs.append(TreeRun(parts[0], parts[1], ''.join(parts[2:]), int(match[1]),
                            os.path.join(parent, name)))
  return sorted(runs, key=lambda r: (r.task, r.agent, r.variant, r.seed))
