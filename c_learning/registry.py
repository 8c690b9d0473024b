"""What an entry point calls before config.parse: it loads every module that defines a configurable.

Gin resolves a binding only to a configurable whose module is loaded. Library
modules never import this one (config.py, which nearly every module imports,
least of all), so loading agents and envs here closes no import cycle;
tests/test_import_graph.py checks the package's imports.
"""


def register_configurables():
  """Imports the library modules that define configurables, so bindings to them resolve.

  Entry points (train_eval) are left out: they are already loaded, possibly as
  __main__, and a second import would register their flags and configurables twice.
  """
  # pylint: disable=g-import-not-at-top,unused-import
  from c_learning import agents  # every agent class, and the networks and encoders they build
  from c_learning import envs
  from c_learning import metrics
  from c_learning import networks
  from c_learning import relabel
