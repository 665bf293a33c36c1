"""TOML files with line numbers: parse with tomli, then map every key to its line.

The parser gives values but no positions, and tomlkit is far too slow for large lockfiles, so
`key_lines` re-scans a document that the parser already accepted and records the 1-based line
where each table header, key and array element starts. Paths use the keys as the parser
returns them, with list indices for array elements and arrays of tables:
`("package", 3, "checksum")`, `("sigstore", "trust", "foo", "issuer")`.

The parser is tomli 2.1-2.3: the TOML 1.0 parser that Python ships as `tomllib`, as a
compiled (mypyc) wheel that parses a 1,000-crate Cargo.lock or mochi.toml in ~16 ms instead
of ~50 ms. Where no compiled wheel exists it is the same pure-Python code as `tomllib`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from pathlib import Path
from typing import Any

import tomli as toml_parser

from cargo_verify.errors import ConfigError

TOMLDecodeError = toml_parser.TOMLDecodeError
toml_loads = toml_parser.loads  # the one TOML parser of the package

KeyPath = tuple[str | int, ...]
MAX_FILE_BYTES = 64 * 1024 * 1024

_WS = re.compile(r"[ \t]*")
_WS_NL_COMMENTS = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_LINE_END = re.compile(r"[ \t]*(?:#[^\n]*)?(?:\r?\n|$)")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL = re.compile(r"'[^'\n]*'")
_ML_BASIC = re.compile(r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}')
_ML_LITERAL = re.compile(r"'''(?:[^']|'(?!''))*'{3,5}")
_SCALAR = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?"
    r"|[A-Za-z0-9_+.:-]+"
)
_ERROR_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
# Fast paths for the common shapes (a bare key with a one-line scalar or escape-free string;
# an array of escape-free basic strings without comments). A value counts only if what
# follows it can end a value in a valid document, so the slow path's end position is the
# same; anything else (dates with a space, escapes, multi-line strings, ...) takes the slow
# path.
_VALUE_END = r"(?=[ \t]*(?:[,}\]#\r\n]|$))"
_SIMPLE_KEY_VALUE = re.compile(
    r"([A-Za-z0-9_-]+)[ \t]*=[ \t]*"
    r"(?:\"[^\"\\\n]*\"(?!\")|'[^'\n]*'(?!')|[A-Za-z0-9_+.:-]+)" + _VALUE_END
)
_SIMPLE_STRING_ARRAY = re.compile(
    r'\[(?:[ \t\r\n]*"[^"\\\n]*"[ \t\r\n]*,)*(?:[ \t\r\n]*"[^"\\\n]*")?[ \t\r\n]*\]'
)
_SIMPLE_STRING = re.compile(r'"[^"\\\n]*"')


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.lines: dict[KeyPath, int] = {}
        self.aot_index: dict[KeyPath, int] = {}

    def line_at(self, pos: int) -> int:
        return bisect_right(self.newlines, pos - 1) + 1

    def record(self, path: KeyPath, pos: int) -> None:
        self.lines.setdefault(path, self.line_at(pos))

    def skip(self, pattern: re.Pattern[str]) -> None:
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()

    def expect(self, literal: str) -> None:
        if not self.text.startswith(literal, self.pos):
            raise ValueError(f"expected {literal!r} at offset {self.pos}")
        self.pos += len(literal)

    # -- keys ---------------------------------------------------------------------------

    def simple_key(self) -> str:
        text, pos = self.text, self.pos
        for pattern in (_BASIC, _LITERAL, _BARE_KEY):
            found = pattern.match(text, pos)
            if found is not None:
                self.pos = found.end()
                token = found.group()
                if pattern is _BARE_KEY:
                    return token
                if pattern is _LITERAL or "\\" not in token:
                    return token[1:-1]
                value: str = toml_loads(f"k = {token}")["k"]
                return value
        raise ValueError(f"expected a key at offset {pos}")

    def dotted_key(self) -> list[str]:
        keys = [self.simple_key()]
        while True:
            self.skip(_WS)
            if not self.text.startswith(".", self.pos):
                return keys
            self.pos += 1
            self.skip(_WS)
            keys.append(self.simple_key())

    # -- values -------------------------------------------------------------------------

    def value(self, path: KeyPath) -> None:
        text, pos = self.text, self.pos
        char = text[pos : pos + 1]
        if char == "[":
            simple = _SIMPLE_STRING_ARRAY.match(text, pos)
            if simple is None:
                self.array(path)
                return
            end = simple.end()
            for index, element in enumerate(_SIMPLE_STRING.finditer(text, pos, end)):
                self.record((*path, index), element.start())
            self.pos = end
        elif char == "{":
            self.inline_table(path)
        elif char == '"' or char == "'":
            patterns = (_ML_BASIC, _BASIC) if char == '"' else (_ML_LITERAL, _LITERAL)
            for pattern in patterns:
                found = pattern.match(text, pos)
                if found is not None:
                    self.pos = found.end()
                    return
            raise ValueError(f"unterminated string at offset {pos}")
        else:
            found = _SCALAR.match(text, pos)
            if found is None:
                raise ValueError(f"expected a value at offset {pos}")
            self.pos = found.end()

    def array(self, path: KeyPath) -> None:
        self.expect("[")
        index = 0
        while True:
            self.skip(_WS_NL_COMMENTS)
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return
            self.record((*path, index), self.pos)
            self.value((*path, index))
            index += 1
            self.skip(_WS_NL_COMMENTS)
            if self.text.startswith(",", self.pos):
                self.pos += 1

    def inline_table(self, path: KeyPath) -> None:
        self.expect("{")
        while True:
            self.skip(_WS_NL_COMMENTS)  # newlines: TOML 1.1 allows them here
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return
            self.key_value(path)
            self.skip(_WS_NL_COMMENTS)
            if self.text.startswith(",", self.pos):
                self.pos += 1

    def key_value(self, table: KeyPath) -> None:
        start = self.pos
        simple = _SIMPLE_KEY_VALUE.match(self.text, start)
        if simple is not None:
            self.record((*table, simple.group(1)), start)
            self.pos = simple.end()
            return
        keys = self.dotted_key()
        path = table
        for key in keys:
            path = (*path, key)
            self.record(path, start)
        self.skip(_WS)
        self.expect("=")
        self.skip(_WS)
        self.value(path)

    # -- document -----------------------------------------------------------------------

    def resolve(self, keys: list[str]) -> KeyPath:
        """The path of a header's keys, stepping into the current element of each array
        of tables on the way."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            if path in self.aot_index:
                path = (*path, self.aot_index[path])
        return path

    def header(self) -> KeyPath:
        start = self.pos
        is_array = self.text.startswith("[[", start)
        self.pos += 2 if is_array else 1
        self.skip(_WS)
        keys = self.dotted_key()
        self.skip(_WS)
        self.expect("]]" if is_array else "]")
        if not is_array:
            path = self.resolve(keys)
        else:
            parent = self.resolve(keys[:-1])
            array = (*parent, keys[-1])
            index = self.aot_index.get(array, -1) + 1
            self.aot_index[array] = index
            self.record(array, start)
            path = (*array, index)
        for depth in range(1, len(path)):
            self.record(path[:depth], start)
        # An explicit header beats the implicit definition by an earlier `[path.sub]`.
        self.lines[path] = self.line_at(start)
        return path

    def document(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        text = self.text
        while True:
            self.skip(_WS_NL_COMMENTS)
            if self.pos >= len(text):
                return self.lines
            if text.startswith("[", self.pos):
                table = self.header()
            else:
                self.key_value(table)
            found = _LINE_END.match(text, self.pos)
            if found is None:
                raise ValueError(f"expected the end of the line at offset {self.pos}")
            self.pos = found.end()


def key_lines(text: str) -> dict[KeyPath, int]:
    """Line of every header, key and array element of a document the parser accepted.

    Raises ValueError only if the text is not valid TOML.
    """
    return _Scanner(text).document()


def error_line(error: TOMLDecodeError, text: str) -> int | None:
    found = _ERROR_POSITION.search(str(error))
    if found is not None:
        return int(found.group(1))
    if "at end of document" in str(error):
        return text.rstrip().count("\n") + 1  # the last line with content
    return None


def error_message(error: TOMLDecodeError) -> str:
    message = _ERROR_POSITION.sub("", str(error))
    return message.replace("(at end of document)", "at the end of the file").strip()


def decode_toml_bytes(data: bytes, file: str) -> str:
    """UTF-8 text of a TOML file (a leading BOM is dropped, as cargo's parser does)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(f"not valid UTF-8 (byte offset {error.start})", file, line) from None
    return text.removeprefix("\ufeff")


def read_toml_text(path: Path, display: str | None = None) -> str:
    """Read a TOML file as text, refusing unreadable, huge and non-UTF-8 files."""
    name = display or str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", name) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", name) from None
    except OSError as error:
        raise ConfigError(f"cannot read: {error.strerror or error}", name) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", name)
    return decode_toml_bytes(data, name)


def parse_toml(text: str, file: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Values and key lines of a TOML document; any TOML error is a ConfigError with its line."""
    try:
        data = toml_loads(text)
    except TOMLDecodeError as error:
        raise ConfigError(
            f"invalid TOML: {error_message(error)}", file, error_line(error, text)
        ) from None
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", file) from None
    try:
        lines = key_lines(text)
    except (ValueError, RecursionError):
        # Only reachable if this scanner and the parser disagree about valid TOML: keep the
        # values, lose the line numbers.
        lines = {}
    return data, lines


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """Line of `path`, or of its nearest recorded ancestor."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


class LocatedReader:
    """Base of the readers that validate a parsed TOML document: their errors name the file
    and the line of the offending key (or of its nearest recorded ancestor)."""

    def __init__(self, file: str, lines: dict[KeyPath, int]) -> None:
        self.file = file
        self.lines = lines

    def error(self, message: str, path: KeyPath) -> ConfigError:
        return ConfigError(message, self.file, line_of(self.lines, path))


def type_name(value: object) -> str:
    """A TOML value's type in words, for "expected X, found Y" messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def basic_string(value: str) -> str:
    """`value` as a TOML basic string (quotes, backslashes and control characters escaped)."""
    out = ['"']
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
