"""Batches: submit and inspect them (routes), their durable items and results (store), and the
runner that works through them."""
