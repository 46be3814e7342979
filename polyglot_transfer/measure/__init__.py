"""measure/: metrics and statistics every layer may use (classification, QA, NER, retrieval; bootstrap, paired tests)."""
