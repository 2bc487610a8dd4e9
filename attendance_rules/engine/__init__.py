"""Forward chaining over one pupil's facts, and what it produces: results, reasons, why-not,
distances."""
