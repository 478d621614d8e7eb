"""Sending mail: composing, merge fields, the outbox, SMTP delivery and the copy in Sent."""
