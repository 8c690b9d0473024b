"""Installs c_learning: C-learning and goal-conditioned baselines on TF-Agents."""
import setuptools

setuptools.setup(
    name='c_learning',
    version='0.1.0',
    description=('C-learning (goal-conditioned RL by recursive classification) '
                 'and goal-conditioned baselines on TF-Agents.'),
    packages=setuptools.find_packages(include=['c_learning', 'c_learning.*']),
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
    ],
    extras_require={
        'test': ['pytest'],
        'video': ['imageio', 'matplotlib', 'pyyaml'],
    },
    entry_points={
        'console_scripts': [
            'c_learning_train=c_learning.train_eval:run',
            'c_learning_evaluate=c_learning.evaluate:run',
        ],
    },
)
