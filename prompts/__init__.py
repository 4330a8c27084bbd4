"""Teacher prompt templates (Jinja2) and the template teacher phrasebook, as package data."""
