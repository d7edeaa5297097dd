"""The message catalogue: every user-facing string of the pages, in Japanese
and English, in one file (messages.json) shared by the templates and the
page scripts. Japanese is the default; the language switch sets a cookie.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from functools import lru_cache
from pathlib import Path

from litestar import Request

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LANGUAGE_COOKIE = "lang"
CATALOGUE = Path(__file__).resolve().parent / "messages.json"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# "KEY#one" is KEY's text for a count of 1 ("1 vote", not "1 votes"); the count
# is the {count} or else the {n} parameter. Japanese needs no plural form, but
# every key has both languages, so a "#one" key repeats KEY's Japanese text.
ONE = "#one"
COUNT_PARAMETERS = ("count", "n")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """{key: {"ja": text, "en": text}}; checked whole when first loaded."""
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for key, texts in data.items():
        if set(texts) != set(LANGUAGES) or not all(isinstance(t, str) and t for t in texts.values()):
            raise ValueError(f"message {key!r} must have non-empty ja and en texts")
        if set(_PLACEHOLDER.findall(texts["ja"])) != set(_PLACEHOLDER.findall(texts["en"])):
            raise ValueError(f"message {key!r}: ja and en have different placeholders")
        if key.endswith(ONE):
            base = data.get(key.removesuffix(ONE))
            if base is None or set(_PLACEHOLDER.findall(base["en"])) != set(_PLACEHOLDER.findall(texts["en"])):
                raise ValueError(f"message {key!r} needs {key.removesuffix(ONE)!r} with the same placeholders")
    return data


def plural_key(key: str, params: dict, keys: Container[str]) -> str:
    """``KEY#one`` when the count parameter is 1 and that key exists, else ``key``."""
    count = next((params[name] for name in COUNT_PARAMETERS if name in params), None)
    return key + ONE if str(count) == "1" and key + ONE in keys else key


def language_of(request: Request) -> str:
    lang = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def translate(lang: str, key: str, /, **params: object) -> str:
    """The text of ``key``; ``{name}`` placeholders filled from ``params``.
    An unknown key is a programming error, caught by tests/test_web_pages.py."""
    text = catalogue()[plural_key(key, params, catalogue())][lang]
    if params:
        text = _PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), text)
    return text


def messages_for(lang: str) -> dict[str, str]:
    """Every message in one language, for the page scripts."""
    return {key: texts[lang] for key, texts in catalogue().items()}


def localized(value: object, lang: str) -> str:
    """A manifest text ({"ja": ..., "en": ...}) in the page's language."""
    if isinstance(value, dict):
        text = value.get(lang) or next((v for v in value.values() if isinstance(v, str) and v), "")
        return str(text)
    return "" if value is None else str(value)
