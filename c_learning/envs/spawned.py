"""Several environments stepped at once, each in its own process started with `spawn`."""
import multiprocessing
import signal
import traceback

import gin
from tf_agents.environments import py_environment
from tf_agents.utils import nest_utils


def _serve(connection, make_env, make_args, gin_config):
  """A worker's loop: builds its env under the parent's gin config, then answers commands."""
  # Ctrl-C reaches the whole process group: the parent stops on it after its current
  # call, which needs its workers to answer. A worker ends when the parent closes its
  # pipe or dies. (SIGTERM stays as it is: multiprocessing ends daemon workers with it.)
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  try:
    # The parent checked every binding; a worker only needs the ones its env reads,
    # and skips the rest (they name configurables it never imports).
    gin.parse_config(gin_config, skip_unknown=True)
    env = make_env(*make_args)
    connection.send(('ready', (env.time_step_spec(), env.action_spec())))
    while True:
      command, payload = connection.recv()
      if command == 'step':
        reply = env.step(payload)
      elif command == 'reset':
        reply = env.reset()
      elif command == 'physics_blowups':
        reply = getattr(env, 'physics_blowups', 0)
      elif command == 'close':
        env.close()
        connection.send(('ok', None))
        return
      else:
        raise ValueError(f'unknown command {command!r}')
      connection.send(('ok', reply))
  except (EOFError, KeyboardInterrupt, BrokenPipeError):
    return  # the parent closed its end or was interrupted: nothing left to serve
  except Exception:  # pylint: disable=broad-except
    connection.send(('error', traceback.format_exc()))


class SpawnedEnvironments(py_environment.PyEnvironment):
  """A batched PyEnvironment over `len(make_args)` workers that step in parallel.

  Workers are started with the `spawn` method, so they never inherit the
  parent's TensorFlow threads or locks (fork after TF has started can
  deadlock), and the gin config in force when this is built is replayed in
  each worker, so bindings such as `SawyerPush.reset.fix_z` reach its env.
  Each worker's env resets itself after a LAST step, as a PyEnvironment does.
  """

  def __init__(self, make_env, make_args):
    """Starts one worker per entry of make_args, calling make_env(*args) there.

    make_env must be a module-level function (spawn pickles it by name).
    """
    super().__init__(handle_auto_reset=True)  # each worker's env auto-resets
    context = multiprocessing.get_context('spawn')
    gin_config = gin.config_str()
    self._connections, self._processes = [], []
    try:
      for args in make_args:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_serve, daemon=True,
                                  args=(child_end, make_env, tuple(args), gin_config))
        process.start()
        child_end.close()
        self._connections.append(parent_end)
        self._processes.append(process)
      specs = [self._receive(connection) for connection in self._connections]
    except BaseException:
      self.close()
      raise
    self._time_step_spec, self._action_spec = specs[0]

  def _receive(self, connection):
    try:
      status, payload = connection.recv()
    except EOFError:
      raise RuntimeError('A parallel train env process died; see its log above.') from None
    if status == 'error':
      raise RuntimeError(f'A parallel train env process failed:\n{payload}')
    return payload

  def _ask_all(self, command, payloads):
    for connection, payload in zip(self._connections, payloads):
      connection.send((command, payload))
    return [self._receive(connection) for connection in self._connections]

  @property
  def batched(self):
    return True

  @property
  def batch_size(self):
    return len(self._connections)

  def observation_spec(self):
    return self._time_step_spec.observation

  def action_spec(self):
    return self._action_spec

  def time_step_spec(self):
    return self._time_step_spec

  def _reset(self):
    return nest_utils.stack_nested_arrays(self._ask_all('reset', [None] * self.batch_size))

  def _step(self, action):
    return nest_utils.stack_nested_arrays(self._ask_all('step', list(action)))

  def physics_blowups(self):
    """Episodes ended by a physics blow-up so far, summed over the workers."""
    return sum(self._ask_all('physics_blowups', [None] * self.batch_size))

  def close(self):
    for connection in self._connections:
      try:
        connection.send(('close', None))
        connection.recv()
      except (EOFError, OSError):
        pass  # this worker has already exited
      connection.close()
    for process in self._processes:
      process.join(timeout=5)
      if process.is_alive():
        process.terminate()
    self._connections, self._processes = [], []


