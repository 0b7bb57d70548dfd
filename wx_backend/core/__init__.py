"""What every capability leans on and that knows nothing of campaigns: the one clock, domain
errors, the personal-data vault, the WeChat API clients, and the embedded servers of the
development default."""
