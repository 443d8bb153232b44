"""The Xero emulator: identity (OAuth 2.0, /connections), the Accounting API, webhooks."""
