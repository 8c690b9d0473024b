"""The package's modules import each other without a cycle (function-level imports included)."""
import ast
import os

import c_learning

PACKAGE_DIR = os.path.dirname(os.path.abspath(c_learning.__file__))


def _module_names():
  """{module name: path} of every .py file of the package (a package by its __init__)."""
  modules = {}
  root = os.path.dirname(PACKAGE_DIR)
  for folder, _, files in os.walk(PACKAGE_DIR):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        module = os.path.relpath(path, root)[:-len('.py')].replace(os.sep, '.')
        modules[module[:-len('.__init__')] if module.endswith('.__init__') else module] = path
  return modules


def _ancestors(module):
  """The packages that Python loads before `module` (c_learning.agents.base: c_learning, c_learning.agents)."""
  parts = module.split('.')
  return ['.'.join(parts[:i]) for i in range(1, len(parts))]


def _targets(module, path, modules):
  """The package's modules that `module`'s import statements name, wherever they stand."""
  is_package = path.endswith('__init__.py')
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  targets = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      targets.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:  # relative: from the module's own package upwards
        package = module.split('.')[:len(module.split('.')) - (0 if is_package else 1)]
        base = '.'.join(package[:len(package) - node.level + 1] + ([base] if base else []))
      # `from a import b` imports a, and a.b too where b is a module.
      targets.update(f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules else base
                     for alias in node.names)
  return targets


def package_imports():
  """{module: the package's modules that loading it loads first}, from every import statement."""
  modules = _module_names()
  graph = {}
  for module, path in modules.items():
    edges = set()
    for target in _targets(module, path, modules):
      while target and target not in modules:  # an attribute or a name outside the package
        target = target.rpartition('.')[0]
      if not target or target == module:
        continue
      edges.add(target)
      # Loading a.b.c loads a and a.b first; the importer's own packages are
      # loaded already, so those edges are Python's, not a cycle.
      edges.update(p for p in _ancestors(target) if p not in _ancestors(module) and p != module)
    graph[module] = edges
  return graph


def _reachable(graph, start):
  """The modules that loading `start` loads, at any depth."""
  seen, stack = set(), [start]
  while stack:
    for target in graph.get(stack.pop(), ()):
      if target not in seen:
        seen.add(target)
        stack.append(target)
  return seen


def cycles(graph):
  """One shortest cycle ([m1, m2, ..., m1]) through each group of modules that import each other."""
  reach = {module: _reachable(graph, module) for module in graph}
  found, done = [], set()
  for start in sorted(graph):
    if start in done or start not in reach[start]:
      continue
    done.update(m for m in reach[start] if start in reach.get(m, ()))  # start's group
    # The shortest way back to start, breadth first.
    back = {start: None}  # module -> the module that imports it on the way
    frontier = [start]
    while back[start] is None:
      next_frontier = []
      for module in frontier:
        for target in sorted(graph.get(module, ())):
          if target == start and back[start] is None:
            back[start] = module
          elif target not in back:
            back[target] = module
            next_frontier.append(target)
      frontier = next_frontier
    cycle, module = [start], back[start]
    while module != start:
      cycle.insert(0, module)
      module = back[module]
    found.append([start] + cycle)
  return found


def test_the_package_imports_no_cycle():
  found = cycles(package_imports())
  assert not found, 'import cycles: ' + '; '.join(' -> '.join(cycle) for cycle in found)


def test_agents_and_envs_are_loaded_by_the_entry_points_not_by_config():
  graph = package_imports()
  assert graph['c_learning.registry'] >= {'c_learning.agents', 'c_learning.envs'}
  assert not graph['c_learning.config'] & {'c_learning.agents', 'c_learning.envs'}


def test_a_cycle_is_named_with_its_modules():
  graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a', 'd'}, 'd': set()}
  assert cycles(graph) == [['a', 'b', 'c', 'a']]
  assert cycles({'a': {'b'}, 'b': set()}) == []
