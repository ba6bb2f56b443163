"""The read models: usage rollups and billing-event counts, filled from the streams and rebuilt from them."""
