"""Companies, account types, SMTP accounts and their audit trail (persistence and rules glue)."""
