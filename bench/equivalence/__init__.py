"""Equivalence and fidelity: every implementation against upstream, ids and vectors."""
