"""The domain: account resolution, SMTP diagnosis and policy, with no Django imports.

A test (``tests/core/test_no_django.py``) keeps it that way, so these rules can be read and
tested without a database or a web request.
"""
