"""SMTP: endpoints, the staged diagnosis behind Probar, and the advice it gives."""
