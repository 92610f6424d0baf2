"""ledgerlake: the warehouse layer that connects a company's CRM, payments, bank and ledger."""

__version__ = "0.1.0"
