"""Who is asking, and what they may do: passwords, API tokens, site
signatures, and the one permission policy (``bridge.auth.policy``) that every
layer asks."""
