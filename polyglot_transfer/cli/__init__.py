"""The `pgt` / `polyglot-transfer` command line: argument parsing only, over the Python API."""
