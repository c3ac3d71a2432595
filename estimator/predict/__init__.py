"""estimator.predict: layer records -> features -> a profile's models -> a Report -> renderers.

Imports graph only (and estimator.errors); nothing here trains or measures.
"""
