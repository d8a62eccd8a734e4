"""Measurements: each module measures one thing and returns records for results.json."""
