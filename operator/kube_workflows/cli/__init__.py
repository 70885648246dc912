"""The `kwf` command line."""
