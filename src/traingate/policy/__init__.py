"""Policy: the schema (model), loading with positions (load), explain and schema export."""
