"""measure/: metrics and statistics every layer may use (classification, QA, NER, retrieval; bootstrap, paired tests)."""

# QA metrics register themselves (chrf_pp, answer_language, gold_passage_recall, answer_supported).
from polyglot_transfer.measure import qa as _qa  # noqa: E402,F401
from polyglot_transfer.measure import ner as _ner  # noqa: F401,E402  (registers entity_f1 / entity_precision / entity_recall)
