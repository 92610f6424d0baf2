"""The simulated company: one module per source system, sharing a clock and a registry.

- `clock.Clock`: start date, `as_of` date (the simulated "today"), go-live date, business days.
- `registry.Registry`: deterministic ids and the shared customers, vendors and receivables that
  every system (Stripe, bank, and later HubSpot, Shopify, QuickBooks) draws from.
- `stripe.simulate_stripe`, `bank.simulate_bank`: columnar (polars/numpy) simulation of each system;
  each returns its tables plus the ground truth it knows about.
- `wire`: turns simulated rows into the vendors' exact wire JSON objects, stored under `state/`.
"""
