"""The chat-bot's FAQ matcher: which knowledge-base entry a resident's message asks about.

How a message is matched:
1. Clean: NFKC (full-width to half-width), lower case, letters and digits only (no
   punctuation, emoji or spaces), at most ``MAX_CHARS`` characters.
2. Segment with jieba (the synonyms and keywords added to its dictionary) and fix pinyin
   homophone typos: a run of broken-up characters that reads like a domain word in
   toneless pinyin (预越 -> 预约, 口照 -> 口罩, 领娶 -> 领取) is replaced by that word.
3. Drop filler words (请问, 你好, 一下, 啊 …) and map each synonym to its canonical word
   (取货 -> 领取, 抢 -> 预约, 身分证 -> 身份证).
4. Score each phrasing that shares a word with the message: IDF-weighted overlap both ways
   (how much of the message it explains, how much of it the message covers; distinctive
   keywords weigh ``KEYWORD_BOOST`` times), blended with rapidfuzz similarity of the
   canonical characters and of their toneless pinyin. An entry takes its best phrasing.
5. Decide: a clear winner that explains most of the message and rests on more than one
   common word is the answer; else the 2-3 closest entries are offered; nothing is offered
   when the message is mostly about something no entry mentions.

Speed, measured on the seed base on the 2-core development machine (while other test
suites were running): 0.13 ms per match on average, p99 0.4 ms, over 300 mixed queries.
An index builds in about 0.5 s the first time in a process (jieba loads its dictionary)
and in about 15 ms after that.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

import jieba
from rapidfuzz import fuzz, process

MAX_CHARS = 200                 # of a message, after cleaning; the rest is not read
DOMAIN_WORD_FREQ = 1000         # jieba frequency given to synonyms and keywords

# Weights. IDF is log(1 + entries / entries using the word): about 0.7 for a word every
# entry uses (口罩), 3.6 for a word only one uses (摇号).
KEYWORD_BOOST = 3.0             # a distinctive keyword weighs this many times its IDF
KEYWORD_MAX_SHARE = 0.25        # ... when at most this share of the entries use it
CLAIM_DF = 3                    # a keyword of at most this many entries, missing from a
                                # phrasing, counts against it just as heavily
UNKNOWN_WEIGHT = 2.5            # a word no entry uses: as heavy as a rare word
MINOR_UNKNOWN_WEIGHT = 1.0      # ... unless a single character or Latin (ok, emmm)
QUESTION_WORDS = frozenset({"怎么", "可以", "哪里", "几点", "什么", "为什么", "多久", "多少"})

# Score = TOKEN_SHARE * overlap + (1 - TOKEN_SHARE) * spelling similarity, in 0..1. The
# overlap is a weighted harmonic mean of the message's cover (weight QUERY_SHARE) and the
# phrasing's; the similarity mixes characters and pinyin (weight PINYIN_SHARE).
TOKEN_SHARE = 0.7
QUERY_SHARE = 0.6
PINYIN_SHARE = 0.4

# Thresholds, tuned on a few hundred questions typed as residents type them.
CONFIDENT = 0.6                 # answer: at least this score,
CONFIDENT_MARGIN = 0.06         # ... this much ahead of the next entry,
CONFIDENT_COVER = 0.5           # ... explaining at least half the message's weight,
CONFIDENT_EVIDENCE = 1.8        # ... on matched words of this total IDF (2 common words)
SUGGEST = 0.38                  # offer choices: the best scores at least this,
SUGGEST_COVER = 0.5             # ... and explains half the message's topic words;
SUGGEST_SPREAD = 0.25           # offered: entries within this of the best,
MAX_SUGGESTIONS = 3             # ... at most this many (and at least two)

FILLERS = frozenset([
    "请问", "请", "问", "问问", "问下", "问一下", "想问", "想问下", "想问问", "想", "想要", "要",
    "需要", "一下", "下", "你好", "您好", "hello", "hi", "喂", "谢谢", "多谢", "感谢", "麻烦",
    "麻烦问下", "打扰", "打扰一下", "小编", "亲", "请教", "咨询", "关于", "知道", "告诉", "说",
    "一声", "啊", "呀", "呢", "吗", "嘛", "么", "吧", "哦", "喔", "噢", "嗯", "哈", "哈哈", "呐",
    "啦", "哇", "嘞", "咯", "滴", "哎", "唉", "诶", "呗", "哟", "哒", "的", "了", "地", "得", "着",
    "过", "之", "与", "和", "跟", "及", "或", "或者", "还是", "就", "都", "也", "还", "再说",
    "而且", "然后", "那么", "这样", "是", "在", "有", "有没有", "是不是", "对不对", "不", "没",
    "别", "这", "那", "这个", "那个", "这些", "那些", "个", "一个", "些", "点", "我", "我们", "咱",
    "咱们", "你", "你们", "您", "他", "她", "它", "他们", "她们", "自己", "本人", "大家", "人家",
    "俺", "人", "一个人", "每个人", "每人", "个人", "家里", "家中", "又", "到", "才", "才能",
    "得到", "一点", "点儿", "里", "里面", "事", "事情", "问题", "情况", "一些", "现在", "目前",
    "今天", "明天", "今日", "明日", "马上", "已经", "刚才", "刚刚", "让", "给", "把", "被", "对",
    "为", "为了", "因为", "所以", "如果", "的话", "但是", "可是", "不过",
])

INTERJECTIONS = frozenset("啊呀呢吗嘛么吧哦喔噢嗯哈呐啦哇嘞咯哎唉诶呗哟哒呵嘿额")
TRAILING_FILLERS = FILLERS | {"没有", "没", "不", "没呢"}

_WORDLIKE = re.compile(r"[^\W_]+")
_LOCK = threading.Lock()
_TOKENIZER: jieba.Tokenizer | None = None
_READINGS: dict[str, tuple[str, ...]] = {}
_READINGS_LIMIT = 50_000
_SYLLABLE_CODES: dict[str, str] = {}


@dataclass(frozen=True)
class FaqEntry:
    """One question of the knowledge base, the ways people ask it, and its answer."""

    key: str
    question: str
    phrasings: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class FaqMatch:
    """The entry to answer with when confident, else the closest entries to offer."""

    entry: FaqEntry | None
    suggestions: tuple[FaqEntry, ...]
    score: float


_Spoken = tuple[str, tuple[str, ...]]   # a domain word and its main syllables


class _Score(NamedTuple):
    """How well an entry fits a query: the best of its phrasings on each measure."""

    score: float
    cover: float
    topic_cover: float
    evidence: float
    entry: int


@dataclass(frozen=True)
class _Text:
    """One phrasing of an entry, prepared for scoring."""

    entry: int
    weights: dict[str, float]
    total: float
    chars: str
    sounds: str


def load_seed() -> tuple[list[FaqEntry], dict[str, list[str]]]:
    """Entries and synonyms from faq_seed.toml (read with importlib.resources)."""
    source = resources.files("wx_backend.official_account").joinpath("faq_seed.toml")
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    entries = [FaqEntry(key=str(item["key"]), question=str(item["question"]).strip(),
                        phrasings=tuple(str(p) for p in item.get("phrasings", ())),
                        keywords=tuple(str(k) for k in item.get("keywords", ())),
                        answer=str(item["answer"]).strip())
               for item in data.get("entry", ())]
    synonyms = {str(word): [str(v) for v in variants]
                for word, variants in (data.get("synonyms") or {}).items()}
    return entries, synonyms


def _clean(text: str) -> str:
    """Half-width, lower-case letters and digits of ``text``, at most MAX_CHARS of them."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS * 5]).lower()
    return "".join(_WORDLIKE.findall(text))[:MAX_CHARS]


