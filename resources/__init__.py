"""Shipped data files (stylesheets, map page template, icons), loaded with importlib.resources."""
