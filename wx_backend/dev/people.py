"""Made-up people who look like a city's real residents, for tests, load scripts and
benchmarks: names of several lengths (and minority names with ·), ID numbers from the seed
cities' districts and from the provinces people move from, born 1930 to 2008, retired
region codes still on cards, Hong Kong / Macau / Taiwan residence permits and foreigners'
permanent residence cards, and mobile numbers across the carriers' real prefixes.

Everything is a pure function of ``n``, so the n-th person is the same in every run and
different n give different ID numbers.
"""

from __future__ import annotations

from datetime import date, timedelta

from wx_backend.identity.residents import check_character

# Region codes as printed on cards: the five seed cities' districts (including ones created
# after many of their residents were born), other provinces, and codes since retired.
REGIONS = (
    # 郑州 中原 二七 管城 金水 上街 惠济
    "410102", "410103", "410104", "410105", "410106", "410108",
    "370202", "370203", "370211", "370212",                       # 青岛 市南 市北 黄岛 崂山
    "440103", "440104", "440105", "440106", "440111",             # 广州 荔湾 越秀 海珠 天河 白云
    "350102", "350103", "350104", "350111",                       # 福州 鼓楼 台江 仓山 晋安
    "310101", "310104", "310105", "310115", "310112",             # 上海 黄浦 徐汇 长宁 浦东 闵行
    "110105", "110108", "120101", "130102", "140105", "150102",   # 北京 天津 河北 山西 内蒙古
    "210102", "220102", "230103", "320106", "330106", "340104",   # 辽宁 吉林 黑龙江 江苏 浙江 安徽
    "360103", "420106", "430104", "450103", "460106", "500103",   # 江西 湖北 湖南 广西 海南 重庆
    "510107", "520102", "530102", "540102", "610113", "620102",   # 四川 贵州 云南 西藏 陕西 甘肃
    "630104", "640104", "650102",                                 # 青海 宁夏 新疆
    "412723", "110103", "432930",                                 # retired: 商水县, 崇文区, 祁阳县
)
PERMIT_REGIONS = ("810000", "820000", "830000")
NATIONALITIES = (("USA", "840"), ("KOR", "410"), ("JPN", "392"), ("DEU", "276"),
                 ("FRA", "250"), ("CAN", "124"), ("AUS", "036"), ("PAK", "586"))
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
            "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
            "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = ("秀英", "桂兰", "建国", "国强", "淑珍", "志强", "丽", "伟", "芳", "敏", "静", "磊",
         "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英",
         "子涵", "欣怡", "梓轩", "浩然", "雨桐", "一诺", "思远", "文博", "佳琪", "晓东")
COMPOUND = ("欧阳", "司马", "诸葛", "上官")
MINORITY = ("阿依古丽·买买提", "艾力·吐尔逊", "扎西·多吉", "格桑·卓玛", "巴特尔·那顺")
MOBILE_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
                   "145", "147", "150", "151", "152", "153", "155", "156", "157", "158",
                   "159", "166", "170", "173", "175", "176", "177", "178", "180", "181",
                   "182", "183", "184", "185", "186", "187", "188", "189", "191", "198",
                   "199")
_FIRST_BIRTH = date(1930, 1, 1)
_BIRTH_DAYS = (date(2008, 12, 31) - _FIRST_BIRTH).days


def _birth_and_serial(n: int, kinds: int) -> tuple[int, date, int]:
    """(n mod kinds, a birth date, a serial below 1000): one-to-one in n, because n gives
    (n mod kinds, day, serial) one-to-one and day -> birth date is a permutation (7919 is
    prime and does not divide the number of days)."""
    kind, rest = divmod(n, kinds)[1], n // kinds
    day, serial = divmod(rest, 1000)
    if day >= _BIRTH_DAYS:
        raise ValueError("too many made-up people")
    return kind, _FIRST_BIRTH + timedelta(days=(day * 7919) % _BIRTH_DAYS), serial


def id_number(n: int) -> str:
    """The n-th made-up person's ID card number: a distinct valid 18-digit number."""
    region, birth, serial = _birth_and_serial(n, len(REGIONS))
    body = f"{REGIONS[region]}{birth:%Y%m%d}{serial:03d}"
    return body + check_character(body)


def permit_number(n: int) -> str:
    """The n-th made-up Hong Kong, Macau or Taiwan residents' residence permit number."""
    region, birth, serial = _birth_and_serial(n, len(PERMIT_REGIONS))
    body = f"{PERMIT_REGIONS[region]}{birth:%Y%m%d}{serial:03d}"
    return body + check_character(body)


def permanent_residence_number(n: int, version: int = 2023) -> str:
    """The n-th made-up foreigner's permanent residence card number, 2023 or 2017 form."""
    nationality, birth, serial = _birth_and_serial(n, len(NATIONALITIES))
    letters, digits = NATIONALITIES[nationality]
    province = REGIONS[n % len(REGIONS)][:2]
    if version == 2017:
        return f"{letters}{province}{birth:%y%m%d}{serial:04d}"
    body = f"9{province}{digits}{birth:%Y%m%d}{serial:03d}"
    return body + check_character(body)


def document(n: int) -> tuple[str, str]:
    """(kind, number) of the n-th made-up person's document: mostly ID cards, now and then
    a residence permit or a permanent residence card of either version."""
    if n % 23 == 5:
        return "hmt_permit", permit_number(n)
    if n % 31 == 9:
        return "foreign_permanent", permanent_residence_number(n, 2017 if n % 2 else 2023)
    return "resident_id", id_number(n)


def name(n: int) -> str:
    """The n-th made-up name: one or two characters of surname, one or two given, and now
    and then a compound surname or a minority name written with ·."""
    if n % 29 == 7:
        return MINORITY[n // 29 % len(MINORITY)]
    surname = COMPOUND[n // 17 % len(COMPOUND)] if n % 17 == 3 else SURNAMES[n % len(SURNAMES)]
    return surname + GIVEN[(n * 7) % len(GIVEN)]


def phone(n: int) -> str:
    """The n-th made-up mobile number, across the carriers' prefixes."""
    return f"{MOBILE_PREFIXES[n % len(MOBILE_PREFIXES)]}{(n * 2654435761) % 100_000_000:08d}"
