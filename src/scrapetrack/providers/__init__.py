"""Where scraping runs happen: a base class and the Apify implementation."""
