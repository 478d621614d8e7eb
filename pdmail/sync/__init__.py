"""2-way sync of mail accounts: the loop, its mail sources (IMAP, Maildir), downloads and ``--watch``."""
