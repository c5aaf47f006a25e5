"""Django settings: ``base`` for every deployment, ``test`` and ``demo`` on top of it."""
