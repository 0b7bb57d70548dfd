"""The Tencent backend: SMS through Tencent Cloud's SMS API (2021-01-11) with the official SDK.

Calls:

- ``send``: ``SendSms`` for one number.
- ``send_batch``: ``SendSms`` with up to 200 numbers per request. Its ``TemplateParamSet``
  is positional and shared by every number of a request, so messages with the same template
  code, parameters and batch token go together and personalised messages go one request
  each. The requests run concurrently on a small thread pool (``workers``, 16 by default),
  each pool thread with its own SDK client (the SDK keeps one ``requests`` session per
  client, whose connection pool holds ten connections). Phone numbers go out as ``+86…``,
  parameters in the template's placeholder order, the batch token as ``SessionContext``.
  Each number's result comes back in ``SendStatusSet``.
- ``accepted``: ``PullSmsSendStatusByPhoneNumber`` per phone from ``since`` (at most seven
  days back) to now, matching ``SessionContext`` against the batch token. The API reads at
  most 100 records from offset 0, so a full page without the wanted tokens is asked again
  in two halves of the time window (records of one phone within one second beyond the
  hundredth stay out of reach). Caution: this API pulls delivery status reports, so
  Tencent may list a message only once its report is in, usually seconds after acceptance;
  ask some time after the failed call, not at once.

How the SDK is pointed and how it fails: ``HttpProfile(endpoint="host[:port]",
protocol="http"|"https", reqTimeout=seconds)``; the timeout applies to connecting and to
each read. Every failure raises ``TencentCloudSDKException``: ``Response.Error`` codes as
they are, ``ClientNetworkError`` when there is no answer (timeout, refused connection),
``ServerNetworkError`` for any HTTP status but 200, and the Python exception's name when
an answer cannot be read.

Refusals, by verdict and scope (``wx_backend.sms.provider`` says what the scopes do):

- retry, state unknown: ``ClientNetworkError`` (timeout, connection), ``ServerNetworkError``
  (HTTP status other than 200), an unreadable answer, ``InternalError*`` except the four
  given up on below.
- retry, whole account: ``RequestLimitExceeded*``, ``LimitExceeded.AppDailyLimit``,
  ``LimitExceeded.DailyLimit``, ``LimitExceeded.AppMainlandChinaDailyLimit``,
  ``LimitExceeded.AppGlobalDailyLimit``, ``FailedOperation.InsufficientBalanceInSmsPackage``,
  ``UnauthorizedOperation.ServiceSuspendDueToArrears``. Quota and balance are fixed by an
  operator without changing the message, so the message waits rather than being dropped.
- retry, this number: ``LimitExceeded.PhoneNumberDailyLimit``,
  ``LimitExceeded.PhoneNumberOneHourLimit``, ``LimitExceeded.PhoneNumberThirtySecondLimit``,
  ``LimitExceeded.PhoneNumberSameContentDailyLimit``, ``LimitExceeded.DeliveryFrequencyLimit``.
- give up, this number: ``InvalidParameterValue.IncorrectPhoneNumber``,
  ``FailedOperation.PhoneNumberInBlacklist``, ``FailedOperation.PhoneNumberParseFail``,
  ``UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber``,
  ``UnsupportedOperation.ContainDomesticPhoneNumber``,
  ``UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone``,
  ``LimitExceeded.AppCountryOrRegionInBlacklist``.
- give up, this request (template, signature, parameters):
  ``FailedOperation.Template*`` (``TemplateIncorrectOrUnapproved``,
  ``TemplateParamSetNotMatchApprovedTemplate``...), ``FailedOperation.Signature*``,
  ``FailedOperation.MissingSignature``, ``InvalidParameter*`` (but ``SdkAppIdNotExist``),
  ``MissingParameter*``, ``LimitExceeded.PhoneNumberCountLimit``,
  ``InternalError.JsonParseFail``, ``InternalError.SigFieldMissing``,
  ``InternalError.SigVerificationFail``, ``InternalError.RestApiInterfaceNotExist``.
- give up, whole account (credentials, configuration): ``AuthFailure*``,
  ``UnauthorizedOperation*`` (but arrears), ``InvalidParameterValue.SdkAppIdNotExist``,
  ``UnsupportedRegion``, ``UnsupportedOperation.UnsupportedRegion``, ``InvalidAction``,
  ``NoSuchVersion``, ``ActionOffline``, ``IpInBlacklist``, ``IpNotInWhitelist``.
- any other code: give up, this request, so that an operator sees it; unless it reads
  like a timeout or a server fault, then retry with the state unknown.

A number-scoped code that refuses a whole request of several numbers makes the adapter ask
again number by number, as the Aliyun adapter does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as tencent_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from wx_backend.core.pii import mask_phone
from wx_backend.sms.message import SendResult, SmsMessage, SmsOutcome, SmsSender, SmsSendError
from wx_backend.sms.provider import (
    ACCOUNT_GIVE_UP,
    ACCOUNT_RETRY,
    NUMBER_GIVE_UP,
    NUMBER_RETRY,
    REQUEST_GIVE_UP,
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

NUMBERS_PER_REQUEST = 200
PULL_LIMIT = 100
HISTORY = timedelta(days=7) - timedelta(minutes=5)
CLOCK_SLACK = timedelta(minutes=5)

# Exceptions the SDK wraps under their Python name when an answer cannot be read.
_UNREADABLE = {"JSONDecodeError", "KeyError", "TypeError", "ValueError", "AttributeError"}

CODES: dict[str, Verdict] = {
    "ClientNetworkError": UNKNOWN_STATE,
    "ServerNetworkError": UNKNOWN_STATE,
    **{name: UNKNOWN_STATE for name in _UNREADABLE},
    "InternalError.JsonParseFail": REQUEST_GIVE_UP,
    "InternalError.SigFieldMissing": REQUEST_GIVE_UP,
    "InternalError.SigVerificationFail": REQUEST_GIVE_UP,
    "InternalError.RestApiInterfaceNotExist": REQUEST_GIVE_UP,
    "LimitExceeded.AppDailyLimit": ACCOUNT_RETRY,
    "LimitExceeded.DailyLimit": ACCOUNT_RETRY,
    "LimitExceeded.AppMainlandChinaDailyLimit": ACCOUNT_RETRY,
    "LimitExceeded.AppGlobalDailyLimit": ACCOUNT_RETRY,
    "FailedOperation.InsufficientBalanceInSmsPackage": ACCOUNT_RETRY,
    "UnauthorizedOperation.ServiceSuspendDueToArrears": ACCOUNT_RETRY,
    "LimitExceeded.PhoneNumberDailyLimit": NUMBER_RETRY,
    "LimitExceeded.PhoneNumberOneHourLimit": NUMBER_RETRY,
    "LimitExceeded.PhoneNumberThirtySecondLimit": NUMBER_RETRY,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": NUMBER_RETRY,
    "LimitExceeded.DeliveryFrequencyLimit": NUMBER_RETRY,
    "InvalidParameterValue.IncorrectPhoneNumber": NUMBER_GIVE_UP,
    "FailedOperation.PhoneNumberInBlacklist": NUMBER_GIVE_UP,
    "FailedOperation.PhoneNumberParseFail": NUMBER_GIVE_UP,
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": NUMBER_GIVE_UP,
    "UnsupportedOperation.ContainDomesticPhoneNumber": NUMBER_GIVE_UP,
    "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone": NUMBER_GIVE_UP,
    "LimitExceeded.AppCountryOrRegionInBlacklist": NUMBER_GIVE_UP,
    "LimitExceeded.PhoneNumberCountLimit": REQUEST_GIVE_UP,
    "InvalidParameterValue.SdkAppIdNotExist": ACCOUNT_GIVE_UP,
    "UnsupportedRegion": ACCOUNT_GIVE_UP,
    "UnsupportedOperation.UnsupportedRegion": ACCOUNT_GIVE_UP,
    "InvalidAction": ACCOUNT_GIVE_UP,
    "NoSuchVersion": ACCOUNT_GIVE_UP,
    "ActionOffline": ACCOUNT_GIVE_UP,
    "IpInBlacklist": ACCOUNT_GIVE_UP,
    "IpNotInWhitelist": ACCOUNT_GIVE_UP,
}

PREFIXES: tuple[tuple[str, Verdict], ...] = (
    ("InternalError", UNKNOWN_STATE),
    ("RequestLimitExceeded", ACCOUNT_RETRY),
    ("AuthFailure", ACCOUNT_GIVE_UP),
    ("UnauthorizedOperation", ACCOUNT_GIVE_UP),
    ("FailedOperation.Template", REQUEST_GIVE_UP),
    ("FailedOperation.Signature", REQUEST_GIVE_UP),
    ("FailedOperation.MissingSignature", REQUEST_GIVE_UP),
    ("InvalidParameter", REQUEST_GIVE_UP),
    ("MissingParameter", REQUEST_GIVE_UP),
)


def classify(code: str) -> Verdict:
    """The verdict on a Tencent error code (see the module docstring)."""
    return judge(code, CODES, PREFIXES)


def _reason(code: str, message: object, verdict: Verdict) -> str:
    """``code: message``, with the setting to check when configuration is at fault."""
    reason = f"{code}: {scrub(message)}" if message else code
    if verdict == ACCOUNT_GIVE_UP:
        return (reason + " (check TENCENT_SMS_SECRET_ID, TENCENT_SMS_SECRET_KEY, "
                "TENCENT_SMS_SDK_APP_ID and TENCENT_SMS_REGION)")
    if code.startswith("FailedOperation.Template"):
        return reason + " (check SMS_TEMPLATE_CODES)"
    if code.startswith(("FailedOperation.Signature", "FailedOperation.MissingSignature")):
        return reason + " (check SMS_SIGN_NAME)"
    return reason


def e164(phone: str) -> str:
    """``+86`` and the mainland number; numbers given with a country code stay as they are."""
    return phone if phone.startswith("+") else "+86" + phone


class TencentSender(SmsSender):
    """Sends through Tencent Cloud SMS; thread-safe, one SDK client per thread."""

    name = "tencent"
    max_batch = NUMBERS_PER_REQUEST

    def __init__(self, *, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str,
                 template_codes: Mapping[str, str], region: str = "ap-guangzhou",
                 endpoint: str = "sms.tencentcloudapi.com", timeout: float = 10.0,
                 workers: int = 16):
        self._host, self._scheme = parse_endpoint("TENCENT_SMS_ENDPOINT", endpoint)
        self._credential = credential.Credential(secret_id, secret_key)
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.template_codes = dict(template_codes)
        self.region = region
        self.timeout = timeout
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix="sms-tencent")

    @classmethod
    def from_config(cls, config: Mapping) -> "TencentSender":
        """Build from app settings; ConfigError says which setting is missing or malformed."""
        require(config, "tencent", ("TENCENT_SMS_SECRET_ID", "TENCENT_SMS_SECRET_KEY",
                                    "TENCENT_SMS_SDK_APP_ID", "SMS_SIGN_NAME"))
        return cls(secret_id=str(config["TENCENT_SMS_SECRET_ID"]).strip(),
                   secret_key=str(config["TENCENT_SMS_SECRET_KEY"]).strip(),
                   sdk_app_id=str(config["TENCENT_SMS_SDK_APP_ID"]).strip(),
                   sign_name=str(config["SMS_SIGN_NAME"]).strip(),
                   template_codes=parse_template_codes(config.get("SMS_TEMPLATE_CODES")),
                   region=config.get("TENCENT_SMS_REGION") or "ap-guangzhou",
                   endpoint=config.get("TENCENT_SMS_ENDPOINT") or "sms.tencentcloudapi.com",
                   timeout=parse_timeout(config.get("SMS_TIMEOUT", 10)))

    def close(self) -> None:
        """Stop the pool's threads (for tests and shutdown)."""
        self._pool.shutdown(wait=True)

    # --- calls ----------------------------------------------------------------------

    def _client(self) -> SmsClient:
        client = getattr(self._local, "client", None)
        if client is None:
            profile = ClientProfile(httpProfile=HttpProfile(
                protocol=self._scheme, endpoint=self._host, reqTimeout=self.timeout))
            client = SmsClient(self._credential, self.region, profile)
            self._local.client = client
        return client

    def _call(self, action: str, request: Any) -> Any:
        """Run one SDK call; its response, or CallFailed with the judged refusal."""
        try:
            return getattr(self._client(), action)(request)
        except TencentCloudSDKException as error:
            code = str(error.code or "UnknownError")
            verdict = classify(code)
            if verdict.scope is Scope.UNKNOWN and code in ("ClientNetworkError",
                                                           "ServerNetworkError"):
                reason = f"no usable answer from Tencent SMS ({code}): {scrub(error.message)}"
            else:
                reason = _reason(code, error.message, verdict)
            raise CallFailed(reason, verdict) from None

    def _send_request(self, phones: Sequence[str], code: str, params: Sequence[str],
                      session: str | None) -> dict[str, Any]:
        """One ``SendSms``; each number's ``SendStatus`` by its E.164 form."""
        request = tencent_models.SendSmsRequest()
        request.PhoneNumberSet = [e164(phone) for phone in phones]
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = code
        request.TemplateParamSet = list(params)
        if session is not None:
            request.SessionContext = session
        response = self._call("SendSms", request)
        statuses = response.SendStatusSet or []
        return {status.PhoneNumber: status for status in statuses}

    # --- SmsSender ------------------------------------------------------------------

    def send(self, phone: str, template: str, params: Mapping[str, object]) -> SendResult:
        code = template_code(self.template_codes, template)
        if code is None:
            raise SmsSendError(missing_code_reason(template), retryable=False)
        values = [value for _, value in ordered_params(template, params)]
        try:
            status = self._send_request([phone], code, values, None).get(e164(phone))
        except CallFailed as failure:
            log.warning("tencent refused sms to %s (%s): %s", mask_phone(phone), template,
                        failure.reason)
            raise SmsSendError(failure.reason, retryable=failure.verdict.retryable) from None
        if status is None:
            raise SmsSendError("Tencent SMS answered without a status for the number",
                               retryable=True)
        if status.Code != "Ok":
            verdict = classify(str(status.Code))
            reason = _reason(str(status.Code), status.Message, verdict)
            log.warning("tencent refused sms to %s (%s): %s", mask_phone(phone), template,
                        reason)
            raise SmsSendError(reason, retryable=verdict.retryable)
        log.info("tencent sms %s to %s (%s)", status.SerialNo, mask_phone(phone), template)
        return SendResult(self.name, str(status.SerialNo))

    def send_batch(self, messages: Sequence[SmsMessage]) -> list[SmsOutcome]:
        ledger = BatchLedger(messages)
        groups: dict[tuple[str, tuple[str, ...], str], list[int]] = {}
        for index, message in enumerate(messages):
            code = template_code(self.template_codes, message.template,
                                 message.provider_template)
            if code is None:
                ledger.give_up_locally(index, missing_code_reason(message.template))
                continue
            params = tuple(str(value) for value in message.params.values())
            groups.setdefault((code, params, message.batch), []).append(index)
        jobs = [(code, params, batch, chunk)
                for (code, params, batch), indices in groups.items()
                for chunk in chunks(indices, NUMBERS_PER_REQUEST)]
        if len(jobs) == 1:
            self._send_chunk(ledger, *jobs[0])
        else:
            futures = [self._pool.submit(self._send_chunk, ledger, *job) for job in jobs]
            for future in futures:
                future.result()
        log.info("tencent send_batch: %d messages in %d requests", len(messages), len(jobs))
        return ledger.outcomes()

    def _send_chunk(self, ledger: BatchLedger, code: str, params: tuple[str, ...],
                    batch: str, chunk: list[int]) -> None:
        """One ``SendSms`` for messages sharing template and parameters, into the ledger."""
        if ledger.halted:
            ledger.skip(chunk)
            return
        messages = [ledger.messages[index] for index in chunk]
        try:
            statuses = self._send_request([m.phone for m in messages], code, params, batch)
        except CallFailed as failure:
            if failure.verdict.scope is Scope.NUMBER and len(chunk) > 1:
                log.info("tencent SendSms of %d refused for one number (%s); sending one by "
                         "one", len(chunk), failure.reason)
                for index in chunk:
                    self._send_chunk(ledger, code, params, batch, [index])
                return
            log.warning("tencent SendSms of %d (%s) failed: %s", len(chunk), code,
                        failure.reason)
            if failure.verdict.scope is Scope.NUMBER:
                ledger.refuse(chunk[0], failure.reason, failure.verdict)
            else:
                ledger.call_failed(chunk, failure.reason, failure.verdict)
            return
        for index, message in zip(chunk, messages):
            status = statuses.get(e164(message.phone))
            if status is None:
                ledger.call_failed([index], "Tencent SMS answered without a status for the "
                                   "number", UNKNOWN_STATE)
            elif status.Code == "Ok":
                ledger.accept(index, str(status.SerialNo))
            else:
                verdict = classify(str(status.Code))
                reason = _reason(str(status.Code), status.Message, verdict)
                log.warning("tencent refused sms to %s (%s): %s", mask_phone(message.phone),
                            code, reason)
                ledger.refuse(index, reason, verdict)

    def accepted(self, messages: Sequence[SmsMessage], since: datetime) -> dict[str, str]:
        wanted: dict[str, dict[str, str]] = {}
        for message in messages:
            wanted.setdefault(message.phone, {})[message.batch] = message.key
        # The provider keeps its records by the real clock, not our (development) shifted one.
        now = datetime.now(timezone.utc)
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        begin = int(max(min(since, now) - CLOCK_SLACK, now - HISTORY).timestamp())
        end = int((now + CLOCK_SLACK).timestamp())
        futures: list[Future] = [self._pool.submit(self._find, phone, batches, begin, end)
                                 for phone, batches in wanted.items()]
        found: dict[str, str] = {}
        failure: CallFailed | None = None
        for future in futures:
            try:
                found.update(future.result())
            except CallFailed as error:
                if error.verdict.scope is Scope.NUMBER and not error.verdict.retryable:
                    continue  # a number Tencent calls invalid holds no messages
                failure = failure or error
        if failure is not None:
            raise SmsSendError(failure.reason, retryable=failure.verdict.retryable)
        return found

    def _find(self, phone: str, batches: Mapping[str, str], begin: int,
              end: int) -> dict[str, str]:
        """{key: SerialNo} of ``batches`` (token -> key) that Tencent holds for ``phone``."""
        request = tencent_models.PullSmsSendStatusByPhoneNumberRequest()
        request.PhoneNumber = e164(phone)
        request.SmsSdkAppId = self.sdk_app_id
        request.BeginTime = begin
        request.EndTime = end
        request.Offset = 0
        request.Limit = PULL_LIMIT
        statuses = self._call("PullSmsSendStatusByPhoneNumber",
                              request).PullSmsSendStatusSet or []
        found = {batches[s.SessionContext]: str(s.SerialNo) for s in statuses
                 if s.SessionContext in batches}
        if len(statuses) >= PULL_LIMIT and len(found) < len(batches) and end > begin:
            rest = {token: key for token, key in batches.items() if key not in found}
            middle = (begin + end) // 2
            found.update(self._find(phone, rest, begin, middle))
            found.update(self._find(phone, rest, middle + 1, end))
        return found
