"""estimator.train: training data -> fitted CatBoost models, held-out figures, baselines and profiles.

Imports estimator.predict and graph (and estimator.errors / estimator.files); never measure.
"""
