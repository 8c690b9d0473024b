"""Fixtures shared by the test files; a file opts in with pytest.mark.usefixtures."""
import gin
import pytest


@pytest.fixture
def clear_gin():
  """An empty gin config for the test, and none left behind after it."""
  gin.clear_config()
  yield
  gin.clear_config()
