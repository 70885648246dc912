"""Durable llama-index-workflows runs: checkpoint after every step, resume after a crash."""
