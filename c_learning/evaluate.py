"""Evaluates a run's greedy policy on its eval goals, and can record it: `python -m c_learning.evaluate --root_dir=DIR`."""
import gc
import os
import sys
import types

from absl import app
from absl import flags
import gin
import tensorflow as tf
from tf_agents.trajectories import trajectory

from c_learning import build
from c_learning import checkpoints
from c_learning import config
from c_learning import legacy_config
from c_learning import policy_export
from c_learning import registry
from c_learning import train_eval
from c_learning import video

SOURCES = ('checkpoint', 'policy')

FLAGS = flags.FLAGS


class EvaluateError(ValueError):
  """The run directory lacks what the evaluation needs, or an argument is invalid."""


def evaluate(root_dir, num_episodes=None, video_path=None, source='checkpoint', seed=None,
             gin_bindings=(), video_fps=20, frame_stride=1):
  """Runs greedy episodes of a train_eval run's policy and returns train_eval's eval metrics.

  The config is the run's operative.gin, then `gin_bindings`; gin's config is
  cleared before and after. Episodes come from the eval env that train_eval
  builds, so they are the run's eval goals in order (a fresh env, so the first
  ones), unless `seed` gives those of a run with random_seed=seed.

  Args:
    root_dir: a train_eval root_dir.
    num_episodes: episodes to run; None means the run's num_eval_episodes (10 if 0).
    video_path: if given, a .gif or .mp4 of the episodes is written there.
    source: 'checkpoint' (the agent in the latest checkpoint) or 'policy' (the
      SavedModel that train_eval exports to root_dir/policy).
    seed: the random_seed whose eval env to use; None means the run's.
    gin_bindings: bindings applied after operative.gin (e.g. an episode length).
    video_fps: frames a second of the video.
    frame_stride: keep every frame_stride-th step of an episode (and its last).

  Returns:
    {metric name: value} as train_eval's eval reports them, plus 'train_step'.
  """
  root_dir = os.path.expanduser(root_dir)
  _check_arguments(num_episodes, source, seed, video_fps, frame_stride)
  if video_path:
    video.check_writable(video_path)
  task = None
  try:
    settings = run_settings(root_dir, gin_bindings)
    if num_episodes is None:
      num_episodes = settings.num_eval_episodes or 10
    task = build.load_task(settings, seed)
    distance = build.distance_metrics(task, settings, batch_size=1, buffer_size=num_episodes)
    if source == 'checkpoint':
      policy, train_step = _checkpoint_policy(root_dir, settings, task)
    else:
      policy, train_step = saved_policy(root_dir)
    recorder = FrameRecorder(task.eval_env.pyenv.envs[0], frame_stride) if video_path else None
    run_episodes(task.eval_env, policy, distance, num_episodes, recorder)
  finally:
    if task is not None:  # frees the MuJoCo renderers and their GL contexts
      task.close()
    gin.clear_config()
  results = distance.result_dict()
  results['train_step'] = train_step
  if recorder:
    video.write(video_path, recorder.frames, video_fps)
  return results


def _check_arguments(num_episodes, source, seed, video_fps, frame_stride):
  if source not in SOURCES:
    raise EvaluateError(f'--source={source}: must be one of {", ".join(SOURCES)}.')
  if num_episodes is not None and not (isinstance(num_episodes, int) and num_episodes > 0):
    raise EvaluateError(f'--num_episodes={num_episodes}: must be a positive integer.')
  if seed is not None and not (isinstance(seed, int) and seed >= 0):
    raise EvaluateError(f'--seed={seed}: must be a non-negative integer.')
  if not video_fps > 0:
    raise EvaluateError(f'--video_fps={video_fps}: must be positive.')
  if not (isinstance(frame_stride, int) and frame_stride > 0):
    raise EvaluateError(f'--frame_stride={frame_stride}: must be a positive integer.')


def run_settings(root_dir, gin_bindings):
  """Parses the run's operative.gin and `gin_bindings`; returns train_eval's arguments as attributes."""
  path = os.path.join(root_dir, 'operative.gin')
  if not os.path.exists(path):
    raise EvaluateError(f'no operative.gin in {root_dir}: not a train_eval root_dir, '
                        'or its run is still collecting its initial steps.')
  gin.clear_config()
  registry.register_configurables()
  legacy_config.parse_operative(path, gin_bindings)
  # Defaults first: an operative.gin from an older version may lack newer arguments.
  return types.SimpleNamespace(**train_eval.configured_arguments())


def _checkpoint_policy(root_dir, settings, task):
  """The greedy policy of the agent in the latest checkpoint, and its train step."""
  checkpoint_dir = os.path.join(root_dir, 'train', 'checkpoints')
  latest = tf.train.latest_checkpoint(checkpoint_dir)
  if latest is None:
    raise EvaluateError(f'no checkpoint in {checkpoint_dir} yet: train_eval writes one '
                        'every train_checkpoint_interval iterations and at the end.')
  problem = checkpoints.unreadable(latest)
  if problem:
    raise EvaluateError(f'the newest checkpoint, {latest}, does not read whole ({problem}); '
                        'the run\'s next start sets it aside and resumes from the one before.')
  global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
  # The agent's own settings (its networks' sizes) come from operative.gin's
  # bindings on its class, as they did in the run.
  agent = build.create_agent(settings, task, global_step)
  mismatch = None
  try:
    # Only the agent and the step: the replay buffer beside them is never read.
    tf.train.Checkpoint(agent=agent, global_step=global_step).restore(
        latest).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError) as error:  # missing variables; other shapes
    mismatch = config.first_line(error)
  if mismatch:
    # The half-done restore, once freed, warns of every value it did not
    # restore (a hundred lines, at exit, after the error): free it now, quietly.
    del agent
    with policy_export.quietly():
      gc.collect()
    raise EvaluateError(f'{latest} does not match the agent that operative.gin and '
                        f'--gin_bindings describe: {mismatch}')
  return build.eval_policy(agent), int(global_step.numpy())


