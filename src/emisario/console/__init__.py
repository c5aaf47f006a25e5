"""The web console: the seed's SMTP screen, its menus, and the demo mailbox page."""
