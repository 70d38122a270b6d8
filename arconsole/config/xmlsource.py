"""Turn the text of an `ossec.conf` into `ConfigNode` trees with exact source positions.

Real files are not always well-formed XML (spec 11 item 14) and often hold several
`<ossec_config>` roots, so the text is parsed by lxml in recover mode inside a synthetic root
that shares line 1 with the file (no line shifts). Whatever the input, this module returns
trees and diagnostics; it never raises on bad content.

Two deliberate choices, both to read values the way Wazuh's own parser (os_xml) does:
- Entities are not decoded: os_xml keeps `&amp;` as those five characters, so every `&` is
  hidden from lxml behind a private-use character of the same length and restored in values.
  The same goes for os_xml's escape backslash-`<` (a literal `<` in a value).
- Values are kept raw (spaces and newlines included): os_xml does not trim, so `<level> 5`
  is not a number for Wazuh either.

lxml gives element lines but no columns, and its line is sometimes where the start tag ends;
positions therefore come from a scan of the source text, matched to lxml's elements in order.
"""

from __future__ import annotations

import bisect
import codecs
import re
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.model import ConfigNode
from arconsole.safetext import literal

XML_CODE = "AR-XML"
SYNTHETIC_ROOT = "arconsole-synthetic-root"
_OPEN = f"<{SYNTHETIC_ROOT}>"
_CLOSE = f"</{SYNTHETIC_ROOT}>"
_AMP = "\ue000"  # stands for '&' while lxml parses (same length, keeps columns)
_LT = "\ue001"  # stands for the '<' of os_xml's escape '\<' (a '<' inside a value)

