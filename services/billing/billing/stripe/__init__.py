"""The Stripe integration: the SDK client, Checkout Sessions, the usage/invoice sync worker and the webhook."""
