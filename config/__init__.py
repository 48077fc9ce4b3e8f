"""Shipped default configuration (TOML), loaded with importlib.resources."""
