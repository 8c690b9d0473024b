"""Trains and evaluates a goal-conditioned agent: `python -m c_learning.train_eval --root_dir=DIR`."""
import os
import inspect
import sys
import time

from absl import app
from absl import flags
from absl import logging
import gin
import tensorflow as tf
from tf_agents.drivers import dynamic_episode_driver
from tf_agents.drivers import dynamic_step_driver
from tf_agents.metrics import tf_metrics
from tf_agents.policies import greedy_policy
from tf_agents.policies import random_tf_policy
from tf_agents.utils import common

from c_learning import agents
from c_learning import config
from c_learning import envs
from c_learning import metrics
from c_learning import overlap
from c_learning import policy_export
from c_learning import relabel
from c_learning import replay
from c_learning import seeding

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
    agent_name='c_learning',
    num_iterations=3_000_000,
    actor_fc_layers=(256, 256),
    critic_fc_layers=(256, 256),
    # Collection.
    initial_collect_steps=10_000,
    collect_steps_per_iteration=1,
    num_parallel_envs=1,
    replay_buffer_capacity=1_000_000,
    checkpoint_replay_buffer=True,
    max_future_steps=50,
    # Training.
    target_update_tau=0.005,
    target_update_period=1,
    train_steps_per_iteration=1,
    overlap_collection=True,
    iterations_per_call=8,
    xla_train_step=False,
    batch_size=256,
    actor_learning_rate=3e-4,
    critic_learning_rate=3e-4,
    gamma=0.99,
    gradient_clipping=None,
    use_tf_functions=True,
    # Evaluation and metrics.
    num_eval_episodes=30,
    eval_interval=10_000,
    success_threshold=0.05,
    log_subset=None,
    # Checkpoints, summaries and logging.
    train_checkpoint_interval=10_000,
    export_policy=True,
    log_interval=1_000,
    summary_interval=1_000,
    summaries_flush_secs=10,
    debug_summaries=False,
    summarize_grads_and_vars=False,
    random_seed=0,
):
  """Trains `agent_name` on `env_name`; intervals count iterations (train steps at 1:1).

  Iteration k takes collect_steps_per_iteration env steps with a snapshot of the
  actor after iteration k - 1, and train_steps_per_iteration train steps on
  batches sampled after iteration k - 1's env steps (so a batch never holds its
  own iteration's steps). One traced call runs up to iterations_per_call
  iterations (a loop in the graph, stopping at the end of every log, summary,
  eval and checkpoint interval). With overlap_collection an iteration's env
  steps and its train steps have no dependency on each other, so TensorFlow's
  executor runs them at the same time. Both change the speed only: a seed gives
  the same run whatever their values.

  With num_parallel_envs > 1 the train env steps that many tasks at once, each
  in a process of its own (started with spawn; the gin config reaches them), and
  collect_steps_per_iteration counts the steps of all of them. xla_train_step
  compiles the agent's train step with XLA; its loss summaries are then written
  from the step's outputs instead of inside it.

  With export_policy, each checkpoint also saves the greedy eval policy as a
  SavedModel in root_dir/policy (tf.saved_model.load; python -m c_learning.evaluate).

  Returns:
    The last evaluation's metrics as a dict of name -> float.
  """
  seeding.seed_everything(random_seed)
  root_dir = os.path.expanduser(root_dir)
  train_dir = os.path.join(root_dir, 'train')
  eval_dir = os.path.join(root_dir, 'eval')
  train_writer = tf.summary.create_file_writer(
      train_dir, flush_millis=summaries_flush_secs * 1000)
  eval_writer = tf.summary.create_file_writer(
      eval_dir, flush_millis=summaries_flush_secs * 1000)
  global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')

  # Everything a user's setting can break is built here, before any work is done.
  with config.required_bindings_as_config_errors():
    _check_parallel_envs(num_parallel_envs, collect_steps_per_iteration)
    _check_iterations_per_call(iterations_per_call)
    goal_slice = relabel.obs_to_goal()
    train_env, eval_env, obs_dim = envs.load(env_name, goal_slice=goal_slice,
                                             seed=random_seed,
                                             num_train_envs=num_parallel_envs)
    relabeler = relabel.goal_fn(goal_slice, obs_dim)
    agent = agents.create(
        agent_name, train_env.time_step_spec(), train_env.action_spec(),
        relabeler=relabeler, actor_fc_layers=actor_fc_layers,
        critic_fc_layers=critic_fc_layers,
        actor_learning_rate=actor_learning_rate,
        critic_learning_rate=critic_learning_rate, gamma=gamma,
        target_update_tau=target_update_tau,
        target_update_period=target_update_period,
        gradient_clipping=gradient_clipping, debug_summaries=debug_summaries,
        summarize_grads_and_vars=summarize_grads_and_vars,
        train_step_counter=global_step)
    agent.initialize()

    replay_buffer = replay.GoalReplayBuffer(
        train_env.observation_spec(), train_env.action_spec(),
        batch_size=train_env.batch_size,
        max_length=max(1, replay_buffer_capacity // train_env.batch_size),
        gamma=gamma, max_future_steps=max_future_steps, seed=random_seed)

    def distance_metrics(batch_size, buffer_size, prefix):
      return metrics.GoalDistanceMetrics(
          obs_dim, goal_slice, batch_size=batch_size, buffer_size=buffer_size,
          success_threshold=success_threshold, log_subset=log_subset,
          prefix=prefix)

    env_steps = tf_metrics.EnvironmentSteps()
    train_metrics = [
        tf_metrics.NumberOfEpisodes(), env_steps,
        tf_metrics.AverageEpisodeLengthMetric(batch_size=train_env.batch_size),
        distance_metrics(train_env.batch_size, max(1, num_eval_episodes), 'Metrics'),
    ]
    eval_distance = distance_metrics(eval_env.batch_size, max(1, num_eval_episodes),
                                     'Metrics')

  checkpoint_parts = dict(agent=agent, global_step=global_step,
                          metrics=train_metrics)
  if checkpoint_replay_buffer:
    checkpoint_parts['replay_buffer'] = replay_buffer
  # One checkpoint holds everything, so a run killed between saves never
  # resumes with an agent and a buffer from different steps.
  checkpointer = common.Checkpointer(ckpt_dir=os.path.join(train_dir, 'checkpoints'),
                                     max_to_keep=1, **checkpoint_parts)
  checkpointer.initialize_or_restore()
  resumed_at = int(global_step.numpy())

  def collect_driver(policy, num_steps):
    return dynamic_step_driver.DynamicStepDriver(
        train_env, policy, observers=train_metrics,
        transition_observers=[replay_buffer.add_transition], num_steps=num_steps)

  initial_policy = random_tf_policy.RandomTFPolicy(train_env.time_step_spec(),
                                                   train_env.action_spec())
  if resumed_at > 0 and not checkpoint_replay_buffer:
    # Nothing random to redo: refill the empty buffer with the trained policy.
    initial_policy = agent.collect_policy
  initial_driver = collect_driver(initial_policy, initial_collect_steps)
  eval_policy = greedy_policy.GreedyPolicy(agent.policy)
  eval_driver = dynamic_episode_driver.DynamicEpisodeDriver(
      eval_env, eval_policy, observers=[eval_distance], num_episodes=num_eval_episodes)
  exporter = (policy_export.PolicyExporter(root_dir, eval_policy, global_step)
              if export_policy else None)

  def save_checkpoint():
    checkpointer.save(global_step=global_step.numpy())
    if exporter:
      exporter.export()

  # Iteration k collects with snapshots[k % 2] and trains on stages[k % 2];
  # meanwhile it fills the other snapshot and stage for iteration k + 1. The two
  # halves never touch the same variables, so with overlap_collection they run
  # at once; without it, one after the other, with the same result.
  snapshots = [overlap.PolicySnapshot(agent.actor_network, train_env.time_step_spec(),
                                      train_env.action_spec()) for _ in range(2)]
  batch_spec = tf.nest.map_structure(
      lambda spec: tf.TensorSpec([batch_size] + spec.shape.as_list(), spec.dtype),
      agent.training_data_spec)
  zero_batch = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), batch_spec)
  stages = [overlap.VariableNest([zero_batch] * train_steps_per_iteration) for _ in range(2)]
  collect_drivers = [collect_driver(snapshot.policy, collect_steps_per_iteration)
                     for snapshot in snapshots]

  def sample_into(stage):
    stage.put([relabeler(replay_buffer.sample(batch_size))
                for _ in range(train_steps_per_iteration)])

  def prepare(parity):
    """Readies iteration `parity`'s snapshot and batches (at the start, or after a restore)."""
    seeding.seed_traced_part(random_seed, 'prepare')
    snapshots[parity].refresh()
    sample_into(stages[parity])

  train_step = agent.train
  if xla_train_step:
    # Summary ops cannot be compiled: the step is traced with summaries off, and
    # the traced iteration around it checks and writes its losses instead.
    def train_without_summaries(batch):
      with tf.summary.record_if(False):
        return agent.train(batch)
    compiled_train_step = tf.function(train_without_summaries, jit_compile=True)

    def train_step(batch):
      loss_info = compiled_train_step(batch)
      _check_and_summarize_losses(loss_info, global_step - 1, summary_interval)
      return loss_info

  def run_iteration(parity):
    """One iteration: the env steps, then sampling the next batches, beside the train steps."""
    time_step, policy_state = carry.get()
    seeding.seed_traced_part(random_seed, 'collect', parity)
    time_step, policy_state = collect_drivers[parity].run(
        time_step=time_step, policy_state=policy_state)
    seeding.seed_traced_part(random_seed, 'sample', parity)
    sample_into(stages[1 - parity])
    collected = tf.nest.flatten((time_step, policy_state))
    # No dependency between the halves (they share no variables) lets the
    # executor run the train steps while the env steps run.
    with tf.control_dependencies([] if overlap_collection else collected):
      seeding.seed_traced_part(random_seed, 'train', parity)
      for batch in stages[parity].get():
        loss_info = train_step(batch)
      snapshots[1 - parity].refresh()
    carry.put((time_step, policy_state))
    return loss_info

  last_loss_info = overlap.VariableNest()

  def run_iterations(first_parity, count):
    """`count` iterations in a row, from parity `first_parity`; the last one's loss info."""
    def body(i):
      def iteration(parity):
        # Summary tags take the name scope: the root keeps the agents' tags
        # (Losses/...) free of the loop's while/cond/ prefix.
        with tf.compat.v1.get_default_graph().name_scope(None):
          last_loss_info.put(run_iteration(parity))
        return i + 1
      # One traced loop for every count: its random ops, and so their draws,
      # are the same however the iterations are split into calls.
      return (tf.cond(tf.equal((first_parity + i) % 2, 0), lambda: iteration(0),
                      lambda: iteration(1)),)
    tf.while_loop(lambda i: i < count, body, (tf.constant(0),), parallel_iterations=1)
    return last_loss_info.get()

  maybe_traced = common.function if use_tf_functions else lambda f: f
  run_initial, run_eval = (
      maybe_traced(seeding.seeded(driver.run, random_seed, name))
      for driver, name in ((initial_driver, 'initial'), (eval_driver, 'eval')))
  run_prepare = maybe_traced(prepare)
  run_calls = maybe_traced(run_iterations)

  def evaluate():
    eval_distance.reset()
    run_eval()
    results = eval_distance.result_dict()
    with eval_writer.as_default():
      eval_distance.tf_summaries(train_step=global_step)
      eval_writer.flush()
    logging.info('eval at iteration %d: %s', _iteration(global_step, train_steps_per_iteration),
                 ', '.join(f'{k}={v:.4f}' for k, v in results.items()))
    return results

  record_train_summaries = lambda: tf.math.equal(global_step % summary_interval, 0)
  with train_writer.as_default():
    if replay_buffer.num_frames() == 0:
      logging.info('Collecting %d initial steps with %s.', initial_collect_steps,
                   type(initial_policy).__name__)
      run_initial()
    else:
      logging.info('Resumed at train step %d with %d transitions in the replay buffer.',
                   resumed_at, int(replay_buffer.num_frames()))
    last_eval = evaluate() if num_eval_episodes > 0 else {}
    config.write_operative_config(root_dir)

    # run_iteration's carry: the first iteration starts from the env as it is now.
    carry = overlap.VariableNest((train_env.current_time_step(),
                                  snapshots[0].policy.get_initial_state(train_env.batch_size)))
    iteration = _iteration(global_step, train_steps_per_iteration)
    run_prepare(iteration % 2)
    progress = ProgressLog(num_iterations, iteration)
    loss_info = None
    intervals = [summary_interval, log_interval, train_checkpoint_interval]
    if num_eval_episodes > 0:
      intervals.append(eval_interval)
    while iteration < num_iterations:
      count = _iterations_in_next_call(iteration, iterations_per_call, num_iterations,
                                       intervals)
      # The agent's loss summaries are written inside the traced train step.
      with tf.summary.record_if(record_train_summaries):
        loss_info = run_calls(tf.constant(iteration % 2), tf.constant(count))
      iteration += count
      if iteration % summary_interval == 0:
        for metric in train_metrics:
          metric.tf_summaries(train_step=global_step, step_metrics=train_metrics[:2])
      if iteration % eval_interval == 0 and num_eval_episodes > 0:
        last_eval = evaluate()
      if iteration % log_interval == 0:
        rate = progress.log(iteration, int(env_steps.result()), loss_info, last_eval)
        tf.summary.scalar('global_steps_per_sec', rate, step=global_step)
        tf.summary.scalar('Metrics/PhysicsBlowups', envs.physics_blowups(train_env),
                          step=global_step)
      if iteration % train_checkpoint_interval == 0:
        save_checkpoint()
    if int(global_step.numpy()) > resumed_at:
      if iteration % train_checkpoint_interval:
        save_checkpoint()
      if num_eval_episodes > 0 and iteration % eval_interval:
        last_eval = evaluate()
    elif exporter and resumed_at > 0 and not exporter.exists():
      exporter.export()  # a finished run from before export_policy, started again
  config.write_operative_config(root_dir)
  train_writer.flush()
  eval_writer.flush()
  train_env.close()  # stops the processes of parallel envs
  return last_eval


