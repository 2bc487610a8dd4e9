"""Policy assurance: validation, static defects, behaviour properties."""
