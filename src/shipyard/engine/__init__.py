"""The engine: runs plans with real processes, records what happens."""
