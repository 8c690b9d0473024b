"""Tests of the goal-conditioned cart-pole task and its LQR controller."""
import gin
import numpy as np
import pytest

from c_learning import config
from c_learning import envs
from c_learning.envs import cartpole
from c_learning.envs import controllers
from c_learning.envs import tasks

SPEC = tasks.TASKS['goal_cartpole']

pytestmark = pytest.mark.usefixtures('clear_gin')


def _task(**kwargs):
  """A GoalCartPole reset with a fixed seed."""
  return cartpole.GoalCartPole(seed=0, **kwargs)


def _final_distances(policy, episodes, seed=0):
  """The final (x, theta) distances of `policy` over episodes of the package's loader."""
  py_env = envs.load_py_environment('goal_cartpole', seed)
  return np.array([SPEC.distance(o) for o in controllers.rollout(py_env, policy, episodes)])


def test_spec_and_layout():
  assert 'goal_cartpole' in envs.ENV_NAMES
  assert (SPEC.state_dim, SPEC.goal_dim, SPEC.goal_offset) == (4, 4, 0)
  assert SPEC.success_dims == (0, 2) and SPEC.success_threshold == 0.1
  # The distance is over (x, theta) only: velocities do not count.
  assert SPEC.distance([0.3, 0.4, 5.0, -5.0, 0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.5)
  py_env = envs.load_py_environment('goal_cartpole')
  assert py_env.duration == 200
  assert py_env.observation_spec().shape == (8,)
  assert py_env.action_spec().shape == (1,)
  observation = py_env.reset().observation
  assert observation.dtype == np.float32
  task = py_env.gym_env
  np.testing.assert_allclose(observation[:4], task.state, atol=1e-6)
  np.testing.assert_allclose(observation[4:], task.goal, atol=1e-6)
  assert observation[4] != 0.0 and np.all(observation[5:] == 0.0)  # (x_goal, 0, 0, 0)


def test_obs_to_goal_0_2_keeps_the_goals_x_and_theta():
  gin.parse_config(['obs_to_goal.start_index = 0', 'obs_to_goal.end_index = 2'])
  train_env, _, obs_dim = envs.load('goal_cartpole')
  assert obs_dim == 4 and train_env.observation_spec().shape == (6,)
  observation = train_env.reset().observation.numpy()[0]
  np.testing.assert_allclose(observation[4:], train_env.pyenv.envs[0].gym_env.goal[:2], atol=1e-6)


def test_one_step_follows_the_cart_pole_equations():
  task = _task()
  task.state = np.zeros(4)
  observation, reward, terminated, truncated, _ = task.step(np.array([1.0]))
  assert (reward, terminated, truncated) == (0.0, False, False)
  # From rest and upright, 10 N: the textbook accelerations (Barto et al. 1983).
  total_mass, half_length = 1.1, 0.5
  theta_acc = -(10.0 / total_mass) / (half_length * (4 / 3 - 0.1 / total_mass))
  x_acc = 10.0 / total_mass - 0.1 * half_length * theta_acc / total_mass
  np.testing.assert_allclose(observation[:4], [0.0, 0.0, 0.02 * x_acc, 0.02 * theta_acc],
                             rtol=1e-6)
  # Actions are clipped to [-1, 1].
  task.state = np.zeros(4)
  clipped, *_ = task.step(np.array([7.0]))
  np.testing.assert_array_equal(clipped, observation)


def test_without_action_a_tilted_pole_falls_and_theta_wraps():
  task = _task()
  task.state = np.array([0.0, 0.01, 0.0, 0.0])
  thetas = []
  for _ in range(150):
    task.step(np.zeros(1))
    thetas.append(task.state[1])  # float64: the observation's float32 may round onto pi
  thetas = np.array(thetas)
  # It falls, faster and faster, to the side it leans.
  assert np.all(np.diff(thetas[:50]) >= 0.0) and thetas[49] > 0.2
  assert np.abs(thetas).max() > 3.0  # and swings through hanging down
  assert np.all((thetas >= -np.pi) & (thetas < np.pi))
  # Past pi it comes back in at -pi.
  task.state = np.array([0.0, np.pi - 0.01, 0.0, 2.0])
  task.step(np.zeros(1))
  assert -np.pi <= task.state[1] < -np.pi + 0.05


@pytest.mark.parametrize('side', [1.0, -1.0])
def test_the_cart_stops_at_the_walls(side):
  task = _task()
  task.state = np.array([side * 2.39, 0.0, side * 2.0, 0.0])
  observation, *_ = task.step(np.array([side]))
  assert observation[0] == pytest.approx(side * 2.4) and observation[2] == 0.0
  for _ in range(200):
    observation, *_ = task.step(np.array([side]))
    assert abs(observation[0]) <= 2.4 + 1e-6


@pytest.mark.parametrize('goal_xmin, goal_xmax', [(-1.0, 1.0), (0.5, 1.5), (-2.4, 2.4)])
def test_resets_start_near_upright_and_sample_goals_in_the_range(goal_xmin, goal_xmax):
  task = _task(goal_xmin=goal_xmin, goal_xmax=goal_xmax)
  observations = np.array([task.reset()[0] for _ in range(400)])
  states, goals = observations[:, :4], observations[:, 4:]
  assert np.all(np.abs(states[:, 0]) <= 0.5) and np.all(np.abs(states[:, 1:]) <= 0.05)
  assert np.all((goals[:, 0] >= goal_xmin) & (goals[:, 0] <= goal_xmax))
  width = goal_xmax - goal_xmin
  assert goals[:, 0].min() < goal_xmin + 0.05 * width
  assert goals[:, 0].max() > goal_xmax - 0.05 * width
  assert np.all(goals[:, 1:] == 0.0)


@pytest.mark.parametrize('goal_xmin, goal_xmax', [(1.0, -1.0), (-3.0, 0.0), (0.0, 2.5)])
def test_a_bad_goal_range_fails_with_one_line_naming_the_bindings(goal_xmin, goal_xmax):
  with pytest.raises(config.ConfigError) as error:
    cartpole.GoalCartPole(goal_xmin=goal_xmin, goal_xmax=goal_xmax)
  assert '\n' not in str(error.value)
  # Through gin, as a run sets it: gin adds its own lines below the first.
  gin.parse_config([f'load_goal_cartpole.goal_xmin = {goal_xmin}',
                    f'load_goal_cartpole.goal_xmax = {goal_xmax}'])
  with pytest.raises(config.ConfigError) as error:
    envs.load_py_environment('goal_cartpole')
  first_line = str(error.value).splitlines()[0]
  assert first_line.startswith(f'load_goal_cartpole.goal_xmin={goal_xmin}, '
                               f'load_goal_cartpole.goal_xmax={goal_xmax}: need ')
  assert '-2.4 <= goal_xmin <= goal_xmax <= 2.4' in first_line


@pytest.mark.parametrize('name, value', [('dynamic_goal', 1), ('goal_period', 0.0)])
def test_bad_dynamic_goal_settings_fail_with_one_line(name, value):
  with pytest.raises(config.ConfigError) as error:
    cartpole.GoalCartPole(**{name: value})
  message = str(error.value)
  assert '\n' not in message and message.startswith(f'load_goal_cartpole.{name}={value!r}: must be')


def test_a_dynamic_goal_sweeps_the_range_smoothly_within_an_episode():
  # One sweep there and back per 4 s episode, so an episode covers the range.
  gin.parse_config(['load_goal_cartpole.dynamic_goal = True',
                    'load_goal_cartpole.goal_period = 4.0',
                    'load_goal_cartpole.goal_xmin = -0.5', 'load_goal_cartpole.goal_xmax = 1.5'])
  py_env = envs.load_py_environment('goal_cartpole')
  for _ in range(3):
    time_step = py_env.reset()
    goals = [time_step.observation[4:]]
    while not time_step.is_last():
      time_step = py_env.step(np.zeros(1, np.float32))
      goals.append(time_step.observation[4:])
    goals = np.array(goals, np.float64)
    assert len(goals) == 201
    assert np.all((goals[:, 0] >= -0.5 - 1e-6) & (goals[:, 0] <= 1.5 + 1e-6))
    assert goals[:, 0].min() < -0.49 and goals[:, 0].max() > 1.49
    # Smooth: at most the sinusoid's top speed (1 m * 2 pi / 4 s) a step; and
    # the goal state's x_dot is the goal's velocity.
    steps = np.diff(goals[:, 0])
    assert np.abs(steps).max() <= 2 * np.pi / 4.0 * 0.02 + 1e-6
    np.testing.assert_allclose(steps / 0.02, (goals[1:, 2] + goals[:-1, 2]) / 2, atol=0.01)
    assert np.all(goals[:, 1] == 0.0) and np.all(goals[:, 3] == 0.0)


def test_a_fixed_goal_stays_put():
  py_env = envs.load_py_environment('goal_cartpole')
  first = py_env.reset().observation[4:]
  for _ in range(20):
    time_step = py_env.step(np.ones(1, np.float32))
  np.testing.assert_array_equal(time_step.observation[4:], first)


@pytest.mark.parametrize('dynamic_goal', [False, True])
def test_same_seed_same_episodes(dynamic_goal):
  traces = []
  for seed in (3, 3, 4):
    task = cartpole.GoalCartPole(seed=seed, dynamic_goal=dynamic_goal)
    trace = []
    for _ in range(3):
      trace.append(task.reset()[0])
      for _ in range(10):
        trace.append(task.step(np.array([0.5]))[0])
    traces.append(np.array(trace))
  np.testing.assert_array_equal(traces[0], traces[1])
  assert not np.allclose(traces[0][:, 4], traces[2][:, 4])
  # reset(seed=...) reseeds: the same episode again.
  task = cartpole.GoalCartPole(seed=99, dynamic_goal=dynamic_goal)
  first = task.reset(seed=3)[0]
  task.step(np.array([0.5]))
  np.testing.assert_array_equal(task.reset(seed=3)[0], first)


def test_render_draws_track_cart_pole_and_goal_without_gl():
  task = _task()
  task.reset()
  frame = task.render()
  assert frame.dtype == np.uint8 and frame.shape == (128, 256, 3)
  for color in ((0, 0, 220), (0, 170, 0), (200, 0, 0)):  # cart, goal, pole
    assert np.any(np.all(frame == color, axis=-1)), color
  track_row = int(0.6 * 128)
  task.state = np.zeros(4)
  pole_rows = np.nonzero(np.all(task.render() == (200, 0, 0), axis=-1))[0]
  assert pole_rows.min() < track_row - 30  # upright: the pole stands above the cart
  task.state = np.array([0.0, -np.pi, 0.0, 0.0])
  pole_rows = np.nonzero(np.all(task.render() == (200, 0, 0), axis=-1))[0]
  assert pole_rows.max() > track_row + 30  # hanging down


def test_the_lqr_gain_stabilises_the_linearised_cart_pole():
  a, b = controllers._cartpole_linearised()  # pylint: disable=protected-access
  gain = controllers.cartpole_gain()
  assert gain.shape == (1, 4)
  assert np.abs(np.linalg.eigvals(a)).max() > 1.0  # the upright pole is unstable
  assert np.abs(np.linalg.eigvals(a - b @ gain)).max() < 1.0


def test_the_controller_balances_the_pole_at_the_goal_and_a_random_policy_does_not():
  controller = _final_distances(SPEC.controller, 20)
  random = _final_distances(controllers.random_policy(0, 1), 20)
  print('goal_cartpole final distances: controller max', controller.max(),
        'random median', np.median(random))
  assert np.sum(controller < SPEC.success_threshold) >= 18, controller
  assert np.sum(random < SPEC.success_threshold) <= 2, random
  assert np.median(random) > 10 * np.median(controller)


def test_the_controller_reaches_goals_across_the_whole_track():
  gin.parse_config(['load_goal_cartpole.goal_xmin = -2.4', 'load_goal_cartpole.goal_xmax = 2.4'])
  distances = _final_distances(SPEC.controller, 20)
  assert np.sum(distances < SPEC.success_threshold) >= 18, distances


def _moving_goal_episodes(policy, episodes=20):
  """(final distances, how far the goal moved) of `policy` on moving goals, via the loader."""
  py_env = envs.load_py_environment('goal_cartpole', 0)
  finals, travelled = [], []
  for _ in range(episodes):
    time_step = py_env.reset()
    start_goal = time_step.observation[4]
    while not time_step.is_last():
      time_step = py_env.step(policy(time_step.observation))
    finals.append(SPEC.distance(time_step.observation))
    travelled.append(abs(time_step.observation[4] - start_goal))
  return np.array(finals), np.array(travelled)


def test_the_controller_tracks_a_moving_goal():
  gin.parse_config(['load_goal_cartpole.dynamic_goal = True'])
  finals, travelled = _moving_goal_episodes(SPEC.controller)
  print('goal_cartpole moving goal: final distance mean', finals.mean(), 'max', finals.max(),
        'goal travel mean', travelled.mean())
  # The goal moved several thresholds during the episode; the cart stayed on it.
  assert travelled.mean() > 5 * SPEC.success_threshold
  assert np.sum(finals < SPEC.success_threshold) >= 18, finals
  assert finals.mean() < SPEC.success_threshold / 2, finals

  def goal_at_rest(observation):
    observation = observation.copy()
    observation[6] = 0.0  # hide the goal's velocity
    return SPEC.controller(observation)

  # Without the goal's velocity in the goal state, the cart trails the goal.
  trailing, _ = _moving_goal_episodes(goal_at_rest)
  assert trailing.mean() > 3 * finals.mean(), trailing


def _discrete_falling_episodes(policy, episodes=20):
  """(final distances, episode lengths) of `policy` in the seed's set-up: discrete, ending at a fall."""
  gin.parse_config(["load_goal_cartpole.actions = 'discrete'",
                    'load_goal_cartpole.terminate_on_fall = True',
                    'load_goal_cartpole.goal_xmin = -1.5', 'load_goal_cartpole.goal_xmax = 1.5',
                    'load_goal_cartpole.max_episode_steps = 500'])
  py_env = envs.load_py_environment('goal_cartpole', 0)
  finals, lengths = [], []
  for _ in range(episodes):
    time_step, steps = py_env.reset(), 0
    while not time_step.is_last():
      time_step, steps = py_env.step(policy(time_step.observation)), steps + 1
    finals.append(SPEC.distance(time_step.observation))
    lengths.append(steps)
  return np.array(finals), np.array(lengths)


def test_discrete_actions_push_left_or_right_with_the_full_force():
  for action, force in ((0, -cartpole.MAX_FORCE), (1, cartpole.MAX_FORCE)):
    task = _task(actions='discrete')
    assert task.action_space.n == 2
    start = task.state.copy()
    task.step(action)
    np.testing.assert_allclose(task.state, cartpole.dynamics(start, force), atol=1e-12)
  gin.parse_config(["load_goal_cartpole.actions = 'discrete'"])
  spec = envs.load_py_environment('goal_cartpole', 0).action_spec()
  assert (spec.dtype, spec.shape, spec.minimum, spec.maximum) == (np.int32, (), 0, 1)


def test_terminate_on_fall_ends_the_episode_where_cartpole_v1_does():
  for terminate in (False, True):
    task = _task(terminate_on_fall=terminate)
    task.state = np.array([0.0, 0.15, 0.0, 0.0])  # leaning, not yet fallen
    steps = [task.step(np.zeros(1)) for _ in range(30)]
    ended = [step[2] for step in steps]
    assert any(ended) == terminate
    if terminate:  # the first step past 12 degrees, and not one before
      leans = np.abs([step[0][1] for step in steps])
      assert ended == list(leans > cartpole.FALL_ANGLE) and 0 < ended.index(True) < 29
  task = _task(terminate_on_fall=True)
  task.state = np.array([2.39, 0.0, 2.0, 0.0])  # about to reach the track's end
  assert task.step(np.zeros(1))[2]


def test_the_seeds_set_up_is_solvable_and_a_random_policy_falls_at_once():
  finals, lengths = _discrete_falling_episodes(controllers.goal_cartpole_bang_bang)
  assert np.all(lengths == 500), lengths  # it never falls
  assert np.sum(finals < SPEC.success_threshold) >= 18, finals
  rng = np.random.default_rng(0)
  _, random_lengths = _discrete_falling_episodes(lambda _: np.int32(rng.integers(2)))
  assert np.median(random_lengths) < 50, random_lengths


@pytest.mark.parametrize('name, value', [('actions', 'binary'), ('terminate_on_fall', 'yes')])
def test_bad_discrete_settings_fail_with_one_line(name, value):
  gin.parse_config([f'load_goal_cartpole.{name} = {value!r}'])
  with pytest.raises(config.ConfigError, match=f'load_goal_cartpole.{name}=') as error:
    envs.load_py_environment('goal_cartpole', 0)
  assert '\n' not in config.first_line(error.value)
