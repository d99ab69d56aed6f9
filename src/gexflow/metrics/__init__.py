"""Scores, one module per task, each used identically for every model and peer of that task:
`synthetic` (generated expression against real held-out samples)."""
