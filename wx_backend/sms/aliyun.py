"""The Aliyun backend: SMS through Aliyun's dysmsapi (2017-05-25) with the official SDK.

Calls:

- ``send``: ``SendSms`` for one number, ``TemplateParam`` as a JSON object by name.
- ``send_batch``: ``SendBatchSms`` (up to 100 numbers, one template code per call, so the
  messages are grouped by template code and batch token; ``PhoneNumberJson``,
  ``SignNameJson`` and ``TemplateParamJson`` are parallel JSON arrays). The batch token
  goes out as ``OutId``. A group of one goes by ``SendSms``.
- ``accepted``: ``QuerySendDetails`` per phone and per send date (yyyyMMdd, Beijing time)
  from ``since`` to today, 50 records a page, matching ``OutId`` against the batch token.
  The phones are asked concurrently on a small thread pool (``workers``, 8 by default), as
  a worker that died may leave thousands of messages in doubt. That API reports no
  ``BizId``, so a message found this way gets the id ``detail:<SendDate>`` (the provider's
  send time) instead.

``SendBatchSms`` answers one code for the whole call. When it refuses a call of several
messages with a code about a single number (an invalid number, one number's rate limit),
every message of that call is sent again by ``SendSms`` on its own, so each gets its own
outcome and the good numbers still go out.

How the SDK is pointed and how it fails: ``Config(endpoint="host[:port]",
protocol="http"|"https")``; connect and read timeouts (milliseconds) are set both on the
client and in ``RuntimeOptions`` with ``autoretry`` off (the caller owns retries). Business
refusals arrive as HTTP 200 with ``Code`` other than ``OK``; gateway refusals raise
``ClientException`` (4xx), ``ServerException`` (5xx) or ``ThrottlingException``; no answer
at all (timeout, refused connection) raises darabonba's ``UnretryableException``.

Refusals, by verdict and scope (``wx_backend.sms.provider`` says what the scopes do):

- retry, state unknown: timeout or connection error, HTTP 5xx, ``isp.SYSTEM_ERROR``,
  ``isp.GATEWAY_ERROR``, ``isp.UNKNOWN``, ``InternalError``, ``ServiceUnavailable``.
- retry, whole account: ``Throttling*`` (and the SDK's ``ThrottlingException``),
  ``isv.DAY_LIMIT_CONTROL``, ``isv.MONTH_LIMIT_CONTROL``, ``isv.AMOUNT_NOT_ENOUGH``,
  ``isv.OUT_OF_SERVICE``. Balance and quota are fixed by an operator without changing
  the message, so the message waits rather than being dropped; the warnings in the log
  and the retry limit of the caller make it visible.
- retry, this request: ``SignatureNonceUsed``.
- retry, this number: ``isv.BUSINESS_LIMIT_CONTROL`` (one number's per-minute, hour or
  day limit).
- give up, this number: ``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.DOMESTIC_NUMBER_NOT_SUPPORTED``.
- give up, this request (template, signature, parameters): ``isv.SMS_TEMPLATE_ILLEGAL``,
  ``isv.SMS_SIGNATURE_ILLEGAL``, ``isv.SMS_SIGN_ILLEGAL``, ``isv.SIGN_STATE_ILLEGAL``,
  ``isv.SMS_SIGNATURE_SCENE_ILLEGAL``, ``isv.TEMPLATE_MISSING_PARAMETERS``,
  ``isv.TEMPLATE_PARAMS_ILLEGAL``, ``isv.INVALID_PARAMETERS``, ``isv.INVALID_JSON_PARAM``,
  ``isv.PARAM_LENGTH_LIMIT``, ``isv.PARAM_NOT_SUPPORT_URL``, ``isv.BLACK_KEY_CONTROL_LIMIT``,
  ``isv.SMS_CONTENT_ILLEGAL``, ``isv.MOBILE_COUNT_OVER_LIMIT``, ``isv.EXTEND_CODE_ERROR``,
  ``Missing*``, ``InvalidParameter*``.
- give up, whole account (credentials, configuration): ``InvalidAccessKeyId*``,
  ``SignatureDoesNotMatch``, ``IncompleteSignature``, ``InvalidTimeStamp*``, ``Forbidden*``,
  ``isp.RAM_PERMISSION_DENY``, ``isv.PRODUCT_UN_SUBSCRIPT``, ``isv.PRODUCT_UNSUBSCRIBE``,
  ``isv.ACCOUNT_NOT_EXISTS``, ``isv.ACCOUNT_ABNORMAL``, ``isv.DENY_IP_RANGE``,
  ``InvalidAction*``, ``InvalidVersion``.
- any other code: give up, this request, so that an operator sees it; unless it reads
  like a timeout or a server fault, then retry with the state unknown.

Aliyun has no API-level code for a number on a blacklist (unsubscribed numbers fail later,
in the delivery report); an invalid number is the per-number refusal the API gives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from alibabacloud_dysmsapi20170525 import models as aliyun_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions
from Tea.exceptions import TeaException, UnretryableException

from wx_backend.core.clock import BEIJING
from wx_backend.core.pii import mask_phone
from wx_backend.sms.message import SendResult, SmsMessage, SmsOutcome, SmsSender, SmsSendError
from wx_backend.sms.provider import (
    ACCOUNT_GIVE_UP,
    ACCOUNT_RETRY,
    NUMBER_GIVE_UP,
    NUMBER_RETRY,
    REQUEST_GIVE_UP,
    REQUEST_RETRY,
    UNKNOWN_STATE,
    BatchLedger,
    CallFailed,
    Scope,
    Verdict,
    chunks,
    judge,
    missing_code_reason,
    ordered_params,
    parse_endpoint,
    parse_template_codes,
    parse_timeout,
    require,
    scrub,
    template_code,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 50
HISTORY = timedelta(days=30)
CLOCK_SLACK = timedelta(minutes=5)

CODES: dict[str, Verdict] = {
    "isp.SYSTEM_ERROR": UNKNOWN_STATE,
    "isp.GATEWAY_ERROR": UNKNOWN_STATE,
    "isp.UNKNOWN": UNKNOWN_STATE,
    "InternalError": UNKNOWN_STATE,
    "ServiceUnavailable": UNKNOWN_STATE,
    "isv.DAY_LIMIT_CONTROL": ACCOUNT_RETRY,
    "isv.MONTH_LIMIT_CONTROL": ACCOUNT_RETRY,
    "isv.AMOUNT_NOT_ENOUGH": ACCOUNT_RETRY,
    "isv.OUT_OF_SERVICE": ACCOUNT_RETRY,
    "SignatureNonceUsed": REQUEST_RETRY,
    "isv.BUSINESS_LIMIT_CONTROL": NUMBER_RETRY,
    "isv.MOBILE_NUMBER_ILLEGAL": NUMBER_GIVE_UP,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": NUMBER_GIVE_UP,
    "isv.SMS_TEMPLATE_ILLEGAL": REQUEST_GIVE_UP,
    "isv.SMS_SIGNATURE_ILLEGAL": REQUEST_GIVE_UP,
    "isv.SMS_SIGN_ILLEGAL": REQUEST_GIVE_UP,
    "isv.SIGN_STATE_ILLEGAL": REQUEST_GIVE_UP,
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": REQUEST_GIVE_UP,
    "isv.TEMPLATE_MISSING_PARAMETERS": REQUEST_GIVE_UP,
    "isv.TEMPLATE_PARAMS_ILLEGAL": REQUEST_GIVE_UP,
    "isv.INVALID_PARAMETERS": REQUEST_GIVE_UP,
    "isv.INVALID_JSON_PARAM": REQUEST_GIVE_UP,
    "isv.PARAM_LENGTH_LIMIT": REQUEST_GIVE_UP,
    "isv.PARAM_NOT_SUPPORT_URL": REQUEST_GIVE_UP,
    "isv.BLACK_KEY_CONTROL_LIMIT": REQUEST_GIVE_UP,
    "isv.SMS_CONTENT_ILLEGAL": REQUEST_GIVE_UP,
    "isv.MOBILE_COUNT_OVER_LIMIT": REQUEST_GIVE_UP,
    "isv.EXTEND_CODE_ERROR": REQUEST_GIVE_UP,
    "SignatureDoesNotMatch": ACCOUNT_GIVE_UP,
    "IncompleteSignature": ACCOUNT_GIVE_UP,
    "isp.RAM_PERMISSION_DENY": ACCOUNT_GIVE_UP,
    "isv.PRODUCT_UN_SUBSCRIPT": ACCOUNT_GIVE_UP,
    "isv.PRODUCT_UNSUBSCRIBE": ACCOUNT_GIVE_UP,
    "isv.ACCOUNT_NOT_EXISTS": ACCOUNT_GIVE_UP,
    "isv.ACCOUNT_ABNORMAL": ACCOUNT_GIVE_UP,
    "isv.DENY_IP_RANGE": ACCOUNT_GIVE_UP,
    "InvalidVersion": ACCOUNT_GIVE_UP,
}

PREFIXES: tuple[tuple[str, Verdict], ...] = (
    ("Throttling", ACCOUNT_RETRY),
    ("InvalidAccessKeyId", ACCOUNT_GIVE_UP),
    ("InvalidTimeStamp", ACCOUNT_GIVE_UP),
    ("Forbidden", ACCOUNT_GIVE_UP),
    ("InvalidAction", ACCOUNT_GIVE_UP),
    ("Missing", REQUEST_GIVE_UP),
    ("InvalidParameter", REQUEST_GIVE_UP),
)

_TEMPLATE_SETTINGS = {"isv.SMS_TEMPLATE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS",
                      "isv.TEMPLATE_PARAMS_ILLEGAL"}
_SIGN_SETTINGS = {"isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGN_ILLEGAL",
                  "isv.SIGN_STATE_ILLEGAL", "isv.SMS_SIGNATURE_SCENE_ILLEGAL"}


def classify(code: str, http_status: int | None = None) -> Verdict:
    """The verdict on an Aliyun refusal code (see the module docstring)."""
    if http_status is not None and http_status >= 500:
        return UNKNOWN_STATE
    return judge(code, CODES, PREFIXES)


def _reason(code: str, message: object, verdict: Verdict) -> str:
    """``code: message``, with the setting to check when configuration is at fault."""
    reason = f"{code}: {scrub(message)}" if message else code
    if verdict == ACCOUNT_GIVE_UP:
        return (reason + " (check ALIYUN_SMS_ACCESS_KEY_ID, ALIYUN_SMS_ACCESS_KEY_SECRET "
                "and the account's SMS service)")
    if code in _TEMPLATE_SETTINGS:
        return reason + " (check SMS_TEMPLATE_CODES)"
    if code in _SIGN_SETTINGS:
        return reason + " (check SMS_SIGN_NAME)"
    return reason


class AliyunSender(SmsSender):
    """Sends through Aliyun SMS; thread-safe (the SDK client keeps no per-call state)."""

    name = "aliyun"
    max_batch = 100

    def __init__(self, *, access_key_id: str, access_key_secret: str, sign_name: str,
                 template_codes: Mapping[str, str],
                 endpoint: str = "dysmsapi.aliyuncs.com", timeout: float = 10.0,
                 workers: int = 8):
        host, scheme = parse_endpoint("ALIYUN_SMS_ENDPOINT", endpoint)
        self.sign_name = sign_name
        self.template_codes = dict(template_codes)
        milliseconds = max(1, int(timeout * 1000))
        self._client = Client(Config(
            access_key_id=access_key_id, access_key_secret=access_key_secret,
            endpoint=host, protocol=scheme,
            connect_timeout=milliseconds, read_timeout=milliseconds))
        self._runtime = RuntimeOptions(autoretry=False, connect_timeout=milliseconds,
                                       read_timeout=milliseconds)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix="sms-aliyun")

    @classmethod
    def from_config(cls, config: Mapping) -> "AliyunSender":
        """Build from app settings; ConfigError says which setting is missing or malformed."""
        require(config, "aliyun", ("ALIYUN_SMS_ACCESS_KEY_ID", "ALIYUN_SMS_ACCESS_KEY_SECRET",
                                   "SMS_SIGN_NAME"))
        return cls(access_key_id=str(config["ALIYUN_SMS_ACCESS_KEY_ID"]).strip(),
                   access_key_secret=str(config["ALIYUN_SMS_ACCESS_KEY_SECRET"]).strip(),
                   sign_name=str(config["SMS_SIGN_NAME"]).strip(),
                   template_codes=parse_template_codes(config.get("SMS_TEMPLATE_CODES")),
                   endpoint=config.get("ALIYUN_SMS_ENDPOINT") or "dysmsapi.aliyuncs.com",
                   timeout=parse_timeout(config.get("SMS_TIMEOUT", 10)))

    def close(self) -> None:
        """Stop the pool's threads (for tests and shutdown)."""
        self._pool.shutdown(wait=True)

    # --- calls ----------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        """Run one SDK call; its response body, or CallFailed when there is no answer
        or the gateway refused it. Business refusals come back as a body to judge."""
        try:
            return getattr(self._client, method)(request, self._runtime).body
        except AlibabaCloudException as error:
            data = error.data if isinstance(error.data, dict) else {}
            code = str(error.code or data.get("Code") or f"HTTP {error.status_code}")
            verdict = (ACCOUNT_RETRY if isinstance(error, ThrottlingException)
                       else classify(code, error.status_code))
            raise CallFailed(_reason(code, data.get("Message") or error.message, verdict),
                             verdict) from None
        except UnretryableException as error:
            inner = getattr(error, "inner_exception", None) or error
            detail = getattr(inner, "message", None) or inner
            raise CallFailed(f"no answer from Aliyun SMS: {scrub(detail)}",
                             UNKNOWN_STATE) from None
        except TeaException as error:
            raise CallFailed(f"Aliyun SMS call failed: {scrub(error)}", UNKNOWN_STATE) from None

    def _send_sms(self, phone: str, code: str, params: Mapping[str, object],
                  out_id: str | None) -> str:
        """``SendSms`` to one number; its BizId, or CallFailed."""
        body = self._call("send_sms_with_options", aliyun_models.SendSmsRequest(
            phone_numbers=phone, sign_name=self.sign_name, template_code=code,
            template_param=json.dumps({name: str(value) for name, value in params.items()},
                                      ensure_ascii=False, separators=(",", ":")),
            out_id=out_id))
        if body.code != "OK":
            verdict = classify(str(body.code))
            raise CallFailed(_reason(str(body.code), body.message, verdict), verdict)
        return str(body.biz_id)

    # --- SmsSender ------------------------------------------------------------------

    def send(self, phone: str, template: str, params: Mapping[str, object]) -> SendResult:
        code = template_code(self.template_codes, template)
        if code is None:
            raise SmsSendError(missing_code_reason(template), retryable=False)
        try:
            biz_id = self._send_sms(phone, code, dict(ordered_params(template, params)), None)
        except CallFailed as failure:
            log.warning("aliyun refused sms to %s (%s): %s", mask_phone(phone), template,
                        failure.reason)
            raise SmsSendError(failure.reason, retryable=failure.verdict.retryable) from None
        log.info("aliyun sms %s to %s (%s)", biz_id, mask_phone(phone), template)
        return SendResult(self.name, biz_id)

    def send_batch(self, messages: Sequence[SmsMessage]) -> list[SmsOutcome]:
        ledger = BatchLedger(messages)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, message in enumerate(messages):
            code = template_code(self.template_codes, message.template,
                                 message.provider_template)
            if code is None:
                ledger.give_up_locally(index, missing_code_reason(message.template))
            else:
                groups.setdefault((code, message.batch), []).append(index)
        calls = 0
        for (code, batch), indices in groups.items():
            for chunk in chunks(indices, self.max_batch):
                if ledger.halted:
                    ledger.skip(chunk)
                    continue
                calls += 1
                self._send_chunk(ledger, code, batch, chunk)
        log.info("aliyun send_batch: %d messages, %d template groups, %d calls",
                 len(messages), len(groups), calls)
        return ledger.outcomes()

    def _send_chunk(self, ledger: BatchLedger, code: str, batch: str,
                    chunk: list[int]) -> None:
        """One ``SendBatchSms`` (or ``SendSms`` for one message) into the ledger."""
        if len(chunk) == 1:
            self._send_one(ledger, code, batch, chunk[0])
            return
        messages = [ledger.messages[index] for index in chunk]
        try:
            body = self._call("send_batch_sms_with_options", aliyun_models.SendBatchSmsRequest(
                phone_number_json=json.dumps([m.phone for m in messages]),
                sign_name_json=json.dumps([self.sign_name] * len(messages), ensure_ascii=False),
                template_code=code,
                template_param_json=json.dumps([{k: str(v) for k, v in m.params.items()}
                                                for m in messages],
                                               ensure_ascii=False, separators=(",", ":")),
                out_id=batch))
        except CallFailed as failure:
            log.warning("aliyun SendBatchSms of %d (%s) failed: %s", len(chunk), code,
                        failure.reason)
            ledger.call_failed(chunk, failure.reason, failure.verdict)
            return
        if body.code == "OK":
            for index in chunk:
                ledger.accept(index, str(body.biz_id))
            return
        verdict = classify(str(body.code))
        reason = _reason(str(body.code), body.message, verdict)
        if verdict.scope is Scope.NUMBER:
            log.info("aliyun SendBatchSms of %d refused for one number (%s); sending one by "
                     "one", len(chunk), body.code)
            for index in chunk:
                if ledger.halted:
                    ledger.skip([index])
                else:
                    self._send_one(ledger, code, batch, index)
            return
        log.warning("aliyun SendBatchSms of %d (%s) refused: %s", len(chunk), code, reason)
        ledger.call_failed(chunk, reason, verdict)

    def _send_one(self, ledger: BatchLedger, code: str, batch: str, index: int) -> None:
        message = ledger.messages[index]
        try:
            biz_id = self._send_sms(message.phone, code, message.params, batch)
        except CallFailed as failure:
            log.warning("aliyun refused sms to %s (%s): %s", mask_phone(message.phone), code,
                        failure.reason)
            if failure.verdict.scope is Scope.NUMBER:
                ledger.refuse(index, failure.reason, failure.verdict)
            else:
                ledger.call_failed([index], failure.reason, failure.verdict)
            return
        ledger.accept(index, biz_id)

    def accepted(self, messages: Sequence[SmsMessage], since: datetime) -> dict[str, str]:
        wanted: dict[str, dict[str, str]] = {}
        for message in messages:
            wanted.setdefault(message.phone, {})[message.batch] = message.key
        # The provider keeps its records by the real clock, not our (development) shifted one.
        now = datetime.now(timezone.utc)
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        start = max(min(since, now) - CLOCK_SLACK, now - HISTORY).astimezone(BEIJING).date()
        today = now.astimezone(BEIJING).date()
        days = [(start + timedelta(days=n)).strftime("%Y%m%d")
                for n in range((today - start).days + 1)]
        futures = [self._pool.submit(self._find, phone, batches, days)
                   for phone, batches in wanted.items()]
        found: dict[str, str] = {}
        failure: CallFailed | None = None
        for future in futures:
            try:
                found.update(future.result())
            except CallFailed as error:
                if error.verdict.scope is Scope.NUMBER and not error.verdict.retryable:
                    continue  # a number Aliyun calls invalid holds no messages
                failure = failure or error
        if failure is not None:
            raise SmsSendError(failure.reason, retryable=failure.verdict.retryable)
        return found

    def _find(self, phone: str, batches: Mapping[str, str], days: list[str]) -> dict[str, str]:
        """{key: id} of ``batches`` (token -> key) that Aliyun holds for ``phone``."""
        found: dict[str, str] = {}
        for day in days:
            page = 1
            while len(found) < len(batches):
                body = self._call("query_send_details_with_options",
                                  aliyun_models.QuerySendDetailsRequest(
                                      phone_number=phone, send_date=day, page_size=PAGE_SIZE,
                                      current_page=page))
                if body.code != "OK":
                    verdict = classify(str(body.code))
                    raise CallFailed(_reason(str(body.code), body.message, verdict), verdict)
                details = (body.sms_send_detail_dtos.sms_send_detail_dto
                           if body.sms_send_detail_dtos else None) or []
                for detail in details:
                    if detail.out_id in batches:
                        found.setdefault(batches[detail.out_id], f"detail:{detail.send_date}")
                if not details or page * PAGE_SIZE >= int(body.total_count or 0):
                    break
                page += 1
            if len(found) == len(batches):
                break
        return found
