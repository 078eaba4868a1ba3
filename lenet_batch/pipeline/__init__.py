"""The stages as users run them (train, infer, summary) and the nightly that chains them under a lock."""
