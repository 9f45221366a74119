"""The web app: JSON API, pages, and (later) event streams."""