def saved_policy(root_dir):
  """The policy that train_eval exported to root_dir/policy, and its train step."""
  policy = build.saved_policy(root_dir)
  if policy is None:
    raise EvaluateError(
        f'no exported policy in {os.path.join(root_dir, policy_export.POLICY_DIRNAME)}: '
        'train_eval.export_policy saves one with each checkpoint; '
        '--source=checkpoint reads the checkpoint instead.')
  return policy, int(policy.get_train_step().numpy())


class FrameRecorder:
  """Renders the py env at every frame_stride-th step of an episode and at its last."""

  def __init__(self, py_env, frame_stride):
    self._py_env = py_env
    self._stride = frame_stride
    self.frames = []

  def __call__(self, step_in_episode, is_last):
    if step_in_episode % self._stride and not is_last:
      return
    failure = None
    try:
      self.frames.append(self._py_env.render('rgb_array'))
    except Exception as error:  # pylint: disable=broad-except
      # MuJoCo raises several types when no GL context can be made.
      failure = config.first_line(error) or type(error).__name__
    # Raised outside the except block, so that the traceback, and the half-made
    # mujoco.Renderer in it, go now: its __del__ complains, before this line.
    if failure:
      raise EvaluateError(f'rendering failed ({failure}): headless rendering needs '
                          'libOSMesa (apt-get install libosmesa6) or MUJOCO_GL=egl.')


def run_episodes(tf_env, policy, distance, num_episodes, recorder=None):
  """Runs `num_episodes` episodes of `policy` in a batch-1 `tf_env`, every time step into `distance`."""
  # Traced once: a TFPolicy's action and the metric run eagerly otherwise, ~10x slower.
  action = tf.function(policy.action, autograph=False)
  observe = tf.function(distance, autograph=False)
  for _ in range(num_episodes):
    time_step = tf_env.reset()
    policy_state = policy.get_initial_state(tf_env.batch_size)
    step_in_episode = 0
    while True:
      # The metric reads only observations and step types; LAST ends an episode.
      observe(trajectory.Trajectory(
          step_type=time_step.step_type, observation=time_step.observation,
          action=(), policy_info=(), next_step_type=time_step.step_type,
          reward=time_step.reward, discount=time_step.discount))
      is_last = bool(time_step.is_last()[0])
      if recorder:
        recorder(step_in_episode, is_last)
      if is_last:
        break
      action_step = action(time_step, policy_state)
      policy_state = action_step.state
      time_step = tf_env.step(action_step.action)
      step_in_episode += 1


def main(_):
  try:
    results = evaluate(FLAGS.root_dir, FLAGS.num_episodes, FLAGS.video, FLAGS.source,
                       FLAGS.seed, FLAGS.gin_bindings or (), FLAGS.video_fps,
                       FLAGS.frame_stride)
  except (EvaluateError, video.VideoError, config.ConfigError) as error:
    sys.exit(f'c_learning.evaluate: error: {config.first_line(error)}')
  print(format_results(results, FLAGS.video))


def format_results(results, video_path=None):
  """evaluate()'s results as lines of `name: value`, the train step first."""
  lines = [f'train_step: {results["train_step"]}']
  lines += [f'{name}: {value:.4f}' for name, value in results.items() if name != 'train_step']
  if video_path:
    lines.append(f'video: {video_path}')
  return '\n'.join(lines)


def _define_flags():
  flags.DEFINE_string('root_dir', None, 'A train_eval root_dir.')
  flags.DEFINE_integer('num_episodes', None,
                       "Episodes to run (default: the run's num_eval_episodes).")
  flags.DEFINE_string('video', None, 'Write the episodes to this .gif or .mp4 file.')
  flags.DEFINE_string('source', 'checkpoint',
                      "'checkpoint': the latest checkpoint; 'policy': the exported "
                      'SavedModel in root_dir/policy.')
  flags.DEFINE_integer('seed', None,
                       "Use the eval goals of a run with this random_seed (default: the run's).")
  flags.DEFINE_multi_string('gin_bindings', None, 'Gin bindings applied after operative.gin.')
  flags.DEFINE_float('video_fps', 20.0, 'Frames a second of the video (a GIF plays 50 at most).')
  flags.DEFINE_integer('frame_stride', 1,
                       'Keep every frame_stride-th step of an episode (and its last) in the video.')
  flags.mark_flag_as_required('root_dir')


def run():
  """Console-script entry point."""
  _define_flags()
  app.run(main)


if __name__ == '__main__':
  run()
