"""Customers, products and prices: the catalog billing syncs its plans into."""
