"""Campaigns: versioned rules and the presets of the five cities, creating and changing a
campaign, its windows and stores, the in-memory directory of what is on sale, and the demo."""
