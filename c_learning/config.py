"""Strict gin parsing for the entry points, and the operative config they leave behind."""
import contextlib
import os

import gin

# A checkout's root, which holds the shipped configs in gin/ beside the package.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_GIN_DIR = os.path.join(REPO_ROOT, 'gin')


class ConfigError(ValueError):
  """A gin file or binding names nothing, or does not parse."""


@contextlib.contextmanager
def setup_errors_as_config_errors():
  """Turns a ValueError or a missing gin.REQUIRED binding during set-up into a one-line ConfigError."""
  try:
    yield
  except ConfigError:
    raise
  except (ValueError, RuntimeError) as error:
    # gin appends "In call to configurable ..." lines; the first line names the culprit.
    raise ConfigError(first_line(error)) from error


def first_line(error):
  return str(error).strip().splitlines()[0]


def register_configurables():
  """Imports the library modules that define configurables, so bindings to them resolve.

  Entry points (train_eval) are left out: they are already loaded, possibly as
  __main__, and a second import would register their flags and configurables twice.
  """
  # pylint: disable=g-import-not-at-top,unused-import
  from c_learning import agents
  from c_learning import envs
  from c_learning import metrics
  from c_learning import relabel
  from c_learning.agents import c_learning_agent
  from c_learning.agents import factory
  from c_learning.agents import sac_her_agent


def parse(gin_files=None, gin_bindings=None):
  """Parses files then bindings; any unknown name or syntax error raises a one-line ConfigError."""
  register_configurables()
  gin_files = list(gin_files or [])
  # Task files `include 'gin/base.gin'`: this finds it whatever the working
  # directory is. (A bare 'base.gin' would work too, but gin logs a spurious
  # ERROR for every include path without a folder part.)
  config_dirs = [os.path.dirname(os.path.abspath(f)) for f in gin_files]
  for search_dir in [REPO_ROOT] + [os.path.dirname(d) for d in config_dirs]:
    gin.add_config_file_search_path(search_dir)
  for path in gin_files:
    if not os.path.exists(path) and not os.path.exists(os.path.join(SHIPPED_GIN_DIR, path)):
      raise ConfigError(f'--gin_file={path}: no such file (shipped configs: '
                        f'{", ".join(sorted(shipped_gin_files()))}).')
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings or [],
                                        skip_unknown=False)
  except Exception as error:  # gin raises ValueError, KeyError, SyntaxError, TokenError...
    message = ' '.join(str(error).split())
    raise ConfigError(f'gin config rejected: {message}') from error


def shipped_gin_files():
  """Names of the task configs in gin/ (base.gin excluded)."""
  if not os.path.isdir(SHIPPED_GIN_DIR):
    return []
  return [f for f in os.listdir(SHIPPED_GIN_DIR) if f.endswith('.gin') and f != 'base.gin']


def write_operative_config(root_dir):
  """Writes every parameter that the run used (defaults included) to root_dir/operative.gin."""
  os.makedirs(root_dir, exist_ok=True)
  path = os.path.join(root_dir, 'operative.gin')
  with open(path + '.tmp', 'w') as f:
    f.write(gin.operative_config_str())
  os.replace(path + '.tmp', path)
  return path
