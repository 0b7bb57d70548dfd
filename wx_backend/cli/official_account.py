"""``wx-backend official-account …``: the account's menu, set through wechatpy."""

from __future__ import annotations

import json

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from wechatpy.exceptions import WeChatClientException

from wx_backend.core.wechat import official_account_client

official_account_cli = AppGroup("official-account", help="The WeChat official account.")


def menu_data(miniprogram_appid: str) -> dict:
    """The menu: book in the mini-program; my booking; rules and latest announcement."""
    return {"button": [
        {"type": "miniprogram", "name": "口罩预约", "appid": miniprogram_appid,
         "pagepath": "pages/index/index", "url": "https://mp.weixin.qq.com"},
        {"type": "click", "name": "我的预约", "key": "MY_BOOKING"},
        {"name": "规则公告", "sub_button": [
            {"type": "click", "name": "预约规则", "key": "RULES"},
            {"type": "click", "name": "最新公告", "key": "LATEST_ANNOUNCEMENT"},
        ]},
    ]}


@official_account_cli.command("menu")
@click.option("--show", is_flag=True, help="Print the menu WeChat has now instead of setting it.")
@click.option("--dry-run", is_flag=True, help="Print the menu that would be set.")
def menu_command(show: bool, dry_run: bool) -> None:
    """Set the official account's menu (my booking, rules, latest announcement, booking)."""
    wanted = menu_data(current_app.config["WECHAT_MINIPROGRAM_APPID"])
    if dry_run:
        click.echo(json.dumps(wanted, ensure_ascii=False, indent=2))
        return
    client = official_account_client()
    try:
        if show:
            click.echo(json.dumps(client.menu.get(), ensure_ascii=False, indent=2))
            return
        client.menu.create(wanted)
    except WeChatClientException as error:
        raise click.ClickException(f"WeChat refused: {error.errcode} {error.errmsg}") from None
    except requests.RequestException as error:
        raise click.ClickException(f"WeChat unreachable: {error.__class__.__name__}") from None
    click.echo(f"menu set: {len(wanted['button'])} buttons "
               f"({', '.join(b['name'] for b in wanted['button'])})")
