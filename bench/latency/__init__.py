"""Latency and throughput: the timing method, the scenarios and settling, the sweep, the peak."""
