"""The ``wx-backend`` command: ``main`` builds the group and ``serve``; one module per
command group, each attached to the app here so that ``app.cli`` (and tests) find them."""

from flask import Flask

from wx_backend.cli.accounts import community_cli, editor_cli, operator_cli, staff_cli
from wx_backend.cli.campaigns import (
    bookings_cli,
    campaign_cli,
    demo_command,
    households_cli,
    reconcile_command,
    stores_cli,
)
from wx_backend.cli.delivery import delivery_cli
from wx_backend.cli.jobs import jobs_cli, worker_command
from wx_backend.cli.lottery import lottery_cli
from wx_backend.cli.official_account import official_account_cli
from wx_backend.cli.pii import residents_cli

COMMANDS = (reconcile_command, demo_command, campaign_cli, stores_cli, staff_cli,
            bookings_cli, worker_command, jobs_cli, editor_cli, official_account_cli,
            lottery_cli, delivery_cli, community_cli, households_cli, operator_cli,
            residents_cli)


def register_commands(app: Flask) -> None:
    """Attach every command to ``app.cli``; the ``wx-backend`` group finds them there."""
    for command in COMMANDS:
        app.cli.add_command(command)
