"""What staff read instead of the system's codes: every status a console page shows, in
Chinese (also offered to every template as ``words``)."""

from __future__ import annotations

BOOKING_STATUSES = {"confirmed": "待取货", "collected": "已取货", "cancelled": "已取消",
                    "expired": "已过期"}
ENTRY_STATUSES = {"pooled": "等待摇号", "won": "已中签，待领取", "claimed": "已领取",
                  "lapsed": "逾期未领，已作废", "withdrawn": "已撤回",
                  "pending": "待社区审核", "approved": "已通过审核，排队中",
                  "rejected": "未通过审核", "released": "已发放购买凭证", "redeemed": "已购买"}
ORDER_STATUSES = {"pending": "待发货", "shipped": "已发货", "delivered": "已签收",
                  "failed": "投递失败"}


def words() -> dict:
    """The vocabularies, for templates."""
    return {"booking": BOOKING_STATUSES, "entry": ENTRY_STATUSES, "order": ORDER_STATUSES}


# A provider's refusal, by the code it answered (Aliyun's isv.*, Tencent Cloud's, WeChat's
# errcode), as the operator reads it: what happened and, where there is one, what to do.
_REFUSALS = [
    ("MOBILE_NUMBER_ILLEGAL", "手机号无效（空号或格式不对）"),
    ("IncorrectPhoneNumber", "手机号无效（空号或格式不对）"),
    ("DOMESTIC_NUMBER_NOT_SUPPORTED", "短信平台不支持这个号码"),
    ("PhoneNumberInBlacklist", "这个号码在运营商的拒收名单里"),
    ("BUSINESS_LIMIT_CONTROL", "这个号码收短信太频繁，运营商暂时限制"),
    ("PhoneNumberDailyLimit", "这个号码今天收短信已达上限"),
    ("DAY_LIMIT_CONTROL", "超过短信账户的每日发送额度，请联系短信平台提高额度"),
    ("MONTH_LIMIT_CONTROL", "超过短信账户的每月发送额度，请联系短信平台提高额度"),
    ("AMOUNT_NOT_ENOUGH", "短信账户余额不足，请充值后重新发送"),
    ("InsufficientBalance", "短信套餐余量不足，请充值后重新发送"),
    ("OUT_OF_SERVICE", "短信账户已停机，请联系短信平台"),
    ("SIGN", "短信签名未审核通过或填写不对，请检查 SMS_SIGN_NAME"),
    ("Signature", "短信签名未审核通过或填写不对，请检查 SMS_SIGN_NAME"),
    ("TEMPLATE", "短信模板未审核通过或参数不对，请检查 SMS_TEMPLATE_CODES"),
    ("Template", "短信模板未审核通过或参数不对，请检查 SMS_TEMPLATE_CODES"),
    ("BLACK_KEY_CONTROL_LIMIT", "短信内容含有平台禁止的词"),
    ("SMS_CONTENT_ILLEGAL", "短信内容不符合平台规定"),
    ("40003 ", "居民的微信标识无效（可能已注销或换了微信）"),
    ("43004 ", "居民没有关注服务号，收不到模板消息"),
    ("43101 ", "居民没有授权或已拒收这条订阅消息"),
    ("40036 ", "消息模板 ID 不对，请检查模板配置"),
    ("40037 ", "消息模板 ID 不对，请检查模板配置"),
    ("47003 ", "消息内容不符合模板的格式要求"),
    ("48001 ", "服务号没有发送这类消息的权限"),
    ("WeChat unreachable", "暂时连不上微信服务器"),
    ("in doubt", "发送中途中断，无法确认居民是否收到；为免重复没有再发，如需要请手动重发"),
    ("sender stopped mid-call", "发送中途中断，短信平台没有收到，会自动重发"),
    ("is gone", "预约、手机号或模板已不存在"),
    ("provider error", "短信平台出错"),
]


def explain_failure(text: str | None) -> str:
    """Why a message failed, in Chinese (the provider's own code stays beside it)."""
    raw = text or ""
    prefix = ""
    if raw.startswith("gave up after"):
        tried, _, raw = raw.partition(": ")
        attempts = "".join(ch for ch in tried if ch.isdigit())
        prefix = f"重试{attempts}次后放弃：" if attempts else "多次重试后放弃："
    for code, words in _REFUSALS:
        if code in raw:
            return prefix + words
    return prefix + "发送平台拒绝了这条消息"


_SUBJECTS = {"store": "药店", "booking": "预约", "entry": "登记", "announcement": "公告",
             "campaign": "活动", "resident": "居民", "draw": "摇号", "faq": "问答",
             "deliveries": "消息", "pharmacy": "药店工作人员", "community": "社区工作人员",
             "editor": "编辑", "operator": "运营人员"}


def subject_words(text: str | None) -> str:
    """An audit entry's subject as staff read it: ``booking 12`` -> ``预约 #12``."""
    kind, _, rest = (text or "").partition(" ")
    name = _SUBJECTS.get(kind)
    if name is None:
        return text or ""
    return f"{name} #{rest}" if rest.isdigit() else f"{name} {rest}".strip()
