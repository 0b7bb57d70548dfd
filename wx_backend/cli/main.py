"""The ``wx-backend`` command: ``serve`` plus the app's commands (``wx_backend.cli``),
Flask's and Flask-Migrate's (``db``).

``wx-backend serve`` is what ``scripts/run`` calls: it resolves the configuration (starting
the embedded PostgreSQL, Redis and fake WeChat API in this process when no URLs are set),
applies migrations, then runs the web server and one job worker (``wx-backend worker``) as
child processes with the resolved URLs in their environment, so they connect to the same
servers and start nothing themselves.

The web server is granian by default (``--server``, ``WXB_SERVER``): its HTTP side is Rust,
and in ``scripts/bench_booking`` it answered the crowd after sell-out 4.7 times as
fast as gunicorn's threaded workers on the same app and cores, and the booking itself
faster too (figures in ``docs/scaling.md``). gunicorn stays available (``--server
gunicorn``); its worker timeout kills a request stuck for 30 s, which granian does not do.

Development mode (generated secrets, the fake WeChat API's ``dev-<name>`` logins, every
SMS code at ``/dev/outbox``) is served on a loopback address only; another address (``0.0.0.0``,
a LAN address, ``::``) stops ``serve`` unless ``--dev-on-network`` (``WXB_DEV_ON_NETWORK=1``)
says that everyone who can reach it may use all of that. Production mode's own refusals are
``config.check_production``'s.

The workers count their metrics in prometheus-client's multiprocess mode, so that
``/metrics`` adds up every worker's: in ``PROMETHEUS_MULTIPROC_DIR`` when it is set, else in
a fresh temporary folder made for this run and removed when it stops. A set folder is
emptied of an earlier run's files at the start (gunicorn's hooks in ``gunicorn_config.py``
beside this file, or here for granian).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import click
import gunicorn
from flask.cli import FlaskGroup, routes_command, shell_command
from flask_migrate import upgrade
from flask_migrate.cli import db as migrations_group

from wx_backend import ConfigError, create_app
from wx_backend.booking import first_come
from wx_backend.campaigns import demo
from wx_backend.cli import COMMANDS, gunicorn_config
from wx_backend.config import Config
from wx_backend.core import clock, redis_urls
from wx_backend.extensions import db
from wx_backend.models import Campaign

GUNICORN_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gunicorn_config.py")


class Commands(FlaskGroup):
    """Flask's group, except that listing the commands (``--help``) builds no app: every
    command of ours is attached to the group itself (``wx_backend.cli.COMMANDS``), so help
    prints at once, starting no embedded server and writing no ``instance/``. A command
    builds the app when it runs; a name not found here is still looked up in the app."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()  # those of installed packages (``spec``)
        return sorted(self.commands)


@click.group(cls=Commands, create_app=create_app, add_version_option=False,
             add_default_commands=False)
def cli():
    """Booking backend for scarce goods over WeChat."""


# Not in an app context: serve builds its own app once, after its own checks (FlaskGroup
# would build one first, starting the embedded servers before the bind is looked at).
@cli.command("serve", with_appcontext=False)
@click.option("--bind", default=lambda: os.environ.get("WXB_BIND", "127.0.0.1:5000"),
              show_default="127.0.0.1:5000 or $WXB_BIND", help="Address to listen on.")
@click.option("--workers", type=int,
              default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")),
              show_default="2 or $WEB_CONCURRENCY", help="gunicorn worker processes.")
@click.option("--threads", type=int, default=lambda: int(os.environ.get("WEB_THREADS", "4")),
              show_default="4 or $WEB_THREADS", help="Threads per worker.")
@click.option("--access-log/--no-access-log",
              default=lambda: os.environ.get("WXB_ACCESS_LOG", "1") != "0",
              help="Log every request to stdout (default on; WXB_ACCESS_LOG=0 turns it off).")
@click.option("--server", type=click.Choice(["granian", "gunicorn"]),
              default=lambda: os.environ.get("WXB_SERVER", "granian"),
              show_default="granian or $WXB_SERVER", help="The web server.")
@click.option("--jobs/--no-jobs", "run_jobs",
              default=lambda: os.environ.get("WXB_SERVE_JOBS", "1") != "0",
              help="Also run one job worker (notifications, the schedule) beside the web "
                   "server (default on; production usually runs `wx-backend worker` apart).")
@click.option("--dev-on-network", is_flag=True,
              default=lambda: os.environ.get("WXB_DEV_ON_NETWORK", "").strip().lower() in {
                  "1", "true", "yes", "on"},
              help="Serve development mode on an address other machines reach (refused "
                   "without it; also WXB_DEV_ON_NETWORK=1).")
