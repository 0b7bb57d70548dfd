"""The webhook WeChat calls for the official account: ``GET/POST /wechat/official``.

Every request is checked before it costs anything, in this order (each refusal is cheap
and changes nothing):

1. size: bodies over ``WECHAT_OFFICIAL_MAX_BODY`` bytes get 413 before they are read;
2. signature: ``signature`` over (token, timestamp, nonce) via wechatpy's
   ``check_signature``; a bad or missing one gets 403;
3. time: a ``timestamp`` more than ``WECHAT_OFFICIAL_MAX_SKEW`` seconds from our clock
   gets 403 (a captured request cannot be replayed later);
4. XML: a body with a DOCTYPE, an entity declaration or broken XML gets 400, checked with
   defusedxml before wechatpy (xmltodict) sees it, and again after decryption (see
   ``_checked_xml`` for the fast path taken by ordinary messages);
5. safe mode: ``msg_signature`` and the app id inside the ciphertext via wechatpy's
   ``WeChatCrypto``; plain bodies are refused when ``WECHAT_OFFICIAL_MODE`` is ``safe``;
6. replay and retries, in one Redis script: a ``nonce`` seen in the last
   ``NONCE_SECONDS`` gets 403; a message already answered (same ``MsgId``, or for events
   the same sender, time, event and key) gets WeChat's empty ``success``, so a retry of a
   slow answer never acts twice.

The bot must answer within WeChat's 5 seconds: what may take longer (calls to WeChat,
sending an SMS) is a job that answers with a customer-service message (``bot``).
"""

from __future__ import annotations

import logging
import re
import time
from xml.etree.ElementTree import ParseError

import redis
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_xml
from flask import Blueprint, Response, current_app, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature
from werkzeug.exceptions import RequestEntityTooLarge

from wx_backend.extensions import redis_store
from wx_backend.official_account import bot

bp = Blueprint("official_account", __name__, url_prefix="/wechat")

log = logging.getLogger(__name__)

# A nonce is remembered for twice the allowed clock skew: any request old enough to have
# been forgotten is refused by its timestamp.
NONCE_SECONDS = 600
# How long an answered message is remembered (WeChat retries three times within 15 s).
ANSWERED_SECONDS = 300
_NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DECLARATION = re.compile(r"<!(?!\[CDATA\[)")
# WeChat's safe-mode envelope carries the ciphertext (base64) in <Encrypt>.
_ENCRYPT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[)?([A-Za-z0-9+/=]+)(?:\]\]>)?\s*</Encrypt>")

