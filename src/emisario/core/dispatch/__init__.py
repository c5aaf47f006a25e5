"""CRONUS's decisions, as pure functions over plain data: what an attempt's outcome means
(:mod:`.outcome`), when to try again (:mod:`.backoff`), whether an account may send now
(:mod:`.limits`, :mod:`.breaker`) and which account to try next (:mod:`.ladder`).

The worker in ``emisario.outbox`` reads the facts from the database and the SMTP session and
asks these modules; nothing here does I/O or imports Django, so every rule has socket-free
tests.
"""
