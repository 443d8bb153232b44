"""Field mappings, value maps and rules, evaluated on plain data (DESIGN §3)."""
