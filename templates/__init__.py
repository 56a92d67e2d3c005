"""Jinja templates. Installed as the ``bridge_templates`` package so a wheel
carries them; the app finds them from there."""
