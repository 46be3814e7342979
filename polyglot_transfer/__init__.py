"""polyglot-transfer: transfer learning to low-resource languages, with evidence."""

__version__ = "0.1.0"
