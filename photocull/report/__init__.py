"""Reports: the rich summary table and the machine-readable JSON."""
