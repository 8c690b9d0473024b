"""Writes a study's report folder: its specs, every eval as learning.csv, runs.csv and curves.png.

  python launch/report.py --spec launch/examples/pixels_reach.yaml \\
      --spec launch/examples/pixels_reach_td3_her.yaml --root ~/sweeps/pixels_reach \\
      --out docs/results/pixels_reach

The specs are those the study ran into --root with launch/sweep.py (local runs, or a
cloud sweep's runs/ copied down); a run that has not started yet has no rows.
"""
import argparse
import sys

from c_learning.sweep import report
from c_learning.sweep import spec as spec_lib


def main(argv=None):
  parser = argparse.ArgumentParser(prog='report.py', description=__doc__.split('\n')[0])
  parser.add_argument('--spec', action='append', required=True,
                      help='a spec the study ran (repeat for several run into one root)')
  parser.add_argument('--root', required=True, help='the root the runs were made under')
  parser.add_argument('--out', required=True, help='the report folder, e.g. docs/results/<study>')
  args = parser.parse_args(argv)
  try:
    sweeps = [spec_lib.load(path) for path in args.spec]
  except spec_lib.SpecError as error:
    sys.exit(f'report.py: {error}')
  rows = report.write(args.spec, sweeps, args.root, args.out)
  runs = sum(len(sweep.runs) for sweep in sweeps)
  print(f'{len(rows)} evals of {runs} runs -> {args.out}')


if __name__ == '__main__':
  main()
