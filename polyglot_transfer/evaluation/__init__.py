"""Evaluation: metrics, per-example statistics (bootstrap, paired tests, multiple-comparison correction) and reports."""
