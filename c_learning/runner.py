"""One run in root_dir, as a class whose methods read top to bottom (as Dopamine's Runner does).

train_eval (the gin configurable `train_eval.*`) hands its settings to
Runner(root_dir, settings).run(): build, restore, initial collection, then
iterations (a loop strategy of c_learning.loops) with summaries, evaluations,
progress lines and checkpoints at their intervals, then the final save.

A SIGTERM or SIGINT stops the run after the traced call that is running, with
a checkpoint and the policy saved (c_learning.stopping); a non-finite loss or
weight stops it before anything non-finite is saved (c_learning.divergence).
"""
import dataclasses
import os
import time
import types

from absl import logging
import tensorflow as tf
from tf_agents.drivers import dynamic_episode_driver
from tf_agents.metrics import tf_metrics
from tf_agents.policies import random_tf_policy

from c_learning import agents
from c_learning import build
from c_learning import checkpoints
from c_learning import config
from c_learning import datasets
from c_learning import divergence
from c_learning import envs
from c_learning import frames
from c_learning import loops
from c_learning import policy_export
from c_learning import precision
from c_learning import records
from c_learning import relabel
from c_learning import replay
from c_learning import run_lock
from c_learning import seeding
from c_learning import stopping


class Runner:
  """Trains and evaluates one agent on one task; every setting is one of train_eval's arguments."""

  def __init__(self, root_dir, settings):
    self._root_dir = os.path.expanduser(root_dir)
    self._settings = types.SimpleNamespace(**settings)
    self._last_eval = {}
    self._stop = None  # the StopOnSignal in force while run() runs
    self._unsaved = False  # whether anything was collected or trained since the last save
    self._all_weights_finite = None  # a traced check, made at its first use

  def run(self):
    """The whole run; returns the last evaluation's metrics as a dict of name -> float."""
    settings = self._settings
    # Before anything is written: a second process on the folder stops here.
    precision.check(settings.compute_dtype)
    with run_lock.hold(self._root_dir), stopping.StopOnSignal() as self._stop, \
        precision.computing_in(settings.compute_dtype):
      seeding.seed_everything(settings.random_seed)
      self._build()
      self._restore()
      with self._train_writer.as_default():
        if not self._stop.requested:
          self._collect_initial_steps()
        if settings.num_eval_episodes > 0 and not self._stop.requested:
          self._evaluate()
        config.write_operative_config(self._root_dir)
        if not self._stop.requested:
          self._loop.prepare(self._iteration())
          self._iterate()
        if self._stop.requested:
          stopped = self._save_on_stop()
        else:
          self._finish()
      self._close()
    if self._stop.requested:
      raise stopping.Stopped(stopped)
    return self._last_eval

  # Build: everything a user's setting can break, before any work is done.

  def _build(self):
    settings = self._settings
    self._open_outputs()
    self._global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    with config.required_bindings_as_config_errors():
      _check_settings(settings)
      self._build_task()
      self._agent = build.create_agent(settings, self._task, self._global_step)
      self._agent.initialize()
      self._dataset = self._read_dataset()
      rows = (self._dataset.size if self._dataset is not None
              else max(1, settings.replay_buffer_capacity // self._train_env.batch_size))
      self._replay_buffer = replay.GoalReplayBuffer(
          self._train_env.observation_spec(), self._train_env.action_spec(),
          batch_size=self._train_env.batch_size, max_length=rows,
          gamma=settings.gamma, max_future_steps=settings.max_future_steps,
          future_offsets=settings.future_offsets, seed=settings.random_seed,
          max_episodes=self._episode_slots(rows))
      self._build_metrics()

  def _open_outputs(self):
    flush_millis = self._settings.summaries_flush_secs * 1000
    self._train_writer = tf.summary.create_file_writer(
        os.path.join(self._root_dir, 'train'), flush_millis=flush_millis)
    self._eval_writer = tf.summary.create_file_writer(
        os.path.join(self._root_dir, 'eval'), flush_millis=flush_millis)
    self._records = records.Writer(self._root_dir)

  def _build_task(self):
    """The run's task: its envs, goal dimensions and relabeler."""
    settings = self._settings
    self._task = build.load_task(settings, num_train_envs=settings.num_parallel_envs)
    self._train_env, self._eval_env = self._task.train_env, self._task.eval_env

  def _episode_slots(self, rows):
    """Episodes the replay keeps per env: enough for `rows` rows of whole episodes of the task's length.

    Only pixel observations use them (each keeps its first and goal frames);
    a shorter episode (one a restart abandoned) makes the oldest leave early.
    """
    if self._settings.observations != 'pixels':
      return None
    if self._dataset is not None:
      return len(self._dataset.episode_lengths)
    return rows // envs.episode_steps(self._eval_env) + 2

  def _read_dataset(self):
    """The offline dataset's transitions, observations cut to the run's goal dimensions; None online."""
    if self._settings.dataset is None:
      return None
    task = self._task.spec
    observation_spec = self._train_env.observation_spec()
    frame_shape = (frames.frame_shape(observation_spec)[:3]
                   if frames.is_pixel_spec(observation_spec) else None)
    transitions = datasets.read(self._settings.dataset, self._settings.env_name,
                                task.state_dim + task.goal_dim, self._train_env.action_spec(),
                                frame_shape)
    keep = envs.observation_indices(self._settings.env_name, relabel.obs_to_goal())
    return dataclasses.replace(transitions, observations=transitions.observations[:, keep],
                               next_observations=transitions.next_observations[:, keep])

  def _build_metrics(self):
    settings = self._settings
    buffer_size = max(1, settings.num_eval_episodes)
    self._env_steps = tf_metrics.EnvironmentSteps()
    self._train_metrics = [
        tf_metrics.NumberOfEpisodes(), self._env_steps,
        tf_metrics.AverageEpisodeLengthMetric(batch_size=self._train_env.batch_size),
        build.distance_metrics(self._task, settings, self._train_env.batch_size, buffer_size),
    ]
    self._eval_distance = build.distance_metrics(self._task, settings, self._eval_env.batch_size,
                                                 buffer_size)

  # Restore: the newest checkpoint, then the parts that run from it.

  def _restore(self):
    settings = self._settings
    parts = dict(agent=self._agent, global_step=self._global_step, metrics=self._train_metrics)
    # An offline run's buffer is its dataset, read again at every start; online,
    # checkpoint_replay_buffer None (its default) means True.
    if settings.checkpoint_replay_buffer is not False and self._dataset is None:
      parts['replay_buffer'] = self._replay_buffer
    # One checkpoint holds everything, so a run killed between saves never
    # resumes with an agent and a buffer from different steps.
    self._checkpoints = checkpoints.RunCheckpoints(
        os.path.join(self._root_dir, 'train', 'checkpoints'), settings.checkpoints_to_keep,
        **parts)
    self._checkpoints.restore()
    self._replay_buffer.check_restored()
    self._resumed_at = int(self._global_step.numpy())
    self._records.start(self._iteration(), settings.num_iterations, self._resumed_at,
                        self._env_step_count())
    self._build_drivers_and_loop()

  def _build_drivers_and_loop(self):
    """The initial and eval drivers, the exporter and the loop, as traced functions."""
    settings = self._settings
    parts = loops.LoopParts(
        self._agent, self._train_env, self._replay_buffer, self._task.relabeler,
        self._train_metrics, self._train_step_fn(), settings.batch_size,
        settings.collect_steps_per_iteration, settings.train_steps_per_iteration,
        settings.random_seed, settings.use_tf_functions)
    initial_policy = random_tf_policy.RandomTFPolicy(self._train_env.time_step_spec(),
                                                     self._train_env.action_spec())
    if self._resumed_at > 0 and settings.checkpoint_replay_buffer is False:
      # Nothing random to redo: refill the empty buffer with the trained policy.
      initial_policy = self._agent.collect_policy
    self._initial_policy_name = type(initial_policy).__name__
    initial_driver = parts.collect_driver(initial_policy, settings.initial_collect_steps)
    eval_policy = build.eval_policy(self._agent)
    eval_driver = dynamic_episode_driver.DynamicEpisodeDriver(
        self._eval_env, eval_policy, observers=[self._eval_distance],
        num_episodes=settings.num_eval_episodes)
    self._exporter = (policy_export.PolicyExporter(self._root_dir, eval_policy, self._global_step)
                      if settings.export_policy else None)
    self._loop = loops.create(settings.loop, parts, settings.overlap_collection)
    self._run_initial, self._run_eval = (
        parts.maybe_traced(seeding.seeded(driver.run, settings.random_seed, name))
        for driver, name in ((initial_driver, 'initial'), (eval_driver, 'eval')))

  def _train_step_fn(self):
    """agent.train, or with xla_train_step, the same step compiled by XLA."""
    if not self._settings.xla_train_step:
      return self._agent.train
    # Summary ops cannot be compiled: the step is traced with summaries off, and
    # the traced iteration around it checks and writes its losses instead.
    def train_without_summaries(batch):
      with tf.summary.record_if(False):
        return self._agent.train(batch)
    compiled = tf.function(train_without_summaries, jit_compile=True)

    def train_step(batch):
      loss_info = compiled(batch)
      _check_and_summarize_losses(loss_info, self._global_step - 1,
                                  self._settings.summary_interval,
                                  f'{self._agent.ALGORITHM} (XLA train step)')
      return loss_info
    return train_step

  # Initial collection.

  def _collect_initial_steps(self):
    if self._dataset is not None:
      data = self._dataset
      self._replay_buffer.load_episodes(data.observations, data.actions,
                                        data.next_observations, data.episode_lengths,
                                        data.frames, data.goal_frames)
      logging.info('Training offline on %s: %d transitions in %d episodes.',
                   self._settings.dataset, data.size, len(data.episode_lengths))
    elif self._replay_buffer.num_frames() == 0:
      logging.info('Collecting %d initial steps with %s.', self._settings.initial_collect_steps,
                   self._initial_policy_name)
      self._run_initial()
      self._unsaved = True
    else:
      logging.info('Resumed at train step %d with %d transitions in the replay buffer.',
                   self._resumed_at, int(self._replay_buffer.num_frames()))

  # Iterate.

  def _iterate(self):
    """Iterations until num_iterations, a traced call at a time, with what is due after each call."""
    settings = self._settings
    iteration = self._iteration()
    progress = ProgressLog(settings.num_iterations, iteration)
    intervals = [settings.summary_interval, settings.log_interval,
                 settings.train_checkpoint_interval]
    if settings.num_eval_episodes > 0:
      intervals.append(settings.eval_interval)
    record_losses = lambda: tf.math.equal(self._global_step % settings.summary_interval, 0)
    while iteration < settings.num_iterations and not self._stop.requested:
      count = iterations_in_next_call(iteration, settings.iterations_per_call,
                                      settings.num_iterations, intervals)
      # The agent's loss summaries are written inside the traced train step.
      with tf.summary.record_if(record_losses):
        loss_info = self._run_loop(iteration, count)
      self._unsaved = True
      iteration += count
      # On a signal the save comes at once; a resumed run evaluates at its start.
      if not self._stop.requested:
        self._after_call(iteration, loss_info, progress)

  def _run_loop(self, iteration, count):
    """The loop's next `count` iterations; a non-finite loss among them stops the run."""
    try:
      return self._loop.run(iteration, count)
    except tf.errors.InvalidArgumentError as error:
      loss = divergence.loss_named_in(error)
      if loss is None:
        raise  # a bug, with its traceback
      # The counter stands at the step whose loss it was (it counts after the loss).
      self._stop_diverged(f'{loss} is not finite at train step {int(self._global_step.numpy())}')

  def _after_call(self, iteration, loss_info, progress):
    """Train summaries, an evaluation, a progress line and a checkpoint, where their interval ends."""
    settings = self._settings
    if iteration % settings.summary_interval == 0:
      for metric in self._train_metrics:
        metric.tf_summaries(train_step=self._global_step, step_metrics=self._train_metrics[:2])
    if iteration % settings.eval_interval == 0 and settings.num_eval_episodes > 0:
      self._evaluate()
    if iteration % settings.log_interval == 0:
      self._log_progress(iteration, loss_info, progress)
    if iteration % settings.train_checkpoint_interval == 0:
      self._save()

  def _log_progress(self, iteration, loss_info, progress):
    settings = self._settings
    env_steps = self._env_step_count()
    rate = progress.log(iteration, env_steps, loss_info, self._last_eval)
    self._records.progress(
        iteration, settings.num_iterations, int(self._global_step.numpy()), env_steps, rate,
        {name: float(value) for name, value in loss_info.extra._asdict().items()})
    tf.summary.scalar('global_steps_per_sec', rate, step=self._global_step)
    tf.summary.scalar('Metrics/PhysicsBlowups', envs.physics_blowups(self._train_env),
                      step=self._global_step)

  # Evaluate.

  def _evaluate(self):
    """num_eval_episodes greedy episodes on the eval env: summaries, a record and a log line."""
    self._check_weights_finite()
    self._eval_distance.reset()
    self._run_eval()
    results = self._eval_distance.result_dict()
    self._records.evaluation(self._iteration(), int(self._global_step.numpy()),
                             self._env_step_count(), results)
    with self._eval_writer.as_default():
      self._eval_distance.tf_summaries(train_step=self._global_step)
      self._eval_writer.flush()
    logging.info('eval at iteration %d: %s', self._iteration(),
                 ', '.join(f'{k}={v:.4f}' for k, v in results.items()))
    self._last_eval = results

  # Save and export.

  def _save(self):
    """A checkpoint of everything, and the greedy policy as a SavedModel beside it."""
    step = int(self._global_step.numpy())
    self._check_weights_finite()
    self._checkpoints.save(step)
    if self._exporter:
      try:
        self._exporter.export()
      except (OSError, tf.errors.OpError) as error:
        if not checkpoints.is_out_of_space(error):
          raise
        raise checkpoints.DiskFull(
            f'no space left in {self._root_dir} to export the policy of step {step} '
            f'(checkpoint ckpt-{step} is saved): free some space and run the same command '
            'to resume.') from None
    self._unsaved = False

  def _save_on_stop(self):
    """After a signal: a save where there is unsaved work, a `preempted` record; returns the line to exit with."""
    step = int(self._global_step.numpy())
    if self._unsaved:
      self._save()
    checkpoint = self._checkpoints.latest_name()
    seconds = time.time() - self._stop.received_at
    self._records.preempted(self._iteration(), self._settings.num_iterations, step,
                            self._env_step_count(), self._stop.signal_name, checkpoint, seconds)
    if checkpoint is None:
      saved = 'nothing was collected or trained yet, so nothing is saved'
    else:
      saved = f'{checkpoint}' + (' and the policy are' if self._exporter else ' is') + ' saved'
    return (f'stopped by {self._stop.signal_name} at train step {step}, {seconds:.1f} s after '
            f'it came: {saved}; run the same command to resume.')

  def _check_weights_finite(self):
    """Stops the run, naming the weight, if any of the agent's float variables holds an inf or nan."""
    if self._all_weights_finite is None:
      # Over the variables there are at the first check: the networks' weights (an
      # optimizer's slots made later are left out; one gone non-finite makes the weights
      # non-finite at the next step).
      self._all_weights_finite = divergence.all_finite_fn(self._agent.variables)
    if not bool(self._all_weights_finite()):
      name = divergence.non_finite_variable(self._agent.variables)
      self._stop_diverged(f'{self._agent.ALGORITHM} weight {name} is not finite at train step '
                          f'{int(self._global_step.numpy())}')

  def _stop_diverged(self, what):
    """Records a `diverged` record and raises Diverged: nothing of this state is saved."""
    checkpoint = self._checkpoints.latest_name()
    self._records.diverged(self._iteration(), self._settings.num_iterations,
                           int(self._global_step.numpy()), self._env_step_count(), what,
                           checkpoint)
    where = (f'the last finite checkpoint is {checkpoint} in {self._checkpoints.directory}'
             if checkpoint else 'no checkpoint was saved before it')
    raise divergence.Diverged(
        f'{what}: the run stopped without saving it; {where}. Steady the training (a lower '
        'learning rate, gradient clipping, observation normalisation) and run again to go on '
        'from there.')

  def _finish(self):
    """The last checkpoint and evaluation where the last interval did not end at the run's end."""
    settings = self._settings
    iteration = self._iteration()
    if int(self._global_step.numpy()) > self._resumed_at:
      if iteration % settings.train_checkpoint_interval:
        self._save()
      if settings.num_eval_episodes > 0 and iteration % settings.eval_interval:
        self._evaluate()
    elif self._exporter and self._resumed_at > 0 and not self._exporter.exists():
      self._exporter.export()  # a finished run from before export_policy, started again

  def _close(self):
    config.write_operative_config(self._root_dir)
    self._train_writer.flush()
    self._eval_writer.flush()
    self._train_env.close()  # stops the processes of parallel envs
    if not self._stop.requested:  # a stopped run has its `preempted` record instead
      self._records.end(self._iteration(), self._settings.num_iterations,
                        int(self._global_step.numpy()), self._env_step_count(), self._last_eval)

  def _iteration(self):
    return int(self._global_step.numpy()) // self._settings.train_steps_per_iteration

  def _env_step_count(self):
    return int(self._env_steps.result())


def _check_settings(settings):
  """Fails with one line on loop and checkpoint settings that cannot run."""
  if not (isinstance(settings.num_parallel_envs, int) and settings.num_parallel_envs >= 1):
    raise config.ConfigError(f'train_eval.num_parallel_envs={settings.num_parallel_envs!r}: '
                             'must be an int >= 1.')
  if settings.collect_steps_per_iteration % settings.num_parallel_envs:
    raise config.ConfigError(
        f'train_eval.collect_steps_per_iteration={settings.collect_steps_per_iteration} must '
        f'be a multiple of train_eval.num_parallel_envs={settings.num_parallel_envs} (every '
        'env steps once a driver step).')
  for name in ('iterations_per_call', 'checkpoints_to_keep'):
    value = getattr(settings, name)
    if not (isinstance(value, int) and value >= 1):
      raise config.ConfigError(f'train_eval.{name}={value!r}: must be an int >= 1.')
  if settings.loop not in loops.LOOPS:
    raise config.ConfigError(f'train_eval.loop={settings.loop!r} is unknown; valid loops: '
                             f'{", ".join(loops.LOOPS)}.')
  if settings.agent_name in agents.AGENTS:  # agents.create names the valid ones otherwise
    loops.check_agent(settings.loop, agents.AGENTS[settings.agent_name])
    agents.AGENTS[settings.agent_name].check_batch_size(settings.batch_size)
  # Its default (None) is the overlapped loop's; a value chosen for another loop would be ignored.
  if settings.overlap_collection is not None and settings.loop != 'overlapped':
    raise config.ConfigError(
        f'train_eval.overlap_collection={settings.overlap_collection!r} has no effect with '
        f"train_eval.loop={settings.loop!r}: only loop 'overlapped' overlaps collection; "
        'leave it unset.')
  _check_offline_settings(settings)


def _check_offline_settings(settings):
  """A dataset and the offline loop go together; an offline run takes no env steps and checkpoints no replay."""
  offline = settings.loop == 'offline'
  if offline != (settings.dataset is not None):
    raise config.ConfigError(
        f'train_eval.dataset={settings.dataset!r} with train_eval.loop={settings.loop!r}: a '
        "dataset needs loop 'offline' and the offline loop needs a dataset "
        '(gin/setups/offline.gin sets the loop).')
  if offline:
    for name in ('initial_collect_steps', 'collect_steps_per_iteration'):
      if getattr(settings, name) != 0:
        raise config.ConfigError(f'train_eval.{name}={getattr(settings, name)!r}: an offline '
                                 'run takes no env steps; it must be 0.')
    if settings.num_parallel_envs != 1:
      raise config.ConfigError(f'train_eval.num_parallel_envs={settings.num_parallel_envs}: '
                               'an offline run has no train envs to run in parallel; it must be 1.')
    if settings.checkpoint_replay_buffer is not None:
      raise config.ConfigError(
          f'train_eval.checkpoint_replay_buffer={settings.checkpoint_replay_buffer!r} has no '
          "effect with train_eval.loop='offline': its replay is the dataset, read again at every "
          'start; leave it unset.')


def iterations_in_next_call(iteration, iterations_per_call, num_iterations, intervals):
  """iterations_per_call, or fewer where the run or one of `intervals` ends sooner."""
  next_stop = min([num_iterations] + [(iteration // i + 1) * i for i in intervals])
  return min(iterations_per_call, next_stop - iteration)


def _check_and_summarize_losses(loss_info, train_step, summary_interval, owner):
  """What an XLA-compiled step cannot do itself: fail on a non-finite loss, write Losses/<name>."""
  for name, value in loss_info.extra._asdict().items():
    # XLA drops the agents' check_numerics; the traced call around the step keeps it.
    value = divergence.check_loss(value, owner, name)
    # Same tags and steps as the agents' summaries (the step's counter before its increment).
    with tf.summary.record_if(tf.equal(train_step % summary_interval, 0)):
      tf.summary.scalar(f'Losses/{name}', value, step=train_step)


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
