"""Loads a script from benchmarks/ as a module, for the tests of that script."""
import importlib.util
import os

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'benchmarks')


def load(name):
  """benchmarks/<name>.py as a module named <name>_benchmark."""
  spec = importlib.util.spec_from_file_location(f'{name}_benchmark',
                                                os.path.join(BENCHMARKS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
