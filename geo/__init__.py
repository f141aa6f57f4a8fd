"""Pure geographic library: ingest, coordinates, H3 cells, boundaries, scoring, evaluation."""