def _tokenizer() -> jieba.Tokenizer:
    """The process's jieba tokenizer, its dictionary loaded on first use."""
    global _TOKENIZER
    with _LOCK:
        if _TOKENIZER is None:
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _TOKENIZER = tokenizer
        return _TOKENIZER


def _teach(tokenizer: jieba.Tokenizer, words: set[str], floor: int) -> None:
    """Give ``words`` at least ``floor`` in the tokenizer's dictionary, so they stay whole."""
    with _LOCK:
        for word in sorted(words):
            if len(word) > 1:
                wanted = max(floor, tokenizer.suggest_freq(word))
                if tokenizer.FREQ.get(word, 0) < wanted:
                    tokenizer.add_word(word, wanted)


def _blur(syllable: str) -> str:
    """A toneless syllable with the usual input-method confusions merged (zh/z, ing/in)."""
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    if syllable.endswith("ng") and not syllable.endswith("ong") and len(syllable) > 2:
        syllable = syllable[:-1]
    return syllable


def _readings(char: str) -> tuple[str, ...]:
    """The blurred toneless readings of one character, or the character itself."""
    found = _READINGS.get(char)
    if found is not None:
        return found
    # Imported on first use: its phrase tables take 0.4 s to load, which every process
    # that never matches a message (workers, commands) would pay at start.
    from pypinyin import Style, pinyin

    try:
        options = pinyin(char, style=Style.NORMAL, heteronym=True, errors="default")[0]
    except Exception:  # pypinyin on odd code points: treat the character as itself
        options = [char]
    if options == [char] or not all(o.isascii() and o.isalpha() for o in options):
        found = (char,)
    else:
        found = tuple(dict.fromkeys(_blur(o) for o in options))
    if len(_READINGS) < _READINGS_LIMIT:
        _READINGS[char] = found
    return found


