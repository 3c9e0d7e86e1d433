"""The conversation engine (channel-independent) and, in sub-packages, the channel adapters."""
