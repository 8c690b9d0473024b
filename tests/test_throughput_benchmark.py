"""Tests of benchmarks/throughput.py: its timers run the real loops and alternate as documented."""
import importlib.util
import os

import gin
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'benchmarks', 'throughput.py')


def _load_script():
  spec = importlib.util.spec_from_file_location('throughput_benchmark', SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


throughput = _load_script()


@pytest.fixture(autouse=True)
def clear_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_package_times_each_interval_after_the_first_and_pauses_between(tmp_path):
  calls = []
  rates = throughput.package(num_intervals=2, interval=10,
                             between=lambda: calls.append(len(calls)))
  # Three progress intervals: the first (tracing) is not timed; each is followed by `between`.
  assert len(rates) == 2 and len(calls) == 3
  assert all(rate > 0 for rate in rates)


def test_ceiling_timer_feeds_batches_both_ways():
  timed = throughput.ceiling()
  assert timed(3) > 0
  assert timed(3, from_variables=True) > 0
