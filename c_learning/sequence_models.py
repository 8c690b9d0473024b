"""Autoregressive models of discrete action sequences that end with an end token: GLAMOR's inverse dynamics model and action prior.

Paster, McIlraith, Ba, "Planning from Pixels using Inverse Dynamics Models",
ICLR 2021. A model gives p(a_1, ..., a_n, END | context) one token at a time:
an LSTM reads the context beside the previous token (a start token first) and
outputs logits over the A actions and the end token. With the context
(s_1, s_k) it is the inverse dynamics model p(a_1..a_{k-1} | s_1, s_k); with
s_1 alone, the action prior p(a_1..a_{k-1} | s_1). The end token lets one
model hold sequences of every length: a plan ends where it samples END.
"""
import tensorflow as tf


class ActionSequenceModel(tf.keras.layers.Layer):
  """p(a_1..a_n, END | context): an LSTM over the context and the previous token, logits over A actions and END."""

  def __init__(self, num_actions, lstm_units=64, **kwargs):
    """Creates the model.

    Args:
      num_actions: A; tokens 0..A-1 are actions, A is END, A + 1 the start
        token that the first step reads.
      lstm_units: width of the one-layer LSTM (GLAMOR's 64).
    """
    super().__init__(**kwargs)
    if not (isinstance(num_actions, int) and num_actions >= 1):
      raise ValueError(f'num_actions={num_actions!r}: must be an int >= 1.')
    self.num_actions = num_actions
    self.end_token = num_actions
    self.start_token = num_actions + 1
    self._cell = tf.keras.layers.LSTMCell(lstm_units, name='lstm')
    self._rnn = tf.keras.layers.RNN(self._cell, return_sequences=True, name='rnn')
    self._logits = tf.keras.layers.Dense(num_actions + 1, name='token_logits')

  def _inputs(self, context, previous_tokens):
    """Each step's input: the context beside the one-hot previous token, [B, T, C + A + 2]."""
    steps = tf.shape(previous_tokens)[1]
    context = tf.tile(tf.cast(context, tf.float32)[:, None, :], [1, steps, 1])
    return tf.concat([context, tf.one_hot(previous_tokens, self.num_actions + 2)], axis=-1)

  def sequence_logits(self, context, actions):
    """Logits [B, n + 1, A + 1] of each next token after the start token and each of `actions` [B, n]."""
    batch = tf.shape(actions)[0]
    previous = tf.concat([tf.fill([batch, 1], self.start_token), tf.cast(actions, tf.int32)],
                         axis=1)
    return self._logits(self._rnn(self._inputs(context, previous)))

  def log_likelihoods(self, context, actions):
    """log p(a_1..a_j, END | context) [B, n + 1] for every prefix length j = 0..n of `actions` [B, n].

    One pass over the sequence gives all of them: the sum of the prefix's
    action log-probabilities and the log-probability of END after it.
    """
    log_probs = tf.nn.log_softmax(self.sequence_logits(context, actions), axis=-1)
    actions = tf.cast(actions, tf.int32)
    action_log_probs = tf.gather(log_probs[:, :-1, :], actions, axis=2, batch_dims=2)
    prefix = tf.concat([tf.zeros_like(action_log_probs[:, :1]),
                        tf.cumsum(action_log_probs, axis=1)], axis=1)
    return prefix + log_probs[:, :, self.end_token]

  def initial_state(self, batch_size):
    """The LSTM's zero state for `batch_size` sequences, to step with next_token_logits."""
    return self._cell.get_initial_state(batch_size=batch_size, dtype=tf.float32)

  def next_token_logits(self, context, previous_tokens, state):
    """(logits [B, A + 1] of the next token, the new state) after `previous_tokens` [B] (the start token first)."""
    inputs = self._inputs(context, tf.cast(previous_tokens, tf.int32)[:, None])[:, 0]
    output, state = self._cell(inputs, state)
    return self._logits(output), state

  def call(self, inputs):
    """log_likelihoods((context, actions))."""
    context, actions = inputs
    return self.log_likelihoods(context, actions)
