"""Demo data for the embedded default: a Zhengzhou-like campaign with 40 stores.

The demo follows the ``zhengzhou`` preset (a portion of 10 masks at 1 yuan, 100 portions
per store per day, 7-day cooldown, pickup next day) except that its two daily windows
cover the whole day (00:00-12:00 and 12:00-24:00, Beijing time), so someone trying the API
at any hour
finds a window open. Stores are fictional pharmacies spread over Zhengzhou's districts.
"""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.models import Campaign

SLUG = "zhengzhou-demo"

DISTRICTS = {
    "金水区": (34.7800, 113.6600), "中原区": (34.7480, 113.6130), "二七区": (34.7240, 113.6400),
    "管城回族区": (34.7540, 113.6780), "惠济区": (34.8670, 113.6170),
    "郑东新区": (34.7700, 113.7300),
    "高新区": (34.8070, 113.5600), "经开区": (34.7250, 113.7350),
}
CHAINS = ("大参林", "张仲景大药房", "健康人大药房", "国药控股", "同仁堂", "老百姓大药房")
ROADS = ("花园路", "文化路", "经三路", "金水路", "农业路", "建设路", "中原路", "大学路",
         "紫荆山路", "嵩山路", "航海路", "东风路", "商都路", "郑汴路", "科学大道", "黄河路")


def demo_stores(count: int = 40) -> str:
    """CSV text of ``count`` made-up pharmacies (deterministic)."""
    picker = random.Random(2020)
    lines = ["name,address,district,lat,lng,daily_cap,opening_hours"]
    names = set()
    while len(names) < count:
        district, (lat, lng) = picker.choice(list(DISTRICTS.items()))
        chain, road = picker.choice(CHAINS), picker.choice(ROADS)
        name = f"{chain}（{road}{picker.randint(1, 9)}店）"
        if name in names:
            continue
        names.add(name)
        lines.append(f"{name},郑州市{district}{road}{picker.randint(1, 300)}号,{district},"
                     f"{lat + picker.uniform(-0.02, 0.02):.5f},"
                     f"{lng + picker.uniform(-0.02, 0.02):.5f},,08:30-20:00")
    return "\n".join(lines) + "\n"


def load(session: Session, now: datetime) -> Campaign:
    """Create the demo campaign with stores and windows if it is missing; the caller's
    session is committed."""
    existing = session.scalars(select(Campaign).where(Campaign.slug == SLUG)).first()
    if existing is not None:
        manage.plan_ahead(session, existing, 2, now, back=1)
        session.commit()
        return existing
    rules = load_preset("zhengzhou")
    rules["name"] = "郑州市平价口罩预约（演示）"
    rules["windows"] = [{"opens": "00:00", "closes": "12:00", "quota": 10000},
                        {"opens": "12:00", "closes": "00:00", "quota": 10000}]
    campaign = manage.create_campaign(session, SLUG, rules, now, preset="zhengzhou")
    result = manage.import_stores(session, campaign, demo_stores(), rules["store_daily_cap"])
    if result.errors:
        raise RuntimeError("demo stores did not import: " + "; ".join(result.errors))
    manage.plan_ahead(session, campaign, 2, now, back=1)
    session.commit()
    return campaign