def _check_parallel_envs(num_parallel_envs, collect_steps_per_iteration):
  """Fails with one line on a number of parallel envs that cannot run."""
  if not (isinstance(num_parallel_envs, int) and num_parallel_envs >= 1):
    raise config.ConfigError(f'train_eval.num_parallel_envs={num_parallel_envs!r}: must be an int >= 1.')
  if collect_steps_per_iteration % num_parallel_envs:
    raise config.ConfigError(
        f'train_eval.collect_steps_per_iteration={collect_steps_per_iteration} must be a '
        f'multiple of train_eval.num_parallel_envs={num_parallel_envs} (every env steps '
        'once a driver step).')


def _check_iterations_per_call(iterations_per_call):
  """Fails with one line on a number of iterations a call that cannot run."""
  if not (isinstance(iterations_per_call, int) and iterations_per_call >= 1):
    raise config.ConfigError(
        f'train_eval.iterations_per_call={iterations_per_call!r}: must be an int >= 1.')


def _iterations_in_next_call(iteration, iterations_per_call, num_iterations, intervals):
  """iterations_per_call, or fewer where the run or one of `intervals` ends sooner."""
  next_stop = min([num_iterations] + [(iteration // i + 1) * i for i in intervals])
  return min(iterations_per_call, next_stop - iteration)


def _check_and_summarize_losses(loss_info, train_step, summary_interval):
  """What an XLA-compiled step cannot do itself: fail on a non-finite loss, write Losses/<name>."""
  for name, value in loss_info.extra._asdict().items():
    # XLA drops the agents' check_numerics; the traced call around the step keeps it.
    value = tf.debugging.check_numerics(value, f'{name} is inf or nan (XLA train step).')
    # Same tags and steps as the agents' summaries (the step's counter before its increment).
    with tf.summary.record_if(tf.equal(train_step % summary_interval, 0)):
      tf.summary.scalar(f'Losses/{name}', value, step=train_step)


def configured_arguments():
  """train_eval's arguments as the parsed gin config sets them: its defaults, then its bindings."""
  defaults = {name: parameter.default
              for name, parameter in inspect.signature(train_eval).parameters.items()}
  return {**defaults, **gin.get_bindings('train_eval')}


def _iteration(global_step, train_steps_per_iteration):
  return int(global_step.numpy()) // train_steps_per_iteration


class ProgressLog:
  """One line at log_interval: iteration, env steps/s, ETA, losses and the latest eval."""

  def __init__(self, num_iterations, start_iteration):
    self._num_iterations = num_iterations
    self._last_iteration = start_iteration
    self._last_time = time.time()

  def log(self, iteration, env_steps, loss_info, last_eval):
    now = time.time()
    rate = (iteration - self._last_iteration) / max(now - self._last_time, 1e-9)
    self._last_iteration, self._last_time = iteration, now
    eta = (self._num_iterations - iteration) / max(rate, 1e-9)
    losses = ''
    if loss_info is not None:
      losses = ' '.join(f'{name}={float(value):.4f}'
                        for name, value in loss_info.extra._asdict().items())
    evaluation = ''
    if last_eval:
      evaluation = (f'eval FinalDistance={last_eval["FinalDistance"]:.4f} '
                    f'SuccessRate={last_eval["SuccessRate"]:.2f}')
    logging.info('iteration %d/%d  env_steps %d  %.1f steps/s  ETA %s  %s  %s',
                 iteration, self._num_iterations, env_steps, rate,
                 time.strftime('%H:%M:%S', time.gmtime(eta)) if eta < 86400
                 else f'{eta / 86400:.1f} days', losses, evaluation)
    return rate


def main(_):
  logging.set_verbosity(logging.INFO)
  try:
    config.parse(FLAGS.gin_file, FLAGS.gin_bindings)
    train_eval(FLAGS.root_dir)
  except config.ConfigError as error:
    sys.exit(f'c_learning.train_eval: error: {config.first_line(error)}')


def run():
  """Console-script entry point."""
  _define_flags()
  app.run(main)


if __name__ == '__main__':
  run()