# KEYS: nonce, message, the sender's conversation state, the knowledge base's version.
# ARGV: nonce ttl, message ttl. Returns {1} when the nonce was seen, {2} when the message
# was answered already, else {0, state, version}: what the bot needs, in the same trip.
_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return {1} end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) == false then return {2} end
return {0, redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
"""


class Refused(Exception):
    """A request the webhook will not act on; answered with ``status`` and ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _refusal(error: Refused) -> Response:
    return Response(error.reason + "\n", status=error.status, mimetype="text/plain")


def _crypto() -> WeChatCrypto | None:
    crypto = current_app.extensions.get("official_crypto")
    if crypto is None and current_app.config.get("WECHAT_OFFICIAL_AES_KEY"):
        crypto = WeChatCrypto(current_app.config["WECHAT_OFFICIAL_TOKEN"],
                              current_app.config["WECHAT_OFFICIAL_AES_KEY"],
                              current_app.config["WECHAT_OFFICIAL_APPID"])
        current_app.extensions["official_crypto"] = crypto
    return crypto


def _check_signed() -> tuple[str, str]:
    """The request's (timestamp, nonce) once its signature and time are right."""
    args = request.args
    signature, timestamp, nonce = (args.get("signature", ""), args.get("timestamp", ""),
                                   args.get("nonce", ""))
    if not (signature and timestamp.isascii() and timestamp.isdigit()
            and len(timestamp) <= 12 and _NONCE.match(nonce)):
        raise Refused(403, "missing or malformed signature parameters")
    try:
        check_signature(current_app.config["WECHAT_OFFICIAL_TOKEN"], signature, timestamp, nonce)
    except InvalidSignatureException:
        raise Refused(403, "invalid signature") from None
    if abs(time.time() - int(timestamp)) > current_app.config["WECHAT_OFFICIAL_MAX_SKEW"]:
        raise Refused(403, "timestamp too far from now")
    return timestamp, nonce


def _checked_xml(body: bytes | str) -> None:
    """Refuse DOCTYPEs, entity declarations and malformed XML.

    Entities can only be declared inside a DOCTYPE, and every declaration starts with
    ``<!``; in UTF-8 text with no ``<!`` other than CDATA openers there is none, and
    wechatpy's parser will find any other fault. Only a body with some other ``<!`` (a
    DOCTYPE, a comment, or ``<!`` typed inside a CDATA message) is parsed by defusedxml,
    which tells a declaration from text.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    if _DECLARATION.search(text) is None:
        return
    try:
        safe_xml(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Refused(400, "DOCTYPE and entity declarations are not accepted") from None
    except (ParseError, ValueError):
        raise Refused(400, "the body is not well-formed XML") from None


def _envelope(body: bytes) -> dict | bytes:
    """The envelope as wechatpy's decrypt takes it: the ciphertext found directly when the
    envelope has the usual shape (saves a second XML parse), else the body for wechatpy."""
    found = _ENCRYPT.search(body)
    return {"Encrypt": found.group(1).decode("ascii")} if found else body


def _read_body() -> bytes:
    limit = current_app.config["WECHAT_OFFICIAL_MAX_BODY"]
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, f"body larger than {limit} bytes")
    request.max_content_length = limit
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise Refused(413, f"body larger than {limit} bytes") from None
    if not body.strip():
        raise Refused(400, "empty body")
    return body


def _message_key(message) -> str:
    if message.type == "event":
        key = getattr(message, "key", "") or ""
        return f"wx:oa:event:{message.source}:{message.time}:{message.event}:{key[:64]}"
    if message.id is None:
        return f"wx:oa:msg:{message.source}:{message.time}"
    return f"wx:oa:msg:{message.id}"


@bp.get("/official")
def verify():
    """WeChat's URL check: echo ``echostr`` when the signature is ours."""
    try:
        _check_signed()
    except Refused as error:
        return _refusal(error)
    echostr = request.args.get("echostr", "")
    if not echostr or len(echostr) > 128:
        return _refusal(Refused(400, "missing echostr"))
    return Response(echostr, mimetype="text/plain")


@bp.post("/official")
def receive():
    """Check, decrypt, de-duplicate and answer one message or event from WeChat."""
    try:
        body = _read_body()
        timestamp, nonce = _check_signed()
        _checked_xml(body)
        crypto = None
        if request.args.get("encrypt_type", "raw").lower() == "aes":
            crypto = _crypto()
            if crypto is None:
                raise Refused(403, "encrypted messages are not configured "
                                   "(WECHAT_OFFICIAL_AES_KEY)")
            try:
                body = crypto.decrypt_message(_envelope(body),
                                              request.args.get("msg_signature", ""),
                                              timestamp, nonce)
            except (InvalidSignatureException, InvalidAppIdException):
                raise Refused(403, "invalid message signature") from None
            except Exception:  # noqa: BLE001 - bad base64, padding or framing inside
                raise Refused(400, "the encrypted message cannot be decrypted") from None
            _checked_xml(body)
        elif current_app.config["WECHAT_OFFICIAL_MODE"] == "safe":
            raise Refused(403, "plain messages are refused in safe mode")
        try:
            message = parse_message(body)
        except Exception:  # noqa: BLE001 - xmltodict/wechatpy on unexpected shapes
            raise Refused(400, "not a WeChat message") from None
        if message is None or not message.source:
            raise Refused(400, "not a WeChat message")
        try:
            found = _once_script()(keys=[f"wx:oa:nonce:{nonce}", _message_key(message),
                                         bot.state_key(message.source), bot.KNOWLEDGE_VERSION],
                                   args=[NONCE_SECONDS, ANSWERED_SECONDS])
        except redis.RedisError:
            log.error("official account: Redis unreachable, message not answered")
            raise Refused(503, "temporarily unavailable") from None
        if found[0] == 1:
            raise Refused(403, "nonce already used")
    except Refused as error:
        return _refusal(error)
    if found[0] == 2:
        return Response("success", mimetype="text/plain")
    state = found[1] if len(found) > 1 else None
    version = found[2] if len(found) > 2 else None
    reply = bot.answer(message, state or None, version or "0")
    if reply is None:
        return Response("success", mimetype="text/plain")
    xml = reply.render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, nonce, timestamp)
    return Response(xml, mimetype="application/xml")


def _once_script():
    script = current_app.extensions.get("official_once")
    if script is None:
        script = redis_store.client.register_script(_ONCE)
        current_app.extensions["official_once"] = script
    return script
