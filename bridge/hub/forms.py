"""The Hub's forms (Flask-WTF: each carries its CSRF token). Labels and
messages are written by the templates, in the request's language."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField


class LoginForm(FlaskForm):
    email = EmailField()
    password = PasswordField()
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Logging out is a POST with the token: a link on another site cannot
    log a user out."""


class PasswordResetRequestForm(FlaskForm):
    email = EmailField()


class NewPasswordForm(FlaskForm):
    password = PasswordField()
    confirm = PasswordField()
