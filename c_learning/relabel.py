"""Goal selection (obs_to_goal) and goal relabeling of sampled transitions (goal_fn)."""
import dataclasses
import enum
import math
from typing import NamedTuple, Optional

import gin
import tensorflow as tf

from c_learning import config
from c_learning import frames


@dataclasses.dataclass(frozen=True)
class GoalSlice:
  """The state dimensions [start_index, end_index) that a goal constrains."""
  start_index: int = 0
  end_index: Optional[int] = None

  def resolve(self, state_dim):
    """Returns (start, end) as ints within 0..state_dim; raises ConfigError if out of range."""
    end = state_dim if self.end_index is None else self.end_index
    if not (isinstance(self.start_index, int) and isinstance(end, int)
            and 0 <= self.start_index < end <= state_dim):
      raise config.ConfigError(
          f'obs_to_goal.start_index={self.start_index}, obs_to_goal.end_index='
          f'{self.end_index} select no valid goal slice: need 0 <= start_index '
          f'< end_index <= state_dim={state_dim} (end_index=None means state_dim).')
    return self.start_index, end

  def goal_dim(self, state_dim):
    start, end = self.resolve(state_dim)
    return end - start

  def __call__(self, states):
    """Selects the goal dimensions of a batch of states (last axis)."""
    return states[..., self.start_index:self.end_index]


@gin.configurable
def obs_to_goal(start_index=0, end_index=None):
  """Returns the GoalSlice that gin selects; end_index=None means all of the state."""
  return GoalSlice(start_index, end_index)


class GoalType(enum.IntEnum):
  """Where a relabeled goal came from; the critic's label and weight depend on it."""
  ORIG = 0  # the goal the episode was collected for
  NEXT = 1  # the next state of the same transition
  FUTURE = 2  # a later state of the same episode, offset ~ Geometric(1 - gamma)
  LAST = 3  # the last state of the same episode seen so far
  RANDOM = 4  # a state from another transition of the batch


class RelabeledTransition(NamedTuple):
  """A batch of transitions with relabeled goals, as the agents train on them ([B] outer dimension).

  Everything an agent needs is computed at sampling time, so that no agent
  needs to know how an observation is laid out. A pixel task's observations
  are dicts (c_learning.frames): 'pixels' (its stacked frames), 'goal_pixels'
  (the goal's frame) and 'state' (concat(state, goal) in state dimensions, the
  same goal), relabeled together.
  """
  # concat(state, goal), or a pixel observation: what policies and critics see.
  observation: tf.Tensor
  action: tf.Tensor
  # concat(next state, the same goal).
  next_observation: tf.Tensor
  # int32: the GoalType of each row's goal.
  goal_type: tf.Tensor
  # int32: k where the goal is the state k >= 1 steps after the row's state
  # (NEXT: 1; FUTURE and LAST: their offsets); NO_OFFSET for ORIG and RANDOM goals.
  future_offset: tf.Tensor
  # float32: the reward of reaching the goal at the next state (goal_fn.reward).
  reward: tf.Tensor


# future_offset of a goal that is not a later state of the row's own episode.
NO_OFFSET = -1


def next_state_reward(achieved_goal, goal):
  """1 where the next state's goal dimensions equal the goal exactly (the C-learning paper's Q-learning reward), else 0."""
  # Exact equality holds for NEXT goals, which copy the next state's dimensions.
  return tf.cast(tf.reduce_all(tf.equal(achieved_goal, goal), axis=-1), tf.float32)


@gin.configurable(denylist=config.denylist('threshold_reward'))
def threshold_reward(achieved_goal, goal, threshold=0.05):
  """1 where the next state's goal dimensions are within `threshold` (L2) of the goal (HER's reward), else 0."""
  return tf.cast(tf.norm(achieved_goal - goal, axis=-1) < threshold, tf.float32)


# goal_fn.reward -> the reward of reaching a goal: f(achieved goal, goal) -> [B].
REWARDS = {'next_state': next_state_reward, 'threshold': threshold_reward}


# The order in which goal kinds fill a batch; goal_type records it per row.
_GOAL_TYPE_ORDER = (GoalType.ORIG, GoalType.NEXT, GoalType.FUTURE,
                    GoalType.LAST, GoalType.RANDOM)


