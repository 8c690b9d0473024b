"""What `pip install .` installs: the shipped gin configs as package data, usable from any folder."""
import glob
import os
import shutil
import subprocess
import sys
import zipfile

from tests import train_eval_helpers as helpers

REPO = helpers.REPO


def _build_wheel(tmp_path):
  """Builds the package's wheel from a copy of the checkout (so no build/ is left in it)."""
  source = tmp_path / 'source'
  shutil.copytree(os.path.join(REPO, 'c_learning'), source / 'c_learning',
                  ignore=shutil.ignore_patterns('__pycache__'))
  shutil.copytree(os.path.join(REPO, 'gin'), source / 'gin')
  shutil.copy(os.path.join(REPO, 'setup.py'), source)
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                  '-w', str(tmp_path / 'dist'), str(source)], check=True, capture_output=True)
  wheel, = (tmp_path / 'dist').glob('c_learning-*.whl')
  return wheel


def test_a_plain_install_ships_gin_and_finds_it_from_any_folder(tmp_path):
  wheel = _build_wheel(tmp_path)
  site = tmp_path / 'site'
  with zipfile.ZipFile(wheel) as archive:
    shipped = {name: archive.read(name) for name in archive.namelist()
               if name.startswith('c_learning/gin/')}
    archive.extractall(site)
  gin_dir = os.path.join(REPO, 'gin')
  checkout = {f'c_learning/gin/{os.path.relpath(path, gin_dir)}': open(path, 'rb').read()
              for path in glob.glob(os.path.join(gin_dir, '**', '*.gin'), recursive=True)}
  assert 'c_learning/gin/setups/her.gin' in checkout
  assert shipped == checkout  # the checkout's gin/ is the source of what ships

  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  script = (
      'import gin\n'
      'from c_learning import config, train_eval  # train_eval registers its configurable\n'
      'print(config.SHIPPED_GIN_DIR)\n'
      "config.parse(['quickstart.gin'], [])\n"  # includes gin/sawyer_reach.gin, then gin/base.gin
      "print(gin.query_parameter('train_eval.env_name'), gin.query_parameter('train_eval.gamma'))\n")
  result = subprocess.run([sys.executable, '-c', script], cwd=elsewhere, capture_output=True,
                          text=True, env={**os.environ, 'PYTHONPATH': str(site)})
  assert result.returncode == 0, result.stderr[-3000:]
  shipped_dir, values = result.stdout.strip().splitlines()[-2:]
  assert shipped_dir == str(site / 'c_learning' / 'gin')
  assert values == 'sawyer_reach 0.99'
