"""Tests of benchmarks/throughput.py: its timers run the real loops and alternate as documented."""
import pytest

from tests import benchmark_scripts

throughput = benchmark_scripts.load('throughput')


pytestmark = pytest.mark.usefixtures('clear_gin')


@pytest.mark.slow  # times a real run: the default suite's budget; python -m pytest -m slow runs it
def test_package_times_each_interval_after_the_first_and_pauses_between():
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
