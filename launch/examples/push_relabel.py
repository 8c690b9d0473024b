"""A Python spec: sawyer_push with the hybrid MC+TD split swept (next + future = 0.5), 2 seeds.

A Python spec is handy when values are computed; it defines SPEC with the YAML keys.
Each split is its own task mapping so that next and future always add up to 0.5.
"""
SPLITS = [(0.5, 0.0), (0.3, 0.2), (0.1, 0.4)]

SPEC = {
    'name': 'push_relabel',
    'tasks': [{'name': f'sawyer_push_next{int(next_prob * 10)}',
               'gin_files': ['gin/sawyer_push.gin'],
               'bindings': {'goal_fn.relabel_next_prob': next_prob,
                            'goal_fn.relabel_future_prob': future_prob}}
              for next_prob, future_prob in SPLITS],
    'agents': ['c_learning'],
    'seeds': [1, 2],
    'bindings': ['train_eval.num_iterations=1000000'],
}
