"""Fuzzing the README's promises: seeded mutants of models and profiles, each run through `estimate`.

`python -m tests.fuzz --model-mutants 10000 --profile-mutants 1000` is the long run;
tests/fuzz/test_fuzz.py runs a short seeded one in the test suite.
"""
