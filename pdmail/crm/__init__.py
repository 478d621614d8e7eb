"""Changes to the CRM and the team: contacts, deals, imports, users and their addresses, each with its re-links."""
