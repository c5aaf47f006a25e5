"""OAuth 2.0 for SMTP accounts (Microsoft 365, Google): the SASL messages that carry a token.

Django-free, like the rest of :mod:`emisario.core`."""
