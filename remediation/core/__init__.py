"""The pure core's vocabulary: typed data, ids, settings, errors, deadlines and ARM facts. Imports nothing above it."""
