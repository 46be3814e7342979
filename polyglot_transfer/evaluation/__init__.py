"""Evaluation: the compare runner, results, reports and run folders (the top of the package below the CLI)."""
