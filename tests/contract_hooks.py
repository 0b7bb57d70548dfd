"""What a valid value of each custom ``format`` of the API's spec is, for schemathesis.

``schemathesis run`` loads this module through ``SCHEMATHESIS_HOOKS=tests.contract_hooks``
(``tests/test_api_contract.py`` sets it), and the in-process contract test imports it.
Values are drawn from the made-up people of ``wx_backend.dev.people``, varied as real
residents are: every document kind (ID cards of every province and of retired region
codes, Hong Kong / Macau / Taiwan residence permits, both forms of the permanent residence
card), births from 1930 to 2008; districts in use across the country, and often the seed
city's, where the community staff of the tests serve.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st
from hypothesis.strategies._internal import regex as hypothesis_regex

from wx_backend.core import regions
from wx_backend.dev import people
from wx_backend.web.input import DISTRICT_FORMAT, ID_DOCUMENT_FORMAT

# Who is drawn: far fewer than the made-up people there are of each kind.
_SOMEONE = st.integers(min_value=0, max_value=5_000_000)

ID_DOCUMENTS = st.one_of(
    _SOMEONE.map(people.id_number),
    _SOMEONE.map(people.permit_number),
    _SOMEONE.map(lambda n: people.permanent_residence_number(n, 2023)),
    _SOMEONE.map(lambda n: people.permanent_residence_number(n, 2017)),
)

_IN_USE = sorted(code for code, region in regions.table().items()
                 if region.level == "district" and region.current)
DISTRICTS = st.one_of(st.sampled_from([code for code in _IN_USE if code.startswith("4101")]),
                      st.sampled_from(_IN_USE))

schemathesis.openapi.format(ID_DOCUMENT_FORMAT, ID_DOCUMENTS)
schemathesis.openapi.format(DISTRICT_FORMAT, DISTRICTS)


def _keep_pattern_strategies() -> None:
    """schemathesis asks hypothesis for the strategy of one pattern again and again (one
    per length boundary, per mutation, per phase), and hypothesis builds a character class
    one code point at a time: the Han classes of names and addresses, some 88,000 code
    points each, would take a second every time. Keep each strategy, by pattern and
    alphabet, for the run. Without the hook (another hypothesis), runs are only slower."""
    build = getattr(hypothesis_regex, "base_regex_strategy", None)
    if build is None:
        return
    kept: dict = {}

    def kept_build(regex, *, parsed=None, alphabet):
        key = (regex, repr(alphabet))
        if key not in kept:
            kept[key] = build(regex, parsed=parsed, alphabet=alphabet)
        return kept[key]

    hypothesis_regex.base_regex_strategy = kept_build


_keep_pattern_strategies()
