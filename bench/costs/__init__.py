"""Costs: cold start, footprint, maintenance and the cost of a change."""
