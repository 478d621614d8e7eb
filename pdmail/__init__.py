"""pdmail: a sales team's email, linked to its contacts and deals, in one SQLite file."""

__version__ = "0.1.0"
