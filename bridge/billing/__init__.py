"""The domain: plain Python over a Session (no Flask, no HTTP)."""