def _sounds(text: str) -> str:
    """``text`` with every Chinese character replaced by a code for its main reading."""
    out = []
    for char in text:
        main = _readings(char)[0]
        if len(main) == 1 and main == char:
            out.append(char)
            continue
        code = _SYLLABLE_CODES.get(main)
        if code is None:
            with _LOCK:
                code = _SYLLABLE_CODES.setdefault(main, chr(0xF0000 + len(_SYLLABLE_CODES)))
        out.append(code)
    return "".join(out)


class FaqIndex:
    """Entries prepared for matching; build once per version of the knowledge base."""

    def __init__(self, entries: Sequence[FaqEntry], synonyms: Mapping[str, Sequence[str]]):
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        self._jieba = _tokenizer()
        self._canonical = self._canonical_map(synonyms)
        vocabulary = set(self._canonical)
        for entry in self.entries:
            vocabulary.update(_clean(k) for k in entry.keywords)
        vocabulary.discard("")
        _teach(self._jieba, FILLERS, 1)
        _teach(self._jieba, vocabulary, DOMAIN_WORD_FREQ)
        self._sound_index = self._sound_vocabulary(vocabulary)
        self._sound_cache: dict[str, list[_Spoken]] = {}
        self._prepare()

    @staticmethod
    def _canonical_map(synonyms: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """Cleaned variant -> cleaned canonical word; the first mention of a variant wins."""
        canonical: dict[str, str] = {}
        for word, variants in synonyms.items():
            head = _clean(word)
            if not head:
                continue
            canonical.setdefault(head, head)
            for variant in variants:
                canonical.setdefault(_clean(variant) or head, head)
        return canonical

    @staticmethod
    def _sound_vocabulary(vocabulary: set[str]) -> dict[tuple[str, str], list[_Spoken]]:
        """First two syllables -> (word, syllables) of domain words of 2-4 Chinese characters."""
        index: dict[tuple[str, str], list[_Spoken]] = {}
        for word in sorted(vocabulary):
            if not 2 <= len(word) <= 4:
                continue
            spoken = tuple(_readings(c)[0] for c in word)
            if any(len(s) == 1 and s == c for s, c in zip(spoken, word)):
                continue
            index.setdefault(spoken[:2], []).append((word, spoken))
        return index

    def _prepare(self) -> None:
        """Tokenise every phrasing, weigh tokens by IDF and index them."""
        token_lists: list[tuple[int, list[str]]] = []
        seen: set[tuple[int, str]] = set()
        for number, entry in enumerate(self.entries):
            for phrasing in (entry.question, *entry.phrasings):
                tokens = self.tokens(phrasing)
                joined = "".join(tokens)
                if tokens and (number, joined) not in seen:
                    seen.add((number, joined))
                    token_lists.append((number, tokens))
        words_of: dict[int, set[str]] = {}
        for number, tokens in token_lists:
            words_of.setdefault(number, set()).update(tokens)
        frequency: dict[str, int] = {}
        for words in words_of.values():
            for word in words:
                frequency[word] = frequency.get(word, 0) + 1
        count = max(len(self.entries), 1)
        self._idf = {w: math.log(1 + count / n) for w, n in frequency.items()}
        # A keyword weighs heavily only where it tells entries apart: a word most entries
        # use (预约, 口罩) would otherwise make its entry win every vague question.
        common = max(CLAIM_DF, count * KEYWORD_MAX_SHARE)
        self._keywords = [frozenset(word for word in (self._canonical.get(_clean(k), _clean(k))
                                                      for k in entry.keywords)
                                    if frequency.get(word, 0) <= common)
                          for entry in self.entries]
        self._claimed = frozenset(k for keywords in self._keywords for k in keywords
                                  if 0 < frequency.get(k, 0) <= CLAIM_DF
                                  and k not in QUESTION_WORDS)
        self._texts: list[_Text] = []
        self._postings: dict[str, list[int]] = {}
        self._exact: dict[str, int | None] = {}
        for number, tokens in token_lists:
            weights = {t: self._idf[t] * (KEYWORD_BOOST if t in self._keywords[number] else 1.0)
                       for t in dict.fromkeys(tokens)}
            chars = "".join(tokens)
            position = len(self._texts)
            self._texts.append(_Text(number, weights, sum(weights.values()), chars,
                                     _sounds(chars)))
            for token in weights:
                self._postings.setdefault(token, []).append(position)
            previous = self._exact.get(chars, number)
            self._exact[chars] = number if previous == number else None
        self._chars = [t.chars for t in self._texts]

    def _respell(self, text: str, cuts: list[str]) -> str:
        """``text`` with runs that sound like a domain word replaced by it.

        A run is replaced only when it starts and ends on word boundaries, spans two or more
        jieba words and none of them is a filler or another domain word: a typo breaks a
        word into pieces (预越 -> 预 越), while 机会 (ji kuai) or 预约吗 are left alone.
        """
        starts: dict[int, int] = {}
        at = 0
        for number, cut in enumerate(cuts):
            starts[at] = number
            at += len(cut)
        ends = {at: len(cuts)}
        out: list[str] = []
        start = 0
        while start < len(text):
            first = starts.get(start)
            word = None
            if first is not None and cuts[first] not in FILLERS:
                word = self._sounds_like(text, start, first, starts, ends, cuts)
            if word:
                out.append(word)
                start += len(word)
            else:
                out.append(text[start])
                start += 1
        return "".join(out)

    def _sounds_like(self, text: str, start: int, first: int, starts: dict[int, int],
                     ends: dict[int, int], cuts: list[str]) -> str | None:
        """The domain word the run at ``start`` is a typo of: longest, most alike, or None."""
        found: tuple[tuple[int, int, int], str] | None = None
        for word, spoken in self._sound_index_for(text[start:start + 2]):
            end = start + len(spoken)
            last = starts.get(end, ends.get(end))
            if last is None or last - first < 2 or text[start:end] == word:
                continue
            run = text[start:end]
            if not all(spoken[i] in _readings(run[i]) for i in range(2, len(spoken))):
                continue
            if not self._repairable(cuts[first:last], word):
                continue
            rank = (len(word), sum(a == b for a, b in zip(run, word)),
                    sum(s == _readings(c)[0] for s, c in zip(spoken, run)))
            if found is None or rank > found[0]:
                found = (rank, word)
        return found[1] if found else None

    def _repairable(self, cuts: list[str], word: str) -> bool:
        """Whether jieba words may be a typo of ``word``: no filler, no other domain word."""
        for cut in cuts:
            if cut in FILLERS:
                return False
            if len(cut) > 1 and cut in self._canonical and not word.startswith(cut):
                return False
        return True

    def _sound_index_for(self, pair: str) -> list[_Spoken]:
        """Domain words (with their syllables) whose first two syllables ``pair`` can read as."""
        found = self._sound_cache.get(pair)
        if found is None:
            found = []
            if len(pair) == 2:
                for first in _readings(pair[0]):
                    for second in _readings(pair[1]):
                        found.extend(self._sound_index.get((first, second), ()))
            if len(self._sound_cache) < _READINGS_LIMIT:
                self._sound_cache[pair] = found
        return found

    def tokens(self, text: str) -> list[str]:
        """Canonical content words of ``text``, in order (fillers dropped, typos fixed)."""
        cleaned = _clean(text)
        if not cleaned:
            return []
        cuts = self._jieba.lcut(cleaned, HMM=False)
        respelled = self._respell(cleaned, cuts)
        if respelled != cleaned:
            cuts = self._jieba.lcut(respelled, HMM=False)
        while cuts and cuts[-1] in TRAILING_FILLERS:
            cuts.pop()
        return [self._canonical.get(cut, cut) for cut in cuts
                if cut not in FILLERS and not set(cut) <= INTERJECTIONS]

    def _weight(self, token: str) -> float:
        """IDF of a known word; an unknown one weighs as a rare word (less if short or Latin)."""
        known = self._idf.get(token)
        if known is not None:
            return known
        if len(token) == 1 or token.isascii():
            return MINOR_UNKNOWN_WEIGHT
        return UNKNOWN_WEIGHT

    def _similarity(self, chars: str, sounds: str, position: int) -> float:
        """rapidfuzz similarity (0-1) of a phrasing to the query, in characters and pinyin."""
        text = self._texts[position]
        return ((1 - PINYIN_SHARE) * fuzz.ratio(chars, text.chars)
                + PINYIN_SHARE * fuzz.ratio(sounds, text.sounds)) / 100

    def _overlaps(self, query: list[str]) -> list[tuple[int, float, float, float, float]]:
        """(phrasing, overlap, cover, topic cover, evidence) of each phrasing sharing a word."""
        base = {t: self._weight(t) for t in query}
        # What a query word weighs where a phrasing lacks it: a word that tells entries
        # apart (another entry's keyword, or this entry's own) counts KEYWORD_BOOST times.
        missing = {t: base[t] * (KEYWORD_BOOST if t in self._claimed else 1.0) for t in query}
        query_total = sum(missing.values())
        topic_query_total = sum(w for t, w in missing.items() if t not in QUESTION_WORDS)
        matched: dict[int, list[str]] = {}
        for token in query:
            for position in self._postings.get(token, ()):
                matched.setdefault(position, []).append(token)
        found = []
        for position, shared in matched.items():
            text = self._texts[position]
            weights = text.weights
            hit = topic_hit = evidence = 0.0
            total, topic_total = query_total, topic_query_total
            for token in shared:
                weight = weights[token]
                hit += weight
                evidence += base[token]
                total += weight - missing[token]
                if token not in QUESTION_WORDS:
                    topic_hit += weight
                    topic_total += weight - missing[token]
            for token in self._keywords[text.entry]:
                if token in base and token not in weights:
                    total += base[token] * KEYWORD_BOOST - missing[token]
                    if token not in QUESTION_WORDS:
                        topic_total += base[token] * KEYWORD_BOOST - missing[token]
            cover = hit / total
            text_cover = hit / text.total
            overlap = cover * text_cover / (QUERY_SHARE * text_cover + (1 - QUERY_SHARE) * cover)
            found.append((position, overlap, cover,
                          topic_hit / topic_total if topic_total else cover, evidence))
        return found

    def _scores(self, tokens: list[str]) -> list[_Score]:
        """How well each entry sharing a word with the query fits it, best first."""
        overlaps = self._overlaps(list(dict.fromkeys(tokens)))
        if not overlaps:
            return []
        chars = "".join(tokens)
        sounds = _sounds(chars)
        # Spelling can add at most (1 - TOKEN_SHARE): a phrasing that could not come within
        # SUGGEST_SPREAD of the best even so is not worth comparing character by character.
        floor = TOKEN_SHARE * max(o[1] for o in overlaps) - SUGGEST_SPREAD - (1 - TOKEN_SHARE)
        best: dict[int, list[float]] = {}
        for position, overlap, cover, topic_cover, evidence in overlaps:
            score = TOKEN_SHARE * overlap
            if score >= floor:
                score += (1 - TOKEN_SHARE) * self._similarity(chars, sounds, position)
            entry = self._texts[position].entry
            known = best.get(entry)
            if known is None:
                best[entry] = [score, cover, topic_cover, evidence]
            else:
                known[0] = max(known[0], score)
                known[1] = max(known[1], cover)
                known[2] = max(known[2], topic_cover)
                known[3] = max(known[3], evidence)
        if len(best) < MAX_SUGGESTIONS:  # too few to offer a choice: add the nearest spelt
            for _, similarity, position in process.extract(chars, self._chars,
                                                           scorer=fuzz.ratio, limit=None,
                                                           score_cutoff=20):
                entry = self._texts[position].entry
                if entry not in best:
                    best[entry] = [(1 - TOKEN_SHARE) * similarity / 100, 0.0, 0.0, 0.0]
        return sorted((_Score(*values, entry) for entry, values in best.items()), reverse=True)

    def match(self, text: str) -> FaqMatch:
        """The entry ``text`` asks about, or the closest entries when unsure; never raises."""
        try:
            tokens = self.tokens(text)
            if not tokens or not self._texts:
                return FaqMatch(None, (), 0.0)
            exact = self._exact.get("".join(tokens))
            ranked = self._scores(tokens)
        except Exception:  # a jieba or pypinyin surprise must not break the webhook
            logging.getLogger(__name__).exception("FAQ matching failed")
            return FaqMatch(None, (), 0.0)
        if not ranked:
            return FaqMatch(None, (), 0.0)
        top = ranked[0]
        if exact is not None and sum(map(self._weight, set(tokens))) >= CONFIDENT_EVIDENCE:
            return FaqMatch(self.entries[exact], (), 1.0)
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if (top.score >= CONFIDENT and top.score - runner_up >= CONFIDENT_MARGIN
                and top.cover >= CONFIDENT_COVER and top.topic_cover >= CONFIDENT_COVER
                and top.evidence >= CONFIDENT_EVIDENCE):
            return FaqMatch(self.entries[top.entry], (), round(top.score, 4))
        if top.score < SUGGEST or top.topic_cover < SUGGEST_COVER:
            return FaqMatch(None, (), round(top.score, 4))
        close = [r for r in ranked[:MAX_SUGGESTIONS] if r.score >= top.score - SUGGEST_SPREAD]
        if len(close) < 2:
            close = ranked[:2]
        return FaqMatch(None, tuple(self.entries[r.entry] for r in close), round(top.score, 4))
