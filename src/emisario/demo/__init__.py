"""The one-command demo: a real local mailbox (aiosmtpd) that Probar and CRONUS can send to."""
