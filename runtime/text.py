"""Splitting long input into sentence-sized pieces, because VoxCPM2 degrades on long text.

The server synthesizes each piece separately and crossfades the results, so a boundary in the wrong
place (a decimal point, "Dr.") is audible as an unnatural pause. Chunks are cut only between
characters and never rewritten beyond collapsing whitespace, so nothing the user typed is lost.
"""

from __future__ import annotations

import itertools
import re

_ALWAYS_ENDS = "。｡！？；…"  # CJK terminators end a sentence whatever follows
_ENDS_BEFORE_SPACE = ".!?;．"  # these only before whitespace, the end, or CJK: not in 3.5 or example.com
_CLOSERS = "\"'”’」』）)】》]»"
_RUN = re.compile(f"[{re.escape(_ALWAYS_ENDS + _ENDS_BEFORE_SPACE)}]+[{re.escape(_CLOSERS)}]*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD_BEFORE = re.compile(r"[A-Za-z][A-Za-z.]*$")
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "approx"]
)
_NEXT_CHAR = re.compile(r"\s*(\S?)")
_CLAUSE = re.compile(r"[，、：﹐､]|[,:](?=\s)")


def split_sentences(text: str) -> list[str]:
    """Sentences of mixed Chinese/English text, each keeping its punctuation and closing quotes."""
    text = _collapse(text)
    return [piece for start, end in _sentence_spans(text) if (piece := text[start:end].strip())]


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Whole sentences packed greedily into chunks of at most `max_chars`, for one engine call each.

    A sentence too long on its own is cut at clause punctuation, else at the last space that fits,
    else (CJK has no spaces) hard at `max_chars`.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    text = _collapse(text)
    if len(text) <= max_chars:
        return [text] if text else []
    pieces = [piece for span in _sentence_spans(text) for piece in _fit(text, span, max_chars)]
    return _pack(text, pieces, max_chars)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Consecutive (start, end) offsets covering `text`, one per sentence."""
    cuts = [0]
    for match in _RUN.finditer(text):
        if _is_boundary(text, cuts[-1], match):
            cuts.append(match.end())
    cuts.append(len(text))
    return list(itertools.pairwise(cuts))


def _is_boundary(text: str, start: int, match: re.Match[str]) -> bool:
    marks, end = match.group().rstrip(_CLOSERS), match.end()
    following = _NEXT_CHAR.match(text, end)  # always matches (everything in it is optional)
    if set(marks) <= {".", "…"} and following is not None and following.group(1).islower():
        return False  # "wait... then", "approx. three": the sentence goes on
    if not any(c in _ALWAYS_ENDS for c in marks):
        if end < len(text) and not text[end].isspace() and not _CJK.match(text[end]):
            return False
        if marks == "." and _word_before(text, match.start()).lower() in _ABBREVIATIONS:
            return False
    return any(c.isalnum() for c in text[start : match.start()])  # "..." alone is not a sentence


def _word_before(text: str, end: int) -> str:
    word = _WORD_BEFORE.search(text[text.rfind(" ", 0, end) + 1 : end])
    return word.group() if word else ""


def _fit(text: str, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    """Cut one sentence's span into pieces that each fit `max_chars` once stripped."""
    start, end = span
    pieces = []
    while len(text[start:end].strip()) > max_chars:
        while text[start].isspace():
            start += 1
        cut = start + _cut(text[start : start + max_chars + 1], max_chars)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _cut(window: str, max_chars: int) -> int:
    """Where to end a piece starting at window[0] (not a space): the latest clause end, space, or hard."""
    clause_ends = [m.end() for m in _CLAUSE.finditer(window) if m.end() <= max_chars]
    if clause_ends:
        return clause_ends[-1]
    space = window.rfind(" ", 1, max_chars + 1)
    return space if space > 0 else max_chars


def _pack(text: str, pieces: list[tuple[int, int]], max_chars: int) -> list[str]:
    """Greedily merge consecutive pieces; slicing `text` keeps the spacing that was between them."""
    chunks = []
    start, end = pieces[0]
    for piece_start, piece_end in pieces[1:]:
        if len(text[start:piece_end].strip()) <= max_chars:
            end = piece_end
        else:
            chunks.append(text[start:end].strip())
            start, end = piece_start, piece_end
    chunks.append(text[start:end].strip())
    return [chunk for chunk in chunks if chunk]


_VOICE_DESIGN = re.compile(r"\s*\(([^()]*\S[^()]*)\)\s*(.*)", re.DOTALL)


def leading_voice_design(text: str) -> tuple[str, str] | None:
    """(description, rest) when the text opens with VoxCPM2's voice design, `(A calm old man)Hello`."""
    match = _VOICE_DESIGN.fullmatch(text)
    return (match.group(1).strip(), match.group(2)) if match else None
