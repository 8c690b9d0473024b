"""Installs c_learning: C-learning and goal-conditioned baselines on TF-Agents."""
import setuptools

setuptools.setup(
    name='c_learning',
    version='0.1.0',
    description=('C-learning (goal-conditioned RL by recursive classification) '
                 'and goal-conditioned baselines on TF-Agents.'),
    packages=setuptools.find_packages(include=['c_learning', 'c_learning.*']) + ['c_learning.gin'],
    # The shipped task configs (and gin/setups/, the baselines' relabeling set-ups): gin/ in
    # the checkout is installed as c_learning/gin/, so
    # `--gin_file=sawyer_reach.gin` works after a plain `pip install .` from any folder.
    package_dir={'c_learning.gin': 'gin'},
    package_data={'c_learning.gin': ['*.gin', 'setups/*.gin'], 'c_learning.sweep': ['run_sweep.sh']},
    python_requires='>=3.10,<3.12',
    install_requires=[
        # TF 2.16+ brings Keras 3, which tf-agents 0.19 does not support.
        'tensorflow-cpu==2.15.1; platform_machine=="x86_64"',
        'tensorflow==2.15.1; platform_machine!="x86_64"',
        'tensorflow-probability==0.23.0',
        'tf-agents==0.19.0',
        'numpy<2',
        'gin-config>=0.5',
        'absl-py',
        'gymnasium',
        'mujoco==3.3.0',
        'metaworld==3.1.1',
        'pyyaml',  # sweep specs (launch/sweep.py)
        'imageio',  # GIFs of rollouts (c_learning_evaluate --video)
        'matplotlib',  # learning curves (benchmarks/learning.py)
        # Offline datasets (c_learning.collect, train_eval.dataset); 0.5.2 is the last
        # release that accepts numpy < 2, which TensorFlow 2.15 needs.
        'minari[hdf5]==0.5.2',
    ],
    extras_require={
        # gymnasium goal environments beyond the package's own (env_name 'gym:FetchReach-v4').
        'robotics': ['gymnasium-robotics==1.4.2'],
        # DeepMind Control Suite tasks (env_name 'dmc:cartpole'); 1.0.28 is the last release that
        # accepts metaworld's mujoco 3.3.0.
        'dmc': ['dm-control==1.0.28'],
        'test': ['pytest', 'gymnasium-robotics==1.4.2', 'dm-control==1.0.28'],
        # Kept for older install commands: videos and plots are now part of the package.
        'video': [],
    },
    entry_points={
        'console_scripts': [
            'c_learning_train=c_learning.train_eval:run',
            'c_learning_evaluate=c_learning.evaluate:run',
            'c_learning_collect=c_learning.collect:run',
        ],
    },
)
