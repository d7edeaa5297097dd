"""The election service of the city hall voting pilot (see docs/operations.md)."""
