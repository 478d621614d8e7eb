"""Linking: the engine that decides an email's contacts and deal, thread rules, re-linking, choices
made by hand, and the explanation of a link.
"""
