"""Selling tokens with Stripe: the packs, Checkout, and the webhook that credits a payment exactly once."""
