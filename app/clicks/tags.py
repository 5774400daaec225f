"""Tags on links and campaigns ("spring", "flyer"): a marketer's own way to find them again.

Tags are kept in lower case, so "Spring" and "spring" are one tag, as Dub and Bitly treat
them; a list filtered by a tag matches it exactly.
"""

from __future__ import annotations

import re

from app.core.errors import ValidationError

MAX_TAGS = 20
MAX_LENGTH = 40
_TAG_RE = re.compile(r"^[\w][\w .:+&-]*$")


def normalize(value: object) -> str | None:
    """One tag as a filter names it (None when it is not one)."""
    if not isinstance(value, str):
        return None
    tag = " ".join(value.split()).lower()
    return tag if tag and len(tag) <= MAX_LENGTH and _TAG_RE.match(tag) else None


def parse(value: object, field: str = "tags") -> list[str]:
    """A list of tags (or one comma-separated string, as a CSV cell gives them), sorted and
    without repeats. Raises ValidationError naming `field`."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise ValidationError('Tags are a list of words, such as ["spring", "flyer"].', field=field)
    tags: set[str] = set()
    for item in value:
        tag = normalize(item)
        if tag is None:
            shown = item if isinstance(item, str) else repr(item)
            raise ValidationError(
                f"'{shown}' is not a tag: 1 to {MAX_LENGTH} letters, digits, spaces and "
                "- _ . : + &, starting with a letter or digit.",
                field=field,
            )
        tags.add(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags.", field=field)
    return sorted(tags)
