"""scrapetrack: self-hosted creator-discovery scraping jobs with live progress."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scrapetrack")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
