"""Many hosts and many runs: merge, compare, fleet, and whether repeated runs agree."""