def serve(bind: str, workers: int, threads: int, server: str, access_log: bool,
          run_jobs: bool, dev_on_network: bool) -> None:
    """Migrate the database and serve the app (granian or gunicorn), with a job worker."""
    try:
        if Config().WXB_MODE == "development" and not dev_on_network and not is_loopback(bind):
            raise ConfigError(
                f"development mode on {bind} would open it to the network: anyone who reaches "
                "it could log in as any dev-<name> resident through the fake WeChat API and "
                "read every SMS code at /dev/outbox. Bind a loopback address (--bind or "
                "WXB_BIND, e.g. 127.0.0.1:5000), or pass --dev-on-network (or set "
                "WXB_DEV_ON_NETWORK=1) if everyone who can reach it may do that")
        app = create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        prepare(app)

    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "WECHAT_API_BASE_URL", "WXB_MODE"):
        env[name] = str(app.config[name])
    env["WXB_INSTANCE_PATH"] = app.instance_path
    env["FAKE_WECHAT"] = "1" if app.config["FAKE_WECHAT"] else "0"
    env["DEV_TOOLS"] = "1" if app.config["DEV_TOOLS"] else "0"

    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    own_metrics_dir = None
    if not metrics_dir:
        own_metrics_dir = metrics_dir = tempfile.mkdtemp(prefix="wxb-metrics-")
    web_env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}

    if server == "granian":
        gunicorn_config.clear_stale(metrics_dir)
        command = granian_command(bind, workers, threads, access_log)
    else:
        command = gunicorn_command(bind, workers, threads, access_log)
    click.echo(f"wx-backend: serving on http://{bind} with {server} (mode "
               f"{app.config['WXB_MODE']}, instance {app.instance_path})", err=True)
    web = subprocess.Popen(command, env=web_env)
    children = [web]
    if run_jobs:
        children.append(subprocess.Popen([sys.executable, "-m", "wx_backend.cli", "worker"],
                                         env=env))

    def forward(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    code = web.wait()
    for child in children[1:]:
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
    if own_metrics_dir:
        shutil.rmtree(own_metrics_dir, ignore_errors=True)
    sys.exit(code if code >= 0 else 0)


def is_loopback(bind: str) -> bool:
    """Whether ``bind`` (HOST:PORT, [IPv6]:PORT or unix:PATH) listens only on this machine:
    a loopback address, a name all of whose addresses are loopback, or a Unix socket."""
    if bind.startswith("unix:"):
        return True
    host = bind.rpartition(":")[0].strip("[]") if ":" in bind else bind
    if not host:
        return False  # ":5000" listens on every interface
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: every address it stands for must be loopback
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(info[4][0]).is_loopback
                               for info in found)


def gunicorn_command(bind: str, workers: int, threads: int, access_log: bool, *,
                     target: str = "wx_backend.wsgi:app", folder: str | None = None) -> list[str]:
    """gunicorn serving ``target`` (imported from ``folder`` when given) with ``threads``
    threads per worker and the metrics hooks (``gunicorn_config.py``)."""
    command = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
               "--worker-class", "gthread", "--threads", str(threads),
               "--graceful-timeout", "10", "--config", GUNICORN_CONFIG]
    if access_log:
        command += ["--access-logfile", "-"]
    if gunicorn.version_info >= (27,):
        # One control socket per user by default: a second server would fight over it.
        command.append("--no-control-socket")
    if folder:
        command += ["--chdir", folder]
    return [*command, target]


def granian_command(bind: str, workers: int, threads: int, access_log: bool, *,
                    target: str = "wx_backend.wsgi:app", folder: str | None = None) -> list[str]:
    """granian serving the WSGI app ``target`` (imported from ``folder`` when given) with
    ``threads`` Python threads per worker; a worker that stops is started again, as
    gunicorn does. (``--backpressure`` is left at its default: set to the thread count, it
    left a request unanswered in ``tests/test_metrics.py``.)"""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {bind!r}", param_hint="--bind")
    command = [os.path.join(os.path.dirname(sys.executable), "granian"), "--interface", "wsgi",
               "--host", host.strip("[]"), "--port", port, "--workers", str(workers),
               "--blocking-threads", str(threads),
               "--respawn-failed-workers", "--workers-kill-timeout", "10", "--no-ws",
               "--access-log" if access_log else "--no-access-log"]
    if folder:
        command += ["--working-dir", folder]
    return [*command, target]


def prepare(app) -> None:
    """First-start work before serving: demo data (development) and Redis from PostgreSQL."""
    now = clock.now()
    if app.config["WXB_MODE"] == "development" and db.session.scalar(
            db.select(Campaign.id).limit(1)) is None:
        campaign = demo.load(db.session, now)
        click.echo(f"wx-backend: demo campaign {campaign.id} ({campaign.slug}) loaded", err=True)
    stock = app.extensions["stock"]
    if stock.needs_reconcile():
        done = first_come.reconcile(db.session, stock, now)
        click.echo(f"wx-backend: Redis rebuilt from the database ({done['windows']} windows, "
                   f"{done['claims']} claims)", err=True)
    db.session.remove()
    db.engine.dispose()
    # This process keeps no connection of its own: the embedded Redis shuts down with it
    # only when it is its last client.
    redis_urls.disconnect(stock.client)


for _command in (*COMMANDS, migrations_group, shell_command, routes_command):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point; a configuration error is a message, not a traceback."""
    try:
        cli.main(prog_name="wx-backend")
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
