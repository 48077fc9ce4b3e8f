"""OKI Siaga 112 command-center engine: protocol, store, journal, feed, alerts.

This package never imports Qt; the ui package renders what it holds.
"""

__version__ = "0.1.0"
