"""Shopify: orders in through its webhooks and GraphQL, refunds out through refundCreate."""
