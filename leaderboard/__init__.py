"""Leaderboard: result records (under `results/`), tables and figures built from them."""
