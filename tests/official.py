"""A follower of the official account, as WeChat's servers speak for them: messages built
as WeChat sends them, signed with wechatpy's signer and (safe mode) encrypted with
wechatpy's ``WeChatCrypto``, posted to the webhook; replies decrypted and parsed back."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from wx_backend import jobs

_msg_ids = itertools.count(int(time.time() * 1000))


def signature(token: str, timestamp: str, nonce: str) -> str:
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return signer.signature


def text_xml(openid: str, content: str, msg_id: int, to: str = "gh_devaccount",
             created: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{escape(content)}</Content><MsgId>{msg_id}</MsgId></xml>")


def event_xml(openid: str, event: str, key: str | None = None, to: str = "gh_devaccount",
              created: int | None = None) -> str:
    key_xml = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
    return (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event>{key_xml}</xml>")


@dataclass
class Answer:
    status: int
    body: bytes
    content: str | None  # the reply's text, when it is a text reply


class OfficialAccount:
    """Posts to ``/wechat/official`` as WeChat would, for any follower openid."""

    def __init__(self, app, client, encrypted: bool = False):
        config = app.config
        self.app = app
        self.client = client
        self.token = config["WECHAT_OFFICIAL_TOKEN"]
        self.encrypted = encrypted
        self.crypto = WeChatCrypto(self.token, config["WECHAT_OFFICIAL_AES_KEY"],
                                   config["WECHAT_OFFICIAL_APPID"])

    def params(self, timestamp: str | None = None, nonce: str | None = None) -> dict:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(8)
        return {"timestamp": timestamp, "nonce": nonce,
                "signature": signature(self.token, timestamp, nonce)}

    def post(self, xml: str | bytes, *, encrypted: bool | None = None, timestamp: str | None = None,
             nonce: str | None = None) -> Answer:
        encrypted = self.encrypted if encrypted is None else encrypted
        query = self.params(timestamp, nonce)
        body = xml
        if encrypted:
            wrapped = xmltodict.parse(self.crypto.encrypt_message(xml, query["nonce"],
                                                                  query["timestamp"]))["xml"]
            query.update(encrypt_type="aes", msg_signature=wrapped["MsgSignature"])
            body = f"<xml><ToUserName><![CDATA[gh_devaccount]]></ToUserName>" \
                   f"<Encrypt><![CDATA[{wrapped['Encrypt']}]]></Encrypt></xml>"
        response = self.client.post("/wechat/official", query_string=query,
                                    data=body.encode("utf-8") if isinstance(body, str)
                                    else body,
                                    headers={"Content-Type": "text/xml"})
        return Answer(response.status_code, response.data, self._content(response, encrypted,
                                                                          query))

    def _content(self, response, encrypted: bool, query: dict) -> str | None:
        if response.status_code != 200 or response.data in (b"success", b""):
            return None
        xml = response.data.decode()
        if encrypted:
            outer = xmltodict.parse(xml)["xml"]
            xml = self.crypto.decrypt_message(xml, outer["MsgSignature"], outer["TimeStamp"],
                                              outer["Nonce"])
        reply = xmltodict.parse(xml)["xml"]
        return reply.get("Content")

    def say(self, openid: str, content: str, msg_id: int | None = None, **options) -> Answer:
        return self.post(text_xml(openid, content, msg_id or next(_msg_ids)), **options)

    def event(self, openid: str, event: str, key: str | None = None, **options) -> Answer:
        return self.post(event_xml(openid, event, key), **options)


def run_jobs(app) -> int:
    """Run every queued job in this process, in the app's context; answers how many ran."""
    ran = 0
    with app.app_context():
        for name in jobs.QUEUES:
            queue = jobs.queue(name)
            while job_ids := queue.get_job_ids():
                job = queue.fetch_job(job_ids[0])
                queue.remove(job_ids[0])
                if job is not None:
                    job.perform()
                    ran += 1
    return ran
