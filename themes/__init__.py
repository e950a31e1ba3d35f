"""The colour themes shipped with pe: TOML files, installed as package data
(`promptexecution.console.themes`, mapped here by setup.py)."""
