"""Workflows the end-to-end tests run in pods on the local node."""
