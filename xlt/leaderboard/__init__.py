"""Leaderboard views of result records: tables and figures (the app's Leaderboard tab draws these)."""