# Characters XML 1.0 forbids (lxml refuses them in a str); replaced by a space, same length.
_INVALID_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DECLARATION = re.compile(r"\A(\s*)<\?xml\b.*?(?:\?>|\Z)", re.S)
_DOCTYPE = re.compile(r"<!DOCTYPE\b(?:[^\[>]|\[.*?(?:\]|\Z))*>?", re.S | re.I)
_DECLARED_ENCODING = re.compile(rb"""\A\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_NAME = r"[^\W\d][\w.\-:]*"
_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<\?.*?(?:\?>|\Z)"
    r"|<!"
    rf"|</(?P<end>{_NAME})\s*>"
    rf"|<(?P<start>{_NAME})(?:[^<>\"']|\"[^\"<]*\"|'[^'<]*')*?(?P<empty>/?)>"
    rf"|<(?P<broken>{_NAME})",
    re.S,
)
_MISMATCH = re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and (\S+)")
_PREMATURE = re.compile(r"Premature end of data in tag (\S+) line (\d+)")
_MAX_CHAR_REPORTS = 20

# libxml2 errors that Wazuh's own parser does not see (it reads such files fine): warnings.
_TOLERATED = {"ERR_HYPHEN_IN_COMMENT"}
_HINTS = {
    "ERR_HYPHEN_IN_COMMENT": "XML forbids '--' inside a comment; Wazuh's parser accepts it, "
    "strict XML tools do not: write a single '-'",
    "ERR_NAME_REQUIRED": "'<' starts an element; inside a value Wazuh needs it written as '\\<'",
    "ERR_GT_REQUIRED": "a start tag must end with '>' and attribute values need quotes",
    "ERR_ATTRIBUTE_NOT_STARTED": "quote attribute values: name=\"value\"",
    "ERR_ATTRIBUTE_REDEFINED": "keep one of the two attributes",
    "ERR_COMMENT_NOT_FINISHED": "close the comment with '-->'",
}


@dataclass(frozen=True, slots=True)
class ParsedXml:
    """The roots found in the text (in file order) and the problems met reading it."""

    roots: tuple[ConfigNode, ...]
    diagnostics: tuple[Diagnostic, ...]


@dataclass(slots=True)
class _Tag:
    name: str
    start: int  # offset of '<'
    end: int  # offset just past '>', or -1 when the tag is broken


@dataclass(slots=True)
class _Source:
    """The text lxml sees, with what is needed to turn offsets into (line, column)."""

    text: str
    line_starts: array[int] = field(default_factory=lambda: array("q"))
    # Every start tag in document order, kept compact (a big file has a million of them):
    # its name (interned) and the offset of its '<'.
    tag_names: list[str] = field(default_factory=list)
    tag_starts: array[int] = field(default_factory=lambda: array("q"))
    problems: list[Diagnostic] = field(default_factory=list)
    nesting_known: bool = False  # the scan saw every element open and close

    def __post_init__(self) -> None:
        self.line_starts = array("q", [0])
        self.line_starts.extend(m.end() for m in re.finditer("\n", self.text))

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.line_starts, offset) - 1
        return index + 1, offset - self.line_starts[index] + 1

    def line_text(self, line: int) -> str:
        if not 1 <= line <= self.line_count:
            return ""
        start = self.line_starts[line - 1]
        end = self.line_starts[line] - 1 if line < self.line_count else len(self.text)
        return self.text[start:end]

    def problem(self, severity: Severity, line: int, column: int, message: str,
                hint: str | None = None) -> None:
        self.problems.append(Diagnostic(severity, XML_CODE, message, line, column, hint))


def decode(data: str | bytes) -> tuple[str, list[Diagnostic]]:
    """Bytes to text: BOMs, then UTF-8, then the declared encoding, then Latin-1 (warned)."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), []
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"),
                       (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            text = data.decode(codec, errors="replace")
            return text.removeprefix("\ufeff"), []
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as error:
        bad_offset = error.start
    declared = _DECLARED_ENCODING.match(data)
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii")), []
        except (LookupError, UnicodeDecodeError):
            pass
    text = data.decode("latin-1")
    line = data.count(b"\n", 0, bad_offset) + 1
    column = bad_offset - (data.rfind(b"\n", 0, bad_offset) + 1) + 1
    return text, [Diagnostic(
        Severity.WARNING, "AR-ENCODING",
        "the file is not valid UTF-8; it was read as Latin-1", line, column,
        "save the file as UTF-8 (Wazuh reads bytes; non-ASCII text may not mean what you see)",
    )]


def parse_text(data: str | bytes) -> ParsedXml:
    """Parse `ossec.conf` content; never raises for bad content."""
    return parse_decoded(*decode(data))


def parse_decoded(text: str, decode_problems: list[Diagnostic]) -> ParsedXml:
    """`parse_text` after `decode`: the caller may drop the bytes first (a big file)."""
    # libxml2 counts a lone CR as a line break too; normalising keeps every line number equal.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    source = _Source(text)
    source.problems.extend(decode_problems)
    _prepare(source)
    _scan(source)
    roots, errors = _stream(source)
    cut = _unfinished_end(source)
    for entry in errors:
        _report_lxml_error(source, entry, cut)
    return ParsedXml(roots, tuple(_unique(source.problems)))


def _never_closed(name: str, line: int) -> tuple[str, str]:
    return (f"the file ends before <{name}> opened at line {line} is closed",
            f"add </{name}>, or restore the end of the file if it was cut short")


def _unfinished_end(source: _Source) -> tuple[int, int] | None:
    """Where the file ends in the middle of markup (a cut-short file), reported once; None
    when it does not. libxml2's errors from there on are consequences, and misleading."""
    found = _unfinished_markup(source.text)
    if found is None:
        return None
    start, what = found
    line, column = source.position(start)
    source.problem(Severity.ERROR, line, column,
                   f"the file ends inside {what} started here: it looks cut short",
                   "restore the end of the file (from a backup, or the package's ossec.conf)")
    return line, column


def _stream(source: _Source) -> tuple[tuple[ConfigNode, ...], list[etree._LogEntry]]:
    """Parse with a target that builds `ConfigNode`s as elements end: lxml's own tree
    (about 9x the text in memory) is never built."""
    target = _NodeBuilder(_TagMatcher(source))
    parser = etree.XMLParser(
        target=target, recover=True, resolve_entities=False, no_network=True, load_dtd=False,
        huge_tree=False, remove_comments=False, remove_pis=False,
    )
    wrapped = _OPEN + source.text.replace("&", _AMP) + _CLOSE
    try:
        etree.fromstring(wrapped, parser)
    except etree.XMLSyntaxError as error:  # recover mode gave up entirely
        source.problem(Severity.ERROR, 1, 1, f"the file could not be read as XML: {error}")
        return (), list(parser.error_log)
    finally:
        # lxml's parser and its context hold the target in a reference cycle: without this,
        # the source text and its tables would live on until the next garbage collection.
        target.matcher = None
        target.shared = {}
    target.end_all()  # recovery may stop with elements open: they are kept as they are
    return tuple(target.roots), list(parser.error_log)


class _Open:
    __slots__ = ("attributes", "children", "column", "line", "parts", "tag")

    def __init__(self, tag: str, line: int, column: int,
                 attributes: tuple[tuple[str, str], ...]) -> None:
        self.tag, self.line, self.column, self.attributes = tag, line, column, attributes
        self.parts: list[str] = []
        self.children: list[ConfigNode] = []


# Short values repeat by thousands ("yes", "local", "syslog"): one object each is shared. The
# table is bounded and lives for one parse (sys.intern's table would keep every distinct value
# of a big file's worth of slots for good).
_SHARED_VALUE = 24
_SHARED_VALUES = 2048


class _NodeBuilder:
    """lxml parser target: SAX events to `ConfigNode`s. An element's value is its own text
    (os_xml's view): the data directly inside it, comments and children left out."""

    def __init__(self, matcher: _TagMatcher) -> None:
        self.matcher: _TagMatcher | None = matcher  # None once the parse is over
        self.roots: list[ConfigNode] = []
        self.open: list[_Open] = []
        self.depth = 0
        self.shared: dict[str, str] = {}

    def start(self, tag: str | bytes, attrib: dict[str | bytes, str | bytes]) -> None:
        self.depth += 1
        if self.depth == 1:
            return  # the synthetic root
        name = sys.intern(_restore(_str(tag)))
        assert self.matcher is not None, "a start event after the parse"
        line, column = self.matcher.next_position(name)
        attributes = tuple((_restore(_str(k)), _restore(_str(v))) for k, v in attrib.items())
        self.open.append(_Open(name, line, column, attributes))

    def data(self, data: str | bytes) -> None:
        if self.open:
            self.open[-1].parts.append(_str(data))

    def end(self, tag: str | bytes) -> None:
        self.depth -= 1
        if self.open and self.depth > 0:
            self._end()

    def end_all(self) -> None:
        while self.open:
            self._end()

    def _end(self) -> None:
        element = self.open.pop()
        children = tuple(element.children)
        value = _restore("".join(element.parts))
        if len(value) <= _SHARED_VALUE:
            seen = self.shared.get(value)
            if seen is not None:
                value = seen
            elif len(self.shared) < _SHARED_VALUES:
                self.shared[value] = value
        node = ConfigNode(
            tag=element.tag,
            text=None if children and not value.strip() else value,
            line=element.line,
            column=element.column,
            attributes=element.attributes,
            children=children,
        )
        (self.open[-1].children if self.open else self.roots).append(node)

    def comment(self, text: str | bytes) -> None:
        """Comments are not part of any value (os_xml skips them)."""

    def close(self) -> None:
        """Nothing to hand back: the roots are read from the builder."""


def _prepare(source: _Source) -> None:
    """Blank what cannot sit inside the synthetic root, keeping every offset."""
    text = _INVALID_CHAR.sub(lambda m: _report_char(source, m), source.text)
    text = text.replace("\\<", "\\" + _LT)
    declaration = _DECLARATION.match(text)
    if declaration:
        # An XML declaration may only open a document; ours starts with the synthetic root.
        text = _blank(text, declaration.start(0) + len(declaration.group(1)), declaration.end())
    for doctype in _DOCTYPE.finditer(text):
        line, column = source.position(doctype.start())
        source.problem(Severity.WARNING, line, column,
                       "DOCTYPE declaration ignored (Wazuh's parser does not read it)",
                       "remove the <!DOCTYPE ...> declaration")
        text = _blank(text, doctype.start(), doctype.end())
    source.text = text


def _report_char(source: _Source, match: re.Match[str]) -> str:
    count = sum(1 for p in source.problems if p.message.startswith("invalid character"))
    if count < _MAX_CHAR_REPORTS:
        line, column = source.position(match.start())
        source.problem(Severity.ERROR, line, column,
                       f"invalid character U+{ord(match.group()):04X} (not allowed in XML)",
                       "remove the control character")
    return " "


def _blank(text: str, start: int, end: int) -> str:
    """Replace text[start:end] by spaces, keeping its newlines (so positions do not move)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _scan(source: _Source) -> None:
    """Record every start tag; blank end tags that close nothing at the top level.

    libxml2 would take a stray top-level `</x>` as the end of the synthetic root and drop
    everything after it, so such tags are reported here and hidden from it. Text outside any
    element is reported too (Wazuh ignores it, but it is almost always a mistake).
    """
    text = source.text
    stack: list[_Tag] = []
    certain = True  # False once a broken start tag makes the nesting unknowable
    blanks: list[tuple[int, int]] = []
    previous_end = 0
    for match in _MARKUP.finditer(text):
        if certain and not stack:
            _check_top_text(source, text, previous_end, match.start())
        previous_end = match.end()
        if match.group("start"):
            tag = _Tag(sys.intern(match.group("start")), match.start(), match.end())
            source.tag_names.append(tag.name)
            source.tag_starts.append(tag.start)
            if not match.group("empty"):
                stack.append(tag)
        elif match.group("broken"):
            source.tag_names.append(sys.intern(match.group("broken")))
            source.tag_starts.append(match.start())
            certain = False
        elif match.group("end"):
            name = match.group("end")
            open_names = [tag.name for tag in stack]
            if name in open_names:
                del stack[len(stack) - 1 - open_names[::-1].index(name):]
            elif certain and not stack:
                line, column = source.position(match.start())
                source.problem(Severity.ERROR, line, column,
                               f"end tag </{name}> closes nothing (no <{name}> is open)",
                               f"remove </{name}> or add the missing <{name}>")
                blanks.append((match.start(), match.end()))
    if certain and not stack:
        _check_top_text(source, text, previous_end, len(text))
    if certain:
        # libxml2 names only the innermost unclosed element; the scan knows them all.
        source.nesting_known = True
        for tag in stack:
            line, column = source.position(tag.start)
            source.problem(Severity.ERROR, line, column, *_never_closed(tag.name, line))
    for start, end in reversed(blanks):
        text = _blank(text, start, end)
    source.text = text


def _check_top_text(source: _Source, text: str, start: int, end: int) -> None:
    segment = text[start:end]
    stripped = segment.lstrip()
    if stripped and not stripped.startswith("<"):  # broken markup: lxml reports it
        offset = start + len(segment) - len(stripped)
        line, column = source.position(offset)
        excerpt = stripped.split("\n", 1)[0][:40]
        source.problem(Severity.ERROR, line, column,
                       f"text outside any element: '{excerpt}'",
                       "options belong inside <ossec_config>...</ossec_config>")


def _unfinished_markup(text: str) -> tuple[int, str] | None:
    """The offset and a description of the markup the text ends in, if it ends in one."""
    for opening, closing, what in (("<!--", "-->", "a comment"),
                                   ("<![CDATA[", "]]>", "a CDATA section")):
        start = text.rfind(opening)
        if start >= 0 and text.find(closing, start + len(opening)) < 0:
            return start, what
    start = text.rfind("<")
    if start < 0 or ">" in text[start:]:
        return None
    excerpt = text[start:start + 40].split("\n", 1)[0].rstrip()
    return start, f"the {'end ' if excerpt.startswith('</') else ''}tag '{literal(excerpt)}'"


def _report_lxml_error(source: _Source, entry: etree._LogEntry,
                       cut: tuple[int, int] | None) -> None:
    message = entry.message.strip() if entry.message else "XML error"
    line, column = entry.line, entry.column
    if line == 1:
        column -= len(_OPEN)
    kind = entry.type_name
    hint = _HINTS.get(kind)
    if SYNTHETIC_ROOT in message:
        rewritten = _about_file_end(source, message, line, column)
        if rewritten is None:
            return
        message, line, column, hint = rewritten
    elif kind == "ERR_TAG_NAME_MISMATCH":
        match = _MISMATCH.match(message)
        if match:
            opened, closing = match.group(1), match.group(3)
            column = _end_tag_column(source, line, closing, column)
            message = (f"<{opened}> (line {match.group(2)}) is closed by </{closing}>")
            hint = f"close <{opened}> with </{opened}>"
    line = max(1, min(line, source.line_count))
    column = max(1, min(column, len(source.line_text(line)) + 1))
    if cut is not None and (line, column) >= cut:
        return  # a consequence of the file ending in the middle of markup, reported once
    severity = Severity.WARNING if kind in _TOLERATED else Severity.ERROR
    if kind == "ERR_HYPHEN_IN_COMMENT":
        message = ("not well-formed XML: '--' inside a comment; Wazuh reads the file, "
                   "arconsole loaded it with XML recovery")
    source.problem(severity, line, column, message, hint)


def _about_file_end(
    source: _Source, message: str, line: int, column: int
) -> tuple[str, int, int, str | None] | None:
    """Reword libxml2 messages that mention the synthetic root; None to drop the message."""
    for pattern in (_MISMATCH, _PREMATURE):
        match = pattern.match(message)
        if match and match.group(1) != SYNTHETIC_ROOT:
            if source.nesting_known:
                return None  # the scan reported every unclosed element already
            name, opened_at = match.group(1), int(match.group(2))
            column = _start_tag_column(source, name, opened_at)
            message, hint = _never_closed(name, opened_at)
            return (message, opened_at, column, hint)
        if match and pattern is _MISMATCH and match.group(3) != SYNTHETIC_ROOT:
            # A top-level end tag that the scan could not safely hide.
            name = match.group(3)
            column = _end_tag_column(source, line, name, column)
            return (f"end tag </{name}> closes nothing; what follows it could not be read",
                    line, column, f"remove </{name}> or add the missing <{name}>")
    return None  # about the synthetic root alone: a consequence of an error reported already


def _end_tag_column(source: _Source, line: int, name: str, fallback: int) -> int:
    """Column of the `</name` that lxml complained about (it reports the end of the tag)."""
    text = source.line_text(line)
    limit = max(0, fallback - 1)
    found = text.rfind(f"</{name}", 0, limit) if limit else -1
    return found + 1 if found >= 0 else fallback


def _start_tag_column(source: _Source, name: str, line: int) -> int:
    text = source.line_text(line)
    found = re.search(rf"<{re.escape(name)}(?![\w.\-:])", text)
    return found.start() + 1 if found else 1


def _str(text: str | bytes) -> str:
    return text.decode() if isinstance(text, bytes) else text  # lxml gives str for str input


def _restore(text: str) -> str:
    return text.replace(_AMP, "&").replace(_LT, "<")


class _TagMatcher:
    """Give each element the position of its own start tag in the source.

    Elements come in document order and so do the scanned tags: an element takes the next
    unused tag of the same name, within a bounded look-ahead (recovery may drop a broken tag).
    """

    LOOK_AHEAD = 1000

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.next = 0

    def next_position(self, name: str) -> tuple[int, int]:
        names, starts = self.source.tag_names, self.source.tag_starts
        stop = min(len(names), self.next + self.LOOK_AHEAD)
        for index in range(self.next, stop):
            if names[index] == name:
                self.next = index + 1
                return self.source.position(starts[index])
        previous = starts[self.next - 1] if 0 < self.next <= len(starts) else 0
        return self.source.position(previous)


def _unique(problems: list[Diagnostic]) -> Iterator[Diagnostic]:
    seen: set[tuple[int, int, str]] = set()
    for problem in problems:
        key = (problem.line, problem.column, problem.message)
        if key not in seen:
            seen.add(key)
            yield problem
