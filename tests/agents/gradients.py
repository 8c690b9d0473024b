"""Checks on actor gradients shared by the agents' loss tests."""
import numpy as np


def assert_gradient_is_the_chain_through(tape, loss, outputs, output_gradients, variables):
  """The loss's gradient in `variables` equals d(loss)/d(outputs) chained through `outputs` (on `tape`); returns it."""
  chained = tape.gradient(outputs, variables, output_gradients=output_gradients)
  direct = tape.gradient(loss, variables)
  for chain, grad in zip(chained, direct):
    np.testing.assert_allclose(grad.numpy(), chain.numpy(), rtol=1e-5, atol=1e-7)
  return direct
