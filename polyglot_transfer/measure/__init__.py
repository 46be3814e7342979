"""measure/: metrics and statistics every layer may use (classification, QA, NER, retrieval; bootstrap, paired tests)."""

from polyglot_transfer.measure import ner as _ner  # noqa: F401,E402  (registers entity_f1 / entity_precision / entity_recall)
