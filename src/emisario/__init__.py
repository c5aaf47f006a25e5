"""Emisario: the outgoing-mail system of the ERP's accounts-receivable module (CXC)."""

__version__ = "0.1.0"
