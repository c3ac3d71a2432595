"""Measurement library: backends, power sensors, the measuring loop and the collector."""
