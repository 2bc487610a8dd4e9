"""Policies: safe YAML with locations, schema, the policy model, layering, checks against histories,
handbooks."""
