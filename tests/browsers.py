"""Debian's Chromium for the browser tests and screenshots, speaking Chinese: its own
controls (file and date pickers) too, as on a pharmacy's PC (chromium-l10n, which
scripts/test installs). ``LANGUAGE`` picks the translation; ``LANG`` stays a UTF-8 locale
every Debian has, so file names such as 药店名单.csv still reach the page."""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHINESE = {"args": ["--lang=zh-CN"],
           "env": {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "zh_CN:zh"}}
