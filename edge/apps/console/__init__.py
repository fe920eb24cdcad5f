"""The local web console: ``edgeface console`` (or ``console.enabled`` with the daemon)."""
