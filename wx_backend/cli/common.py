"""What every command group shares."""

from __future__ import annotations

import click

from wx_backend.core.errors import DomainError


def fail(error: Exception) -> click.ClickException:
    """A command's refusal, in the domain's own words when it has them."""
    message = error.message if isinstance(error, DomainError) else str(error)
    return click.ClickException(message)
