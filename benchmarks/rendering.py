"""Rendering cost of pixel observations: ms per frame (agent vs video settings) and env steps/s (pixels vs state).

    python benchmarks/rendering.py [--frames=100] [--steps=500] [--tasks=sawyer_reach,sawyer_push]
    python benchmarks/rendering.py --tasks=gym:FetchReach-v4,gym:FetchPush-v4

For each task (a Sawyer task or a gym: Fetch task) and frame size (48x48,
84x84) it times, on the agent camera:
  agent  - the task's agent_frame(): no shadows, reflections, skybox or
           multisampling, no sites (what pixel observations render);
  video  - the same frame with the model's full-quality settings (shadow map,
           4x multisampling, reflections, skybox), as render() draws videos;
  goal   - the task's goal_frame(): posing the goal scene and an agent frame
           (once an episode).
Then env steps/s with random actions, episode resets included: the state
task's PyEnvironment and the pixel one (48x48 RGB, one frame). Prints a
markdown table and, last, one JSON object with the figures.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from c_learning import envs  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning.envs import gym_pixels  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning.envs import pixels  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning.envs import rendering  # pylint: disable=g-import-not-at-top,wrong-import-position
from c_learning.envs import sawyer  # pylint: disable=g-import-not-at-top,wrong-import-position

SIZES = (48, 84)
WARMUP = 3


def _ms_per_call(function, calls):
  """Mean milliseconds of `function()` over `calls` calls, after WARMUP untimed ones."""
  for _ in range(WARMUP):
    function()
  started = time.perf_counter()
  for _ in range(calls):
    function()
  return 1e3 * (time.perf_counter() - started) / calls


def _simulation(task):
  """(model, data, agent camera settings) of a Sawyer task or a gym: Fetch task."""
  if isinstance(task, sawyer.SawyerTask):
    return task.metaworld_env.model, task.metaworld_env.data, sawyer.AGENT_CAMERA
  fetch = task.unwrapped
  return fetch.model, fetch.data, gym_pixels.camera_settings(fetch)


def _video_settings_frame(task, size):
  """A function rendering the agent camera's view at `size` with the model's full-quality settings."""
  model, data, camera_settings = _simulation(task)
  renderer = rendering.Renderer(model, size, size)
  camera = rendering.free_camera(camera_settings)

  def render():
    renderer.update_scene(data, camera=camera)
    return renderer.render()
  return render, renderer


def frame_costs(env_name, frames):
  """{(size, kind): ms per frame} of one task; kind is 'agent', 'video' or 'goal'."""
  pixel_env = envs.task_spec(env_name).pixel_load(seed=0, settings=pixels.PixelSettings())
  pixel_env.reset()  # a gym: task has its goal from its first reset
  task = pixel_env.gym_env
  costs = {}
  for size in SIZES:
    costs[(size, 'agent')] = _ms_per_call(lambda: task.agent_frame(size, size), frames)
    costs[(size, 'goal')] = _ms_per_call(lambda: task.goal_frame(size, size), frames)
    render, renderer = _video_settings_frame(task, size)
    # The full-quality frame is 10-20x slower: fewer calls give the same precision.
    costs[(size, 'video')] = _ms_per_call(render, max(1, frames // 5))
    renderer.close()
  pixel_env.close()
  return costs


def steps_per_second(py_env, steps):
  """Random-action env steps/s of `py_env`, its time limit's resets included."""
  rng = np.random.default_rng(0)
  actions = rng.uniform(-1, 1, (steps, 4)).astype(np.float32)
  py_env.reset()
  started = time.perf_counter()
  for action in actions:
    py_env.step(action)
  return steps / (time.perf_counter() - started)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--frames', type=int, default=100, help='timed agent frames per case')
  parser.add_argument('--steps', type=int, default=500, help='timed env steps per env')
  parser.add_argument('--tasks', default='sawyer_reach,sawyer_push')
  args = parser.parse_args()
  figures = {}
  rows = ['| task | size | agent ms | video ms | goal ms | state env steps/s | '
          'pixel env steps/s |', '| --- | --- | --- | --- | --- | --- | --- |']
  for env_name in args.tasks.split(','):
    costs = frame_costs(env_name, args.frames)
    state_sps = steps_per_second(envs.load_py_environment(env_name), args.steps)
    pixel_env = envs.task_spec(env_name).pixel_load(seed=0, settings=pixels.PixelSettings())
    pixel_sps = steps_per_second(pixel_env, args.steps)
    for size in SIZES:
      agent, video, goal = (costs[(size, kind)] for kind in ('agent', 'video', 'goal'))
      speeds = (f'{state_sps:.0f} | {pixel_sps:.0f}' if size == 48 else ' | ')
      rows.append(f'| {env_name} | {size}x{size} | {agent:.1f} | {video:.1f} | {goal:.1f} | '
                  f'{speeds} |')
      figures.update({f'{env_name}_{size}_{kind}_ms': round(costs[(size, kind)], 2)
                      for kind in ('agent', 'video', 'goal')})
    figures[f'{env_name}_state_steps_per_s'] = round(state_sps, 1)
    figures[f'{env_name}_pixel_48_steps_per_s'] = round(pixel_sps, 1)
  print('\n'.join(rows))
  print(json.dumps(figures))


if __name__ == '__main__':
  main()
