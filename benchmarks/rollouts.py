"""What a run's exported policy does, episode by episode: distances, the residual per goal dimension, the actions' sizes.

c_learning.evaluate gives the eval metrics; this says why they are what they
are: whether the policy stops short, overshoots (minimum distance below the
final one) or leaves one axis alone, and how close its actions sit to the
bounds (a saturated tanh actor shows |a| at 1.00 of the half range).

    python benchmarks/rollouts.py --root_dir=OUT/runs/sawyer_reach/td3_her/seed_0 \
        --num_episodes=10

The episodes are the run's first eval goals (c_learning.evaluate's, with the
same seed). Prints one line per episode and a mean line.
"""
import os
import sys

from absl import app
from absl import flags
import gin
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from c_learning import build  # pylint: disable=g-import-not-at-top
from c_learning import evaluate

SATURATED = 0.95  # |action| / half range at or above which a tanh actor's gradient is < 10%


def rollouts(root_dir, num_episodes):
  """Runs the exported policy on the run's eval env; returns one dict per episode.

  Each dict: initial, final and minimum distance over the goal dimensions;
  residual (final achieved minus goal, per goal dimension); mean_abs_action
  (per action dimension, in half ranges); saturated (the fraction of steps and
  dimensions at or beyond SATURATED).
  """
  try:
    settings = evaluate.run_settings(root_dir, ())
    task = build.load_task(settings)
  finally:
    gin.clear_config()
  task.train_env.close()
  eval_env, state_dim, goal_slice = task.eval_env, task.state_dim, task.goal_slice
  try:
    policy, _ = evaluate.saved_policy(root_dir)
    spec = eval_env.action_spec()
    centre = (spec.maximum + spec.minimum) / 2.0
    half_range = (spec.maximum - spec.minimum) / 2.0
    action = tf.function(policy.action, autograph=False)
    episodes = []
    for _ in range(num_episodes):
      time_step = eval_env.reset()
      policy_state = policy.get_initial_state(1)
      residuals, actions = [], []
      while True:
        observation = time_step.observation.numpy()[0]
        residuals.append(goal_slice(observation[:state_dim]) - observation[state_dim:])
        if time_step.is_last()[0]:
          break
        step = action(time_step, policy_state)
        policy_state = step.state
        actions.append(np.abs(step.action.numpy()[0] - centre) / half_range)
        time_step = eval_env.step(step.action)
      distances = np.linalg.norm(residuals, axis=-1)
      actions = np.array(actions)
      episodes.append({'initial_distance': distances[0], 'final_distance': distances[-1],
                       'minimum_distance': distances.min(), 'residual': residuals[-1],
                       'mean_abs_action': actions.mean(0),
                       'saturated': float(np.mean(actions >= SATURATED))})
    return episodes
  finally:
    eval_env.close()


def format_episode(label, episode):
  """One line: the distances, the final residual and the actions' sizes."""
  numbers = lambda values, form: ' '.join(format(v, form) for v in values)
  return (f'{label}: distance {episode["initial_distance"]:.3f} -> '
          f'{episode["final_distance"]:.3f} (min {episode["minimum_distance"]:.3f})  '
          f'residual [{numbers(episode["residual"], "+.3f")}]  |a| '
          f'[{numbers(episode["mean_abs_action"], ".2f")}]  saturated {episode["saturated"]:.2f}')


def main(argv):
  del argv
  episodes = rollouts(flags.FLAGS.root_dir, flags.FLAGS.num_episodes)
  for index, episode in enumerate(episodes):
    print(format_episode(f'episode {index}', episode))
  print(format_episode('mean', {key: np.mean([e[key] for e in episodes], axis=0)
                                for key in episodes[0]}))


if __name__ == '__main__':
  flags.DEFINE_string('root_dir', None, 'a train_eval root_dir with an exported policy')
  flags.DEFINE_integer('num_episodes', 10, 'episodes to run')
  flags.mark_flag_as_required('root_dir')
  app.run(main)
