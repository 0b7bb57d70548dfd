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
