"""Which source language to train on: features of (source, target) pairs, a ranker learned from the measured
transfer matrices, and its leave-one-target-language-out evaluation (`xlt rank`, scripts/ranker_table.py)."""
