"""Mail accounts: setting one up, the IMAP connection, known providers and secrets.

Below both ``sync`` and ``send``, which connect through it.
"""
