"""Preset rule sets shipped as data (TOML); see wx_backend.campaigns.rules."""
