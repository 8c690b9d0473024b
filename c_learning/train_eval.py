"""Trains and evaluates a goal-conditioned agent: `python -m c_learning.train_eval --root_dir=DIR`."""
import inspect
import sys

from absl import app
from absl import flags
from absl import logging
import gin

from c_learning import config
from c_learning import registry
from c_learning import runner
from c_learning import stopping

FLAGS = flags.FLAGS


def _define_flags():
  # Defined by the entry point, not at import, so that other entry points
  # (c_learning.evaluate) can import this module and define flags of the same names.
  flags.DEFINE_string('root_dir', None,
                      'Directory for checkpoints, summaries and operative.gin.')
  flags.DEFINE_multi_string('gin_file', None, 'Gin config files, parsed in order.')
  flags.DEFINE_multi_string('gin_bindings', None, 'Gin bindings, applied after the files.')
  flags.mark_flag_as_required('root_dir')


@gin.configurable(denylist=config.denylist('train_eval'))
def train_eval(
    root_dir,
    env_name='sawyer_reach',
    observations='state',
    agent_name='c_learning',
    num_iterations=3_000_000,
    # Collection.
    initial_collect_steps=10_000,
    collect_steps_per_iteration=1,
    num_parallel_envs=1,
    replay_buffer_capacity=1_000_000,
    checkpoint_replay_buffer=None,
    max_future_steps=50,
    future_offsets='geometric',
    dataset=None,
    # Training (the agent's own settings are bindings on its class, e.g. CLearningAgent.*).
    train_steps_per_iteration=1,
    loop='overlapped',
    overlap_collection=None,
    iterations_per_call=8,
    xla_train_step=False,
    compute_dtype='float32',
    batch_size=256,
    gamma=0.99,
    use_tf_functions=True,
    # Evaluation and metrics.
    num_eval_episodes=30,
    eval_interval=10_000,
    success_threshold=0.05,
    log_subset=None,
    # Checkpoints, summaries and logging.
    train_checkpoint_interval=10_000,
    checkpoints_to_keep=2,
    export_policy=True,
    log_interval=1_000,
    summary_interval=1_000,
    summaries_flush_secs=10,
    debug_summaries=False,
    summarize_grads_and_vars=False,
    random_seed=0,
):
  """Trains `agent_name` on `env_name`; intervals count iterations (train steps at 1:1).

  env_name is one of c_learning.envs.ENV_NAMES or 'gym:<id>', any registered
  gymnasium goal environment (e.g. 'gym:FetchReach-v4'). success_threshold=None
  takes the task's own (its TaskSpec: for a gymnasium task, its distance_threshold).
  observations='pixels' trains from camera frames and a goal frame instead of
  the state (tasks that can render them; frame size and stacking are
  pixel_observations.*, the networks' encoder pixel_encoder.*); the true state
  still gives the metrics and the relabeled rewards.

  An iteration is collect_steps_per_iteration env steps and
  train_steps_per_iteration train steps; `loop` says how (c_learning.loops).
  'overlapped' (the default): iteration k collects with a snapshot of the actor
  after iteration k - 1 and trains on batches sampled after iteration k - 1's
  env steps (so a batch never holds its own iteration's steps); with
  overlap_collection (None, its default, means True; other loops refuse a value)
  its env steps and train steps have no dependency on each other, so
  TensorFlow's executor runs them at the same time. It needs an agent that
  collects with a snapshot of its actor (COLLECTS_WITH_ACTOR_SNAPSHOT). 'plain':
  collect with agent.collect_policy, then train on batches that include those
  steps; any agent runs in it. One traced call runs up to iterations_per_call
  iterations (a loop in the graph, stopping at the end of every log, summary,
  eval and checkpoint interval).
  overlap_collection and iterations_per_call change the speed only: a seed
  gives the same run whatever their values.

  Future goals are s_{t+k} of the same episode, with k ~ Geometric(1 - gamma)
  (future_offsets='geometric', C-learning's; past the episode's end, its last
  state), the same geometric renormalised over the rest of the episode
  ('truncated_geometric', contrastive RL's) or uniform on the rest of the
  episode ('uniform': HER's 'future' strategy and GCSL's), at most
  max_future_steps in every case.

  Offline (gin/setups/offline.gin): `dataset` names a Minari dataset (an id
  under $MINARI_DATASETS_PATH or ~/.minari/datasets, or a dataset directory;
  python -m c_learning.collect writes them) whose episodes fill the replay at
  start; the run takes no env steps (loop 'offline', initial_collect_steps and
  collect_steps_per_iteration 0) and only evaluates in the env.

  With num_parallel_envs > 1 the train env steps that many tasks at once, each
  in a process of its own (started with spawn; the gin config reaches them), and
  collect_steps_per_iteration counts the steps of all of them. xla_train_step
  compiles the agent's train step with XLA; its loss summaries are then written
  from the step's outputs instead of inside it. compute_dtype='bfloat16'
  (gin/setups/bfloat16.gin) trains in mixed bfloat16: the networks' layers
  multiply in bfloat16, variables, losses and outputs stay float32
  (c_learning.precision); it pays only on CPUs with AVX512-BF16 or AMX.

  Checkpoints (train/checkpoints) hold the agent, the replay buffer (with
  checkpoint_replay_buffer, whose default None means True online; an offline run
  reads its dataset again at every start and refuses a value) and the counters;
  the last checkpoints_to_keep are kept, and a start resumes from the newest one
  that reads whole (a damaged one is moved to train/checkpoints/damaged with a
  warning). One process at a time may run in root_dir.

  SIGTERM or SIGINT (a VM's preemption, Ctrl-C) stops the run once the traced
  call that is running ends: it saves a checkpoint (replay included) and the
  policy, writes a `preempted` record and raises c_learning.stopping.Stopped;
  the command line then exits with status 75 (stopping.EXIT_STATUS), and the
  same command resumes. A loss or weight that is inf or nan stops the run with
  c_learning.divergence.Diverged before anything non-finite is saved.

  With export_policy, each checkpoint also saves the greedy eval policy as a
  SavedModel in root_dir/policy (tf.saved_model.load; python -m c_learning.evaluate).

  Returns:
    The last evaluation's metrics as a dict of name -> float.
  """
  settings = dict(locals())  # every argument but root_dir is a setting of the run
  del settings['root_dir']
  return runner.Runner(root_dir, settings).run()


def configured_arguments():
  """train_eval's arguments as the parsed gin config sets them: its defaults, then its bindings."""
  defaults = {name: parameter.default
              for name, parameter in inspect.signature(train_eval).parameters.items()}
  return {**defaults, **gin.get_bindings('train_eval')}


def main(_):
  logging.set_verbosity(logging.INFO)
  try:
    registry.register_configurables()
    config.parse(FLAGS.gin_file, FLAGS.gin_bindings)
    train_eval(FLAGS.root_dir)
  except stopping.Stopped as stopped:
    print(f'c_learning.train_eval: {config.first_line(stopped)}', file=sys.stderr)
    sys.exit(stopping.EXIT_STATUS)
  except (config.ConfigError, config.RunError) as error:
    sys.exit(f'c_learning.train_eval: error: {config.first_line(error)}')


def run():
  """Console-script entry point."""
  _define_flags()
  app.run(main)


if __name__ == '__main__':
  run()
