"""The pure core of the engine: plan data, diffing helpers, the provider protocol, apply loop."""