@dataclasses.dataclass(frozen=True)
class GoalRelabeler:
  """Relabels sampled transitions with goals in fixed proportions.

  Each batch gets round(p * batch) rows of each kind (deterministic counts keep
  the classifier's class balance exact); the remainder are random goals: the
  next state of another row of the same batch.
  """
  goal_slice: GoalSlice
  state_dim: int
  relabel_orig_prob: float = 0.0
  relabel_next_prob: float = 0.0
  relabel_future_prob: float = 0.0
  relabel_last_prob: float = 0.0
  reward: str = 'next_state'

  def __post_init__(self):
    probs = self.probabilities()
    for name, value in probs.items():
      if not 0.0 <= value <= 1.0:
        raise config.ConfigError(f'goal_fn.{name}={value}: must be in [0, 1].')
    if sum(probs.values()) > 1.0 + 1e-9:
      raise config.ConfigError(
          'goal_fn.' + ' + goal_fn.'.join(probs) +
          f' = {sum(probs.values()):g}: must be <= 1 (the rest are random goals).')
    self.goal_slice.resolve(self.state_dim)
    if self.reward not in REWARDS:
      raise config.ConfigError(f'goal_fn.reward={self.reward!r} is unknown; valid rewards: '
                               f'{", ".join(sorted(REWARDS))}.')

  def probabilities(self):
    return {'relabel_orig_prob': self.relabel_orig_prob,
            'relabel_next_prob': self.relabel_next_prob,
            'relabel_future_prob': self.relabel_future_prob,
            'relabel_last_prob': self.relabel_last_prob}

  def counts(self, batch_size):
    """Rows of each GoalType in a batch of batch_size, in _GOAL_TYPE_ORDER."""
    counts = [int(round(p * batch_size)) for p in self.probabilities().values()]
    if sum(counts) > batch_size:  # rounding up can overshoot by a row or two
      counts[-1] -= sum(counts) - batch_size
    return counts + [batch_size - sum(counts)]

  def __call__(self, sampled):
    """Relabels a replay.SampledTransition batch into a RelabeledTransition."""
    pixels = isinstance(sampled.observation, dict)
    batch_size = frames.state_of(sampled.observation).shape[0]
    if batch_size is None:
      raise ValueError('GoalRelabeler needs a static batch size.')
    counts = self.counts(batch_size)
    goal_type = tf.concat(
        [tf.fill([n], tf.constant(int(kind), tf.int32))
         for kind, n in zip(_GOAL_TYPE_ORDER, counts)], axis=0)
    # Another row's next state: a nonzero shift never maps a row to itself.
    shift = tf.random.uniform([batch_size], 1, max(batch_size, 2), tf.int32)
    other_row = (tf.range(batch_size) + shift) % batch_size

    def pick(orig, next_, future, last):
      """Each row's goal, from the candidates of every GoalType (RANDOM: another row's next)."""
      candidates = tf.stack([orig, next_, future, last, tf.gather(next_, other_row)], axis=1)
      return tf.gather(candidates, goal_type, axis=1, batch_dims=1)

    observation, next_observation = frames.state_of(sampled.observation), frames.state_of(
        sampled.next_observation)
    state = observation[:, :self.state_dim]
    next_state = next_observation[:, :self.state_dim]
    goal = pick(observation[:, self.state_dim:], self.goal_slice(next_state),
                self.goal_slice(frames.state_of(sampled.future_observation)[:, :self.state_dim]),
                self.goal_slice(frames.state_of(sampled.last_observation)[:, :self.state_dim]))
    no_offset = tf.fill([batch_size], NO_OFFSET)
    offsets = tf.stack([no_offset, tf.ones([batch_size], tf.int32), sampled.future_offset,
                        sampled.last_offset, no_offset], axis=1)
    observation = tf.concat([state, goal], axis=-1)
    next_observation = tf.concat([next_state, goal], axis=-1)
    if pixels:
      channels = sampled.observation[frames.GOAL_PIXELS].shape[-1]
      goal_frame = pick(sampled.observation[frames.GOAL_PIXELS],
                        sampled.next_observation[frames.PIXELS][..., -channels:],
                        sampled.future_observation[frames.PIXELS],
                        sampled.last_observation[frames.PIXELS])
      observation = {frames.STATE: observation, frames.GOAL_PIXELS: goal_frame,
                     frames.PIXELS: sampled.observation[frames.PIXELS]}
      next_observation = {frames.STATE: next_observation, frames.GOAL_PIXELS: goal_frame,
                          frames.PIXELS: sampled.next_observation[frames.PIXELS]}
    return RelabeledTransition(
        observation=observation,
        action=sampled.action,
        next_observation=next_observation,
        goal_type=goal_type,
        future_offset=tf.gather(offsets, goal_type, axis=1, batch_dims=1),
        # The reward is the state's: a pixel goal's frame came with its state.
        reward=self.reward_fn(self.goal_slice(next_state), goal))

  @property
  def reward_fn(self):
    """reward(achieved goal [B, G], goal [B, G]) -> [B], the function REWARDS names."""
    return REWARDS[self.reward]


@gin.configurable(denylist=config.denylist('goal_fn'))
def goal_fn(goal_slice, state_dim, relabel_next_prob=gin.REQUIRED,
            relabel_future_prob=gin.REQUIRED, relabel_orig_prob=0.0,
            relabel_last_prob=0.0, reward='next_state'):
  """Builds the GoalRelabeler; next and future proportions must be set explicitly.

  reward names each row's reward function in REWARDS: 'next_state' (default)
  or 'threshold' (its distance is threshold_reward.threshold).
  """
  return GoalRelabeler(goal_slice, state_dim, relabel_orig_prob=relabel_orig_prob,
                       relabel_next_prob=relabel_next_prob,
                       relabel_future_prob=relabel_future_prob,
                       relabel_last_prob=relabel_last_prob, reward=reward)


def check_c_learning_split(relabeler):
  """Raises unless relabel_next_prob + relabel_future_prob = 0.5, as TD C-learning requires."""
  total = relabeler.relabel_next_prob + relabeler.relabel_future_prob
  if not math.isclose(total, 0.5, abs_tol=1e-9):
    raise config.ConfigError(
        f'goal_fn.relabel_next_prob={relabeler.relabel_next_prob} + '
        f'goal_fn.relabel_future_prob={relabeler.relabel_future_prob} = {total:g}: '
        'C-learning requires the two to sum to 0.5.')
