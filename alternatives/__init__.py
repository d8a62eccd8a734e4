"""The implementations that are not ports, which the bench measures beside them (docs/DESIGN.md §9): the peers
(upstream as users run it today) and the interventions (cheaper fixes tried before a port)."""
