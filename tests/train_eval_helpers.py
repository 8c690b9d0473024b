"""Shared helpers for tests that run train_eval: small-size bindings and summary readers."""
import glob
import os

import gin
import tensorflow as tf

from c_learning import config
from c_learning import registry
from c_learning import train_eval

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Small sizes so that a run takes seconds; what the tests check does not depend on them.
SMALL = [
    'train_eval.initial_collect_steps = 300',
    'train_eval.batch_size = 64',
    'CLearningAgent.actor_fc_layers = (32, 32)',
    'CLearningAgent.critic_fc_layers = (32, 32)',
    'ContrastiveAgent.actor_fc_layers = (32, 32)',
    'ContrastiveAgent.critic_fc_layers = (32, 32)',
    'SacHerAgent.actor_fc_layers = (32, 32)',
    'SacHerAgent.critic_fc_layers = (32, 32)',
    'Td3HerAgent.actor_fc_layers = (32, 32)',
    'Td3HerAgent.critic_fc_layers = (32, 32)',
    'GcslAgent.actor_fc_layers = (32, 32)',
    'GoalBcAgent.actor_fc_layers = (32, 32)',
    'WgcslAgent.actor_fc_layers = (32, 32)',
    'WgcslAgent.critic_fc_layers = (32, 32)',
    'train_eval.replay_buffer_capacity = 20000',
    'train_eval.num_eval_episodes = 2',
    'train_eval.eval_interval = 1000',
    'train_eval.train_checkpoint_interval = 1000',
    'train_eval.log_interval = 500',
    'train_eval.summary_interval = 100',
]


def run(root_dir, gin_files=(), bindings=()):
  """Parses like the command line does, then runs train_eval in this process."""
  gin.clear_config()
  registry.register_configurables()
  config.parse([os.path.join(REPO, f) for f in gin_files], list(bindings))
  try:
    return train_eval.train_eval(str(root_dir))
  finally:
    gin.clear_config()


def scalars(log_dir):
  """{tag: {step: value}} from every TensorBoard event file under log_dir."""
  values = {}
  for path in glob.glob(os.path.join(str(log_dir), 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        number = (value.simple_value if value.HasField('simple_value')
                  else float(tf.make_ndarray(value.tensor)))
        values.setdefault(value.tag, {})[event.step] = number
  return values
