"""The peer the official-account benchmark measures beside the real webhook.

``POST /wechat/official``: what any safe-mode WeChat webhook has to do and nothing more.
It checks ``signature`` (wechatpy's ``check_signature``), checks ``msg_signature`` and
decrypts the body (``WeChatCrypto.decrypt_message``), parses the message
(``wechatpy.parse_message``) and echoes its content back as an encrypted text reply
(``create_reply(...).render()``, then ``encrypt_message``). No Redis, no database, no
replay check and no bot.

Configured by the same variables as the real server: ``WECHAT_OFFICIAL_TOKEN``,
``WECHAT_OFFICIAL_AES_KEY`` and ``WECHAT_OFFICIAL_APPID``. Run under gunicorn with the same
workers and threads as the real server.
"""

import os

from flask import Flask, Response, request
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

TOKEN = os.environ["WECHAT_OFFICIAL_TOKEN"]
crypto = WeChatCrypto(TOKEN, os.environ["WECHAT_OFFICIAL_AES_KEY"],
                      os.environ["WECHAT_OFFICIAL_APPID"])
app = Flask(__name__)


@app.post("/wechat/official")
def receive():
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    try:
        check_signature(TOKEN, args.get("signature", ""), timestamp, nonce)
        xml = crypto.decrypt_message(request.get_data(), args.get("msg_signature", ""),
                                     timestamp, nonce)
    except (InvalidSignatureException, InvalidAppIdException):
        return Response("invalid signature\n", status=403, mimetype="text/plain")
    message = parse_message(xml)
    reply = create_reply(message.content, message=message).render()
    return Response(crypto.encrypt_message(reply, nonce, timestamp),
                    mimetype="application/xml")
