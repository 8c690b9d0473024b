"""Tests of the action-sequence models (GLAMOR's inverse dynamics model and prior): likelihoods step by step."""
import numpy as np
import pytest
import tensorflow as tf

from c_learning import sequence_models

NUM_ACTIONS = 3


def _model(seed=0):
  tf.random.set_seed(seed)
  model = sequence_models.ActionSequenceModel(NUM_ACTIONS, lstm_units=8)
  model((tf.zeros((1, 4)), tf.zeros((1, 2), tf.int32)))  # builds the weights
  return model


def _stepwise_log_likelihoods(model, context, actions):
  """log p(a_1..a_j, END | context) for every j, one next_token_logits call at a time."""
  batch, length = actions.shape
  state = model.initial_state(batch)
  previous = tf.fill([batch], model.start_token)
  prefix = np.zeros(batch)
  results = []
  for j in range(length + 1):
    logits, state = model.next_token_logits(context, previous, state)
    log_probs = tf.nn.log_softmax(logits).numpy()
    results.append(prefix + log_probs[:, model.end_token])
    if j < length:
      prefix = prefix + log_probs[np.arange(batch), actions[:, j]]
      previous = tf.constant(actions[:, j])
  return np.stack(results, axis=1)


def test_one_pass_gives_every_prefix_likelihood_as_stepping_does():
  model = _model()
  rng = np.random.RandomState(0)
  context = tf.constant(rng.randn(5, 4), tf.float32)
  actions = rng.randint(0, NUM_ACTIONS, (5, 6)).astype(np.int32)
  together = model.log_likelihoods(context, tf.constant(actions)).numpy()
  assert together.shape == (5, 7)
  np.testing.assert_allclose(together, _stepwise_log_likelihoods(model, context, actions),
                             rtol=1e-5, atol=1e-5)


def test_the_likelihoods_of_all_sequences_up_to_a_length_and_longer_ones_sum_to_one():
  """Every sequence of up to 2 actions followed by END, plus the mass of longer ones, is all of it."""
  model = _model(1)
  context = tf.constant(np.random.RandomState(1).randn(1, 4), tf.float32)
  total = 0.0
  sequences = [(a, b) for a in range(NUM_ACTIONS) for b in range(NUM_ACTIONS)]
  likelihoods = np.exp(model.log_likelihoods(
      tf.repeat(context, len(sequences), axis=0), tf.constant(sequences, tf.int32)).numpy())
  # Length 0 (END first) once, length 1 once per first action, length 2 for every pair.
  total = likelihoods[0, 0] + sum(likelihoods[3 * a, 1] for a in range(NUM_ACTIONS))
  total += likelihoods[:, 2].sum()
  # The rest: sequences that go on past 2 actions, p(a_1, a_2, not END).
  logits = model.sequence_logits(tf.repeat(context, len(sequences), axis=0),
                                 tf.constant(sequences, tf.int32))
  log_probs = tf.nn.log_softmax(logits).numpy()
  rows = np.arange(len(sequences))
  pair = np.exp(log_probs[rows, 0, [s[0] for s in sequences]]
                + log_probs[rows, 1, [s[1] for s in sequences]])
  longer = (pair * (1.0 - np.exp(log_probs[:, 2, model.end_token]))).sum()
  np.testing.assert_allclose(total + longer, 1.0, rtol=1e-5)


@pytest.mark.slow  # it trains
def test_training_on_one_sequence_makes_it_likely():
  model = _model(2)
  context = tf.constant([[1.0, 0.0, 0.0, 0.0]])
  actions = tf.constant([[2, 0, 1]])
  optimizer = tf.keras.optimizers.Adam(0.05)
  for _ in range(100):
    with tf.GradientTape() as tape:
      loss = -model.log_likelihoods(context, actions)[0, 3]
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
  assert float(tf.exp(-loss)) > 0.9


def test_a_bad_number_of_actions_is_one_line():
  with pytest.raises(ValueError, match='num_actions=0: must be an int >= 1'):
    sequence_models.ActionSequenceModel(0)
