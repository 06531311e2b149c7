#!/usr/bin/env python3
"""Generates C++ message codecs from Vltava's message definitions (src/protocol/messages/*.msg).

The format is described in docs/protocol-definitions.md. For each definition file `x.msg` this writes
`messages/x.h` and `messages/x.cc`; it also writes `messages.h` (every message, the api_key enum and the API
catalog) and `messages_test_support.h` (sample-value fillers used by the round-trip tests).

    generate.py --out DIR FILE...      generate
    generate.py --check FILE...        parse and validate only
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Optional

MAX_VERSION = 0x7FFF

PRIMITIVES = {
    # name: (C++ type, fixed size or None, reader call, writer call)
    "bool": ("bool", 1, "read_bool", "write_bool"),
    "int8": ("std::int8_t", 1, "read_int8", "write_int8"),
    "int16": ("std::int16_t", 2, "read_int16", "write_int16"),
    "int32": ("std::int32_t", 4, "read_int32", "write_int32"),
    "int64": ("std::int64_t", 8, "read_int64", "write_int64"),
    "uint16": ("std::uint16_t", 2, "read_uint16", "write_uint16"),
    "uint32": ("std::uint32_t", 4, "read_uint32", "write_uint32"),
    "float64": ("double", 8, "read_float64", "write_float64"),
    "uuid": ("uuid", 16, "read_uuid", "write_uuid"),
    "string": ("std::string", None, None, None),
    "bytes": ("bytes", None, None, None),
    "records": ("shared_bytes", None, None, None),
}
NULLABLE_CAPABLE = {"string", "bytes", "records"}
INTEGER_TYPES = {"int8", "int16", "int32", "int64", "uint16", "uint32"}
INTEGER_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}

CPP_KEYWORDS = set(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
    compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype default
    delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline int long
    mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
    reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template this
    thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor
    xor_eq""".split()
)
# Member names the generated structs use for themselves.
RESERVED_MEMBERS = {"unknown_tagged_fields", "encode", "decode", "encoded_size", "read", "write", "min_encoded_size",
                    # locals and parameters of the generated functions
                    "w", "r", "out", "version", "error", "flexible", "item", "item_count", "presence", "min_size",
                    "tag_count", "last_tag", "tag_id", "tag_bytes", "tag_reader", "merger", "start", "counter", "rng",
                    "filled"}
# Names the generated top-level message structs use for their constants.
RESERVED_ROOT_MEMBERS = {"message_name", "api", "min_version", "max_version", "first_flexible_version",
                         "is_flexible", "has_version"}


class DefinitionError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------------
# Version ranges


@dataclass(frozen=True)
class Versions:
    lo: int = 0
    hi: int = MAX_VERSION
    empty: bool = False

    @staticmethod
    def parse(text: str, where: str) -> "Versions":
        text = text.strip()
        if text == "none":
            return Versions(empty=True)
        m = re.fullmatch(r"(\d+)\+", text)
        if m:
            return Versions(int(m.group(1)), MAX_VERSION)
        m = re.fullmatch(r"(\d+)-(\d+)", text)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise DefinitionError(f"{where}: empty version range '{text}'")
            return Versions(lo, hi)
        m = re.fullmatch(r"(\d+)", text)
        if m:
            return Versions(int(m.group(1)), int(m.group(1)))
        raise DefinitionError(f"{where}: bad version range '{text}' (use N+, N-M, N or none)")

    def intersect(self, other: "Versions") -> "Versions":
        if self.empty or other.empty:
            return Versions(empty=True)
        lo, hi = max(self.lo, other.lo), min(self.hi, other.hi)
        if lo > hi:
            return Versions(empty=True)
        return Versions(lo, hi)

    def contains(self, v: int) -> bool:
        return not self.empty and self.lo <= v <= self.hi

    def covers(self, other: "Versions") -> bool:
        return other.empty or (not self.empty and self.lo <= other.lo and other.hi <= self.hi)

    def condition(self, var: str, within: "Versions") -> str:
        """A C++ condition testing `var` for membership, simplified given that var lies in `within`."""
        if self.empty or self.intersect(within).empty:
            return "false"
        parts = []
        if self.lo > within.lo:
            parts.append(f"{var} >= {self.lo}")
        if self.hi < within.hi:
            parts.append(f"{var} <= {self.hi}")
        return " && ".join(parts) if parts else "true"

    def __str__(self) -> str:
        if self.empty:
            return "none"
        if self.hi == MAX_VERSION:
            return f"{self.lo}+"
        return f"{self.lo}-{self.hi}"


# ---------------------------------------------------------------------------------------------------------------
# Model


@dataclass
class FieldType:
    is_array: bool
    element: str  # primitive name or struct name (CamelCase)

    @property
    def is_struct(self) -> bool:
        return self.element not in PRIMITIVES


@dataclass
class Field:
    name: str
    type: FieldType
    versions: Versions
    nullable: Versions
    default: Optional[str]
    tag: Optional[int]
    tagged: Versions
    ignorable: bool
    nonflexible: bool
    where: str
    struct: Optional["Struct"] = None  # resolved struct for struct element types

    @property
    def can_be_null(self) -> bool:
        return not self.nullable.empty

    def is_tagged_in(self, v_range: Versions) -> bool:
        return self.tag is not None and not self.tagged.intersect(v_range).empty


@dataclass
class Struct:
    name: str  # CamelCase as written
    fields: list[Field]
    where: str

    @property
    def cpp_name(self) -> str:
        return snake(self.name)


@dataclass
class Message:
    name: str  # CamelCase, e.g. ProduceRequest / OffsetCommitKey
    kind: str  # request | response | record
    api_name: Optional[str]
    api_key: Optional[int]
    versions: Versions
    flexible: Versions
    root: Struct
    structs: dict[str, Struct] = field(default_factory=dict)
    source: str = ""

    @property
    def cpp_name(self) -> str:
        return snake(self.name)


@dataclass
class Api:
    name: str
    key: int
    versions: Versions
    flexible: Versions
    request: Optional[Message] = None
    response: Optional[Message] = None


@dataclass
class DefinitionFile:
    path: str
    stem: str
    apis: list[Api]
    records: list[Message]

    def messages(self) -> list[Message]:
        out = []
        for api in self.apis:
            out += [api.request, api.response]
        return out + self.records


def snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


# ---------------------------------------------------------------------------------------------------------------
# Parsing


@dataclass
class Line:
    indent: int
    text: str
    number: int
    children: list["Line"] = field(default_factory=list)


def strip_comment(text: str) -> str:
    in_quote = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quote = not in_quote
        elif ch == "#" and not in_quote and (i == 0 or text[i - 1] in " \t"):
            return text[:i]
    return text


def read_lines(path: str) -> list[Line]:
    lines = []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if "\t" in raw:
                raise DefinitionError(f"{path}:{number}: tabs are not allowed; indent with two spaces")
            text = strip_comment(raw).rstrip()
            if not text.strip():
                continue
            indent = len(text) - len(text.lstrip(" "))
            if indent % 2:
                raise DefinitionError(f"{path}:{number}: indentation must be a multiple of two spaces")
            lines.append(Line(indent // 2, text.strip(), number))
    # Build the tree.
    roots: list[Line] = []
    stack: list[Line] = []
    for line in lines:
        while stack and stack[-1].indent >= line.indent:
            stack.pop()
        if stack:
            if line.indent != stack[-1].indent + 1:
                raise DefinitionError(f"{path}:{line.number}: indented too far")
            stack[-1].children.append(line)
        else:
            if line.indent != 0:
                raise DefinitionError(f"{path}:{line.number}: unexpected indentation")
            roots.append(line)
        stack.append(line)
    return roots


def parse_attributes(tokens: list[str], allowed: set[str], flags: set[str], where: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if "=" in tok:
            key, value = tok.split("=", 1)
            if value.startswith('"') and not (len(value) >= 2 and value.endswith('"')):
                # A quoted default with spaces: join until the closing quote.
                while i + 1 < len(tokens) and not value.endswith('"'):
                    i += 1
                    value += " " + tokens[i]
            if key not in allowed:
                raise DefinitionError(f"{where}: unknown attribute '{key}'")
            if key in attrs:
                raise DefinitionError(f"{where}: attribute '{key}' given twice")
            attrs[key] = value
        else:
            if tok not in flags:
                raise DefinitionError(f"{where}: unknown word '{tok}'")
            attrs[tok] = "true"
        i += 1
    return attrs


def parse_header(line: Line, path: str, words: int, allowed: set[str]) -> tuple[list[str], dict[str, str]]:
    tokens = line.text.split()
    where = f"{path}:{line.number}"
    if len(tokens) < words:
        raise DefinitionError(f"{where}: incomplete line '{line.text}'")
    return tokens[:words], parse_attributes(tokens[words:], allowed, set(), where)


def parse_file(path: str) -> DefinitionFile:
    stem = os.path.splitext(os.path.basename(path))[0]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", stem):
        raise DefinitionError(f"{path}: file names are lower_snake_case")
    apis: list[Api] = []
    records: list[Message] = []
    roots = read_lines(path)
    current_api: Optional[Api] = None
    for line in roots:
        where = f"{path}:{line.number}"
        head = line.text.split()[0]
        if head == "api":
            (_, name), attrs = parse_header(line, path, 2, {"key", "versions", "flexible"})
            require_camel(name, where)
            for needed in ("key", "versions", "flexible"):
                if needed not in attrs:
                    raise DefinitionError(f"{where}: api needs {needed}=")
            if line.children:
                raise DefinitionError(f"{where}: the api line has no children; write request/response sections")
            current_api = Api(name, parse_int(attrs["key"], where), Versions.parse(attrs["versions"], where),
                              Versions.parse(attrs["flexible"], where))
            apis.append(current_api)
        elif head in ("request", "response"):
            if current_api is None:
                raise DefinitionError(f"{where}: '{head}' before any 'api' line")
            if line.text != head:
                raise DefinitionError(f"{where}: '{head}' takes no attributes")
            if getattr(current_api, head) is not None:
                raise DefinitionError(f"{where}: second '{head}' section for {current_api.name}")
            msg = parse_message(current_api.name + head.capitalize(), head, current_api.versions,
                                current_api.flexible, line.children, path, where)
            msg.api_name, msg.api_key = current_api.name, current_api.key
            setattr(current_api, head, msg)
        elif head == "record":
            (_, name), attrs = parse_header(line, path, 2, {"versions", "flexible"})
            require_camel(name, where)
            for needed in ("versions", "flexible"):
                if needed not in attrs:
                    raise DefinitionError(f"{where}: record needs {needed}=")
            records.append(parse_message(name, "record", Versions.parse(attrs["versions"], where),
                                         Versions.parse(attrs["flexible"], where), line.children, path, where))
        else:
            raise DefinitionError(f"{where}: expected 'api', 'request', 'response' or 'record', found '{head}'")
    for api in apis:
        if api.request is None or api.response is None:
            raise DefinitionError(f"{path}: api {api.name} needs both a request and a response section")
        if api.versions.empty:
            raise DefinitionError(f"{path}: api {api.name} has no versions")
    if not apis and not records:
        raise DefinitionError(f"{path}: no api or record definitions")
    return DefinitionFile(path, stem, apis, records)


def require_camel(name: str, where: str) -> None:
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        raise DefinitionError(f"{where}: '{name}' must be CamelCase")


def parse_int(text: str, where: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise DefinitionError(f"{where}: '{text}' is not an integer") from None


def parse_message(name: str, kind: str, versions: Versions, flexible: Versions, lines: list[Line], path: str,
                  where: str) -> Message:
    if not versions.covers(flexible.intersect(versions)):
        raise DefinitionError(f"{where}: flexible versions outside the message's versions")
    msg = Message(name, kind, None, None, versions, flexible, Struct(name, [], where), source=path)
    # Shared structs first, so that fields can refer to them wherever they appear.
    field_lines = []
    for line in lines:
        if line.text.startswith("struct "):
            parts = line.text.split()
            lw = f"{path}:{line.number}"
            if len(parts) != 2:
                raise DefinitionError(f"{lw}: write 'struct Name' alone on the line")
            require_camel(parts[1], lw)
            if not line.children:
                raise DefinitionError(f"{lw}: struct {parts[1]} has no fields")
            add_struct(msg, Struct(parts[1], [], lw))
        else:
            field_lines.append(line)
    for line in lines:
        if line.text.startswith("struct "):
            struct = msg.structs[line.text.split()[1]]
            struct.fields = [parse_field(c, msg, path) for c in line.children]
    msg.root.fields = [parse_field(line, msg, path) for line in field_lines]
    for f in msg.root.fields:
        if f.name in RESERVED_ROOT_MEMBERS:
            raise DefinitionError(f"{f.where}: field name '{f.name}' is reserved at the top level of a message")
    validate_message(msg)
    return msg


def add_struct(msg: Message, struct: Struct) -> None:
    if struct.name in msg.structs or struct.name == msg.name:
        raise DefinitionError(f"{struct.where}: struct name {struct.name} used twice in {msg.name}")
    msg.structs[struct.name] = struct


FIELD_ATTRIBUTES = {"versions", "nullable", "default", "tag", "tagged"}
FIELD_FLAGS = {"ignorable", "nonflexible"}


def parse_field(line: Line, msg: Message, path: str) -> Field:
    where = f"{path}:{line.number}"
    tokens = line.text.split()
    if len(tokens) < 2:
        raise DefinitionError(f"{where}: a field line is '<name> <type> [attributes]'")
    name, type_text = tokens[0], tokens[1]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise DefinitionError(f"{where}: field name '{name}' must be snake_case")
    if name in CPP_KEYWORDS or name in RESERVED_MEMBERS:
        raise DefinitionError(f"{where}: field name '{name}' is reserved in C++ or by the generated code")
    attrs = parse_attributes(tokens[2:], FIELD_ATTRIBUTES, FIELD_FLAGS, where)
    is_array = type_text.startswith("[]")
    element = type_text[2:] if is_array else type_text
    if element not in PRIMITIVES:
        require_camel(element, where)
    elif line.children:
        raise DefinitionError(f"{where}: a field of type {element} has no child fields")
    ftype = FieldType(is_array, element)
    versions = Versions.parse(attrs.get("versions", "0+"), where).intersect(msg.versions)
    if versions.empty and attrs.get("versions") != "none":
        raise DefinitionError(f"{where}: field versions lie outside the message's versions {msg.versions}")
    nullable = Versions.parse(attrs["nullable"], where) if "nullable" in attrs else Versions(empty=True)
    nullable = nullable.intersect(versions)
    if not nullable.empty and not (is_array or ftype.is_struct or element in NULLABLE_CAPABLE):
        raise DefinitionError(f"{where}: a {element} cannot be nullable")
    tag = parse_int(attrs["tag"], where) if "tag" in attrs else None
    if tag is not None and tag < 0:
        raise DefinitionError(f"{where}: negative tag")
    if "tagged" in attrs and tag is None:
        raise DefinitionError(f"{where}: tagged= needs tag=")
    tagged = Versions(empty=True)
    if tag is not None:
        tagged = Versions.parse(attrs["tagged"], where) if "tagged" in attrs else versions.intersect(msg.flexible)
        if tagged.empty:
            raise DefinitionError(f"{where}: tagged field with no flexible versions")
        if not msg.flexible.covers(tagged):
            raise DefinitionError(f"{where}: tagged versions {tagged} reach non-flexible versions")
        if not versions.covers(tagged):
            raise DefinitionError(f"{where}: tagged versions {tagged} outside the field's versions {versions}")
    nonflexible = "nonflexible" in attrs
    if nonflexible and (is_array or element not in ("string", "bytes")):
        raise DefinitionError(f"{where}: nonflexible applies to string and bytes fields only")
    f = Field(name, ftype, versions, nullable, attrs.get("default"), tag, tagged, "ignorable" in attrs, nonflexible,
              where)
    if ftype.is_struct:
        if line.children:
            struct = Struct(element, [], where)
            add_struct(msg, struct)
            struct.fields = [parse_field(c, msg, path) for c in line.children]
    elif line.children:
        raise DefinitionError(f"{where}: only struct fields have children")
    check_default(f)
    return f


def check_default(f: Field) -> None:
    d = f.default
    if d is None:
        return
    where = f.where
    if d == "null":
        if f.nullable.empty:
            raise DefinitionError(f"{where}: default=null on a field that is never nullable")
        return
    if d == "empty":
        if not f.type.is_array:
            raise DefinitionError(f"{where}: default=empty applies to arrays only")
        return
    if f.type.is_array or f.type.is_struct:
        raise DefinitionError(f"{where}: arrays take only default=null or default=empty, structs only default=null")
    el = f.type.element
    if el in INTEGER_TYPES:
        value = parse_int(d, where)
        lo, hi = INTEGER_RANGES[el]
        if not lo <= value <= hi:
            raise DefinitionError(f"{where}: default {d} out of range for {el}")
    elif el == "bool":
        if d not in ("true", "false"):
            raise DefinitionError(f"{where}: a bool default is true or false")
    elif el == "float64":
        try:
            float(d)
        except ValueError:
            raise DefinitionError(f"{where}: bad float default '{d}'") from None
    elif el == "string":
        if not (len(d) >= 2 and d.startswith('"') and d.endswith('"')):
            raise DefinitionError(f"{where}: a string default is double-quoted")
    else:
        raise DefinitionError(f"{where}: {el} fields take no default (other than null where nullable)")


def validate_message(msg: Message) -> None:
    def visit(struct: Struct, seen: list[str]) -> None:
        names = set()
        tags = {}
        for f in struct.fields:
            if f.name in names:
                raise DefinitionError(f"{f.where}: field {f.name} appears twice in {struct.name}")
            names.add(f.name)
            if f.tag is not None:
                if f.tag in tags:
                    raise DefinitionError(f"{f.where}: tag {f.tag} already used by {tags[f.tag]}")
                tags[f.tag] = f.name
            if f.type.is_struct:
                target = msg.structs.get(f.type.element)
                if target is None:
                    raise DefinitionError(f"{f.where}: unknown struct {f.type.element}")
                if f.type.element in seen:
                    raise DefinitionError(f"{f.where}: struct {f.type.element} contains itself")
                f.struct = target
                visit(target, seen + [f.type.element])

    visit(msg.root, [msg.name])
    # C++: a member may not share its name with a nested type of the message.
    type_names = {s.cpp_name for s in msg.structs.values()}
    for struct in [msg.root] + list(msg.structs.values()):
        for f in struct.fields:
            if f.name in type_names:
                raise DefinitionError(
                    f"{f.where}: field '{f.name}' has the name of the struct type {f.name} in {msg.name}; "
                    f"struct names are not on the wire, so rename the struct")
    unused = [s.name for s in msg.structs.values() if not struct_used(msg, s)]
    if unused:
        raise DefinitionError(f"{msg.root.where}: unused structs {unused}")


def struct_used(msg: Message, target: Struct) -> bool:
    for struct in [msg.root] + list(msg.structs.values()):
        for f in struct.fields:
            if f.type.is_struct and f.type.element == target.name:
                return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# C++ emission


def cpp_value_type(f: Field) -> str:
    el = f.type.element
    base = PRIMITIVES[el][0] if el in PRIMITIVES else snake(el)
    if f.type.is_array:
        base = f"std::vector<{base}>"
    if f.can_be_null:
        base = f"std::optional<{base}>"
    return base


def cpp_default_init(f: Field) -> str:
    d = f.default
    el = f.type.element
    if f.can_be_null:
        if d is None or d == "null":
            return ""
        if d == "empty":
            return f" = {cpp_value_type(f)[len('std::optional<'):-1]}{{}}"
        return " = " + scalar_literal(el, d)
    if f.type.is_array or f.type.is_struct:
        return ""
    if d is None:
        if el in INTEGER_TYPES or el == "float64":
            return " = 0"
        if el == "bool":
            return " = false"
        return ""
    return " = " + scalar_literal(el, d)


def scalar_literal(el: str, d: str) -> str:
    if el in INTEGER_TYPES:
        v = parse_int(d, "")
        if el == "int64" and v == -(2**63):
            return "INT64_MIN"
        return f"{v}" if el != "int64" else f"INT64_C({v})"
    if el == "bool":
        return d
    if el == "float64":
        return repr(float(d))
    if el == "string":
        return f"std::string({d})"
    raise AssertionError(el)


def is_default_expr(f: Field, member: str) -> str:
    d = f.default
    el = f.type.element
    if f.can_be_null:
        if d is None or d == "null":
            return f"!{member}.has_value()"
        if d == "empty":
            return f"({member}.has_value() && {member}->empty())"
        return f"({member}.has_value() && *{member} == {scalar_literal(el, d)})"
    if f.type.is_array:
        return f"{member}.empty()"
    if f.type.is_struct:
        return f"{member} == {snake(el)}{{}}"
    if el == "uuid":
        return f"{member}.is_zero()"
    if el in ("bytes", "records"):
        return f"{member}.empty()"
    if el == "string":
        return f"{member}.empty()" if d is None else f"{member} == {d}"
    if el == "bool":
        return f"{member} == {'false' if d is None else d}"
    if el == "float64":
        return f"{member} == {0.0 if d is None else repr(float(d))}"
    return f"{member} == {scalar_literal(el, d) if d is not None else '0'}"


class Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, text: str = "") -> None:
        self.lines.append(("  " * self.depth + text) if text else "")

    def indent(self) -> "Emitter":
        self.depth += 1
        return self

    def dedent(self) -> None:
        self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def struct_order(msg: Message) -> list[Struct]:
    """Nested structs in dependency order: a struct comes after every struct it contains."""
    order: list[Struct] = []
    done: set[str] = set()

    def visit(s: Struct) -> None:
        for f in s.fields:
            if f.type.is_struct and f.type.element not in done:
                visit(f.struct)
        if s is not msg.root and s.name not in done:
            done.add(s.name)
            order.append(s)

    visit(msg.root)
    return order


def emit_struct_decl(e: Emitter, s: Struct, msg: Message, is_root: bool) -> None:
    name = msg.cpp_name if is_root else s.cpp_name
    e(f"struct {name} {{")
    e.indent()
    if is_root:
        e(f'static constexpr std::string_view message_name = "{msg.name}";')
        if msg.api_key is not None:
            e(f"static constexpr vltava::protocol::api_key api = vltava::protocol::api_key::{snake(msg.api_name)};")
        e(f"static constexpr std::int16_t min_version = {msg.versions.lo};")
        e(f"static constexpr std::int16_t max_version = {msg.versions.hi};")
        first_flex = -1 if msg.flexible.empty else msg.flexible.lo
        e(f"// First flexible version (compact encodings, tagged fields); -1 when none is.")
        e(f"static constexpr std::int16_t first_flexible_version = {first_flex};")
        e("static constexpr bool has_version(std::int16_t v) noexcept { return v >= min_version && v <= max_version; }")
        e("static constexpr bool is_flexible(std::int16_t v) noexcept {")
        e(f"  return first_flexible_version >= 0 && v >= first_flexible_version;")
        e("}")
        e()
        for nested in struct_order(msg):
            emit_struct_decl(e, nested, msg, False)
            e()
    for f in s.fields:
        comment = f"  // versions {f.versions}"
        if not f.nullable.empty:
            comment += f", nullable {f.nullable}"
        if f.tag is not None:
            comment += f", tag {f.tag} in {f.tagged}"
        e(f"{cpp_value_type(f)} {f.name}{cpp_default_init(f)};{comment}")
    e("tagged_fields unknown_tagged_fields;  // tags this definition does not know, written back unchanged")
    e()
    if is_root:
        e("// Appends the message body in `version`; on error nothing is appended.")
        e("std::error_code encode(writer& w, std::int16_t version) const;")
        e("// Decodes a body of `version`, replacing this value. Never throws, never reads past the input.")
        e("std::error_code decode(reader& r, std::int16_t version);")
        e("// Bytes encode() would append (0 for an unsupported version).")
        e("std::size_t encoded_size(std::int16_t version) const;")
    e("template <class W>")
    e("void write(W& w, std::int16_t version, codec_errc& error) const;")
    e("void read(reader& r, std::int16_t version);")
    e("// The fewest bytes one value can take in `version`: bounds array counts before anything is allocated.")
    e("static std::size_t min_encoded_size(std::int16_t version) noexcept;")
    e(f"bool operator==(const {name}&) const = default;")
    e.dedent()
    e("};")


def begin_header(source: str, system: list[str], project: list[str], namespace: str = "vltava::protocol",
                 about: tuple[str, ...] = ()) -> Emitter:
    """A generated header up to its opened namespace: banner, include guard, includes."""
    e = Emitter()
    e(f"// Generated by src/protocol/codegen/generate.py from {source}. Do not edit.")
    for line in about:
        e(f"// {line}")
    e("#pragma once")
    e()
    for name in system:
        e(f"#include <{name}>")
    e()
    for name in project:
        e(f'#include "{name}"')
    if project:
        e()
    e(f"namespace {namespace} {{")
    e()
    return e


def emit_file_header(df: DefinitionFile) -> str:
    e = begin_header(f"src/protocol/messages/{df.stem}.msg",
                     ["cstdint", "optional", "string", "string_view", "system_error", "vector"],
                     ["vltava/protocol/api_key.h", "vltava/protocol/message_support.h"])
    for msg in df.messages():
        emit_struct_decl(e, msg.root, msg, True)
        e()
    e("}  // namespace vltava::protocol")
    return e.text()


def qualified(msg: Message, s: Struct) -> str:
    return msg.cpp_name if s is msg.root else f"{msg.cpp_name}::{s.cpp_name}"


def compact_expr(f: Field) -> str:
    return "false" if f.nonflexible else "flexible"


def emit_write_value(e: Emitter, f: Field, member: str, msg: Message, v_range: Versions, wr: str = "w") -> None:
    """Writes `member` (the field's value) to `w` in version `version`, within the versions v_range."""
    el = f.type.element
    nullable_cond = f.nullable.condition("version", v_range)
    compact = compact_expr(f)
    if f.type.is_array:
        if f.can_be_null:
            e(f"if (!{member}) {{")
            e(f"  if (!({nullable_cond})) error = codec_errc::null_not_allowed;")
            e(f"  detail::write_length({wr}, -1, {compact}, false);")
            e("} else {")
            e.indent()
            arr = f"(*{member})"
        else:
            arr = member
        e(f"detail::write_length({wr}, static_cast<std::int64_t>({arr}.size()), {compact}, false);")
        e(f"for (const auto& item : {arr}) {{")
        e.indent()
        emit_write_scalar(e, el, "item", compact, False, "false", f, msg, wr)
        e.dedent()
        e("}")
        if f.can_be_null:
            e.dedent()
            e("}")
        return
    emit_write_scalar(e, el, member, compact, f.can_be_null, nullable_cond, f, msg, wr)


def emit_write_scalar(e: Emitter, el: str, member: str, compact: str, optional: bool, nullable_cond: str, f: Field,
                      msg: Message, wr: str = "w") -> None:
    if el in PRIMITIVES and PRIMITIVES[el][3]:
        e(f"{wr}.{PRIMITIVES[el][3]}({member});")
    elif el == "string":
        if optional:
            e(f"detail::write_nullable_string({wr}, {member}, {compact}, {nullable_cond}, error);")
        else:
            e(f"detail::write_string({wr}, {member}, {compact}, error);")
    elif el == "records":
        # Records may be external (shared_bytes::external): the length is written, the bytes left as a gap.
        if optional:
            e(f"detail::write_nullable_records({wr}, {member}, {compact}, {nullable_cond}, error);")
        else:
            e(f"detail::write_records({wr}, {member}, {compact}, error);")
    elif el == "bytes":
        if optional:
            e(f"detail::write_nullable_bytes({wr}, {member}, {compact}, {nullable_cond}, error);")
        else:
            e(f"detail::write_bytes({wr}, byte_span({member}.data(), {member}.size()), {compact});")
    else:  # struct
        if optional:
            e(f"if (!{member}) {{")
            e(f"  if (!({nullable_cond})) error = codec_errc::null_not_allowed;")
            e(f"  {wr}.write_int8(-1);")
            e("} else {")
            e(f"  if ({nullable_cond}) {wr}.write_int8(1);")
            e(f"  {member}->write({wr}, version, error);")
            e("}")
        else:
            e(f"{member}.write({wr}, version, error);")


def emit_read_value(e: Emitter, f: Field, member: str, rd: str, v_range: Versions, msg: Message) -> None:
    el = f.type.element
    nullable_cond = f.nullable.condition("version", v_range)
    compact = compact_expr(f)
    if f.type.is_array:
        if el in PRIMITIVES:
            min_size = str(PRIMITIVES[el][1] or 1)
        else:
            min_size = f"std::max<std::size_t>(1, {qualified(msg, f.struct)}::min_encoded_size(version))"
        e("{")
        e.indent()
        e(f"auto item_count = detail::read_length({rd}, {compact}, false, {nullable_cond if f.can_be_null else 'false'}, "
          f"{min_size});")
        if f.can_be_null:
            e(f"if (item_count == -1) {member}.reset();")
            e(f"if (item_count >= 0) {{")
            e.indent()
            e(f"{member}.emplace();")
            arr = f"(*{member})"
        else:
            e(f"if (item_count >= 0) {{")
            e.indent()
            arr = member
        e(f"{arr}.resize(static_cast<std::size_t>(item_count));")
        e(f"for (auto& item : {arr}) {{")
        e.indent()
        emit_read_scalar(e, el, "item", rd, compact, False, "false")
        e(f"if (!{rd}.ok()) break;")
        e.dedent()
        e("}")
        e.dedent()
        e("}")
        e.dedent()
        e("}")
        return
    emit_read_scalar(e, el, member, rd, compact, f.can_be_null, nullable_cond)


def emit_read_scalar(e: Emitter, el: str, member: str, rd: str, compact: str, optional: bool,
                     nullable_cond: str) -> None:
    if el in PRIMITIVES and PRIMITIVES[el][2]:
        e(f"{member} = {rd}.{PRIMITIVES[el][2]}();")
    elif el == "string":
        if optional:
            e(f"{member} = detail::read_nullable_string({rd}, {compact}, {nullable_cond});")
        else:
            e(f"{member} = detail::read_string({rd}, {compact});")
    elif el == "bytes":
        if optional:
            e(f"{member} = detail::read_nullable_bytes({rd}, {compact}, {nullable_cond});")
        else:
            e(f"{member} = detail::read_bytes({rd}, {compact});")
    elif el == "records":
        if optional:
            e(f"{member} = detail::read_nullable_records({rd}, {compact}, {nullable_cond});")
        else:
            e(f"{member} = detail::read_records({rd}, {compact});")
    else:
        if optional:
            e("{")
            e(f"  std::int8_t presence = ({nullable_cond}) ? {rd}.read_int8() : std::int8_t{{1}};")
            e(f"  if (presence == -1) {{")
            e(f"    {member}.reset();")
            e(f"  }} else if (presence == 1) {{")
            # Assign a value rather than emplace(): clang 14 rejects emplace() on an optional of a nested struct
            # with member initialisers, as seen from the enclosing class.
            e(f"    {member} = {snake(el)}{{}};")
            e(f"    {member}->read({rd}, version);")
            e(f"  }} else {{")
            e(f"    {rd}.fail(codec_errc::invalid_value);")
            e(f"  }}")
            e("}")
        else:
            e(f"{member}.read({rd}, version);")


def emit_struct_impl(e: Emitter, s: Struct, msg: Message) -> None:
    q = qualified(msg, s)
    vr = msg.versions
    flex_cond = msg.flexible.condition("version", vr)
    tagged = sorted([f for f in s.fields if f.tag is not None], key=lambda f: f.tag)

    # ---- minimum size ----
    e(f"std::size_t {q}::min_encoded_size([[maybe_unused]] std::int16_t version) noexcept {{")
    e.indent()
    e(f"[[maybe_unused]] const bool flexible = {flex_cond};")
    e("std::size_t min_size = flexible ? 1 : 0;  // the tagged-field count")
    for f in s.fields:
        present = f.versions.condition("version", vr)
        if f.tag is not None:
            present = f"({present}) && !({f.tagged.condition('version', vr)})"
        el = f.type.element
        if f.type.is_array or el in ("bytes", "records"):
            amount = "(flexible ? 1 : 4)" if not f.nonflexible else "4"
        elif el == "string":
            amount = "(flexible ? 1 : 2)" if not f.nonflexible else "2"
        elif el in PRIMITIVES:
            amount = str(PRIMITIVES[el][1])
        elif f.can_be_null:
            amount = f"(({f.nullable.condition('version', vr)}) ? 1 : {qualified(msg, f.struct)}::min_encoded_size(version))"
        else:
            amount = f"{qualified(msg, f.struct)}::min_encoded_size(version)"
        if present == "true":
            e(f"min_size += {amount};")
        elif present != "false" and not present.endswith("!(true)"):
            e(f"if ({present}) min_size += {amount};")
    e("return min_size;")
    e.dedent()
    e("}")
    e()

    # ---- write ----
    e("template <class W>")
    e(f"void {q}::write(W& w, [[maybe_unused]] std::int16_t version, [[maybe_unused]] codec_errc& error) const {{")
    e.indent()
    e(f"[[maybe_unused]] const bool flexible = {flex_cond};")
    for f in s.fields:
        member = f.name
        present = f.versions.condition("version", vr)
        regular = f.versions if f.tag is None else Versions(empty=True)
        if f.tag is not None:
            # Regular in the field's versions that are not tagged (rare, but the format allows it).
            if not f.tagged.covers(f.versions):
                regular = f.versions  # checked per version below
        if f.tag is None and present == "true":
            emit_write_value(e, f, member, msg, vr.intersect(f.versions))
        elif f.tag is None:
            e(f"if ({present}) {{")
            e.indent()
            emit_write_value(e, f, member, msg, vr.intersect(f.versions))
            e.dedent()
            e("} else if (!(" + is_default_expr(f, member) + ")) {")
            e(f"  {'' if f.ignorable else 'error = codec_errc::field_not_in_version;'}"
              f"{'  // ignorable: dropped in versions without it' if f.ignorable else ''}")
            e("}")
        else:
            tag_cond = f.tagged.condition("version", vr)
            e(f"if (({present}) && !({tag_cond})) {{")
            e.indent()
            emit_write_value(e, f, member, msg, vr.intersect(f.versions))
            e.dedent()
            e(f"}} else if (!({present}) && !({is_default_expr(f, member)})) {{")
            e(f"  {'' if f.ignorable else 'error = codec_errc::field_not_in_version;'}"
              f"{'  // ignorable: dropped in versions without it' if f.ignorable else ''}")
            e("}")
    e("if (flexible) {")
    e.indent()
    if tagged:
        e("std::uint32_t tag_count = static_cast<std::uint32_t>(unknown_tagged_fields.size());")
        for f in tagged:
            e(f"const bool has_tag_{f.tag} = ({f.tagged.condition('version', vr)}) && "
              f"!({is_default_expr(f, f.name)});")
            e(f"tag_count += has_tag_{f.tag} ? 1 : 0;")
        e("w.write_uvarint(tag_count);")
        e("detail::tag_merger<W> merger(w, unknown_tagged_fields, error);")
        for f in tagged:
            # Always announce a known tag of this version, so an unknown field reusing its number is refused.
            e(f"if ({f.tagged.condition('version', vr)}) merger.before({f.tag});")
            e(f"if (has_tag_{f.tag}) {{")
            e.indent()
            e(f"detail::write_tagged(w, {f.tag}, [&](auto& out) {{")
            e.indent()
            emit_write_value(e, f, f.name, msg, vr.intersect(f.tagged), "out")
            e.dedent()
            e("});")
            e.dedent()
            e("}")
        e("merger.finish();")
    else:
        e("w.write_uvarint(unknown_tagged_fields.size());")
        e("detail::tag_merger<W> merger(w, unknown_tagged_fields, error);")
        e("merger.finish();")
    e.dedent()
    e("} else if (!unknown_tagged_fields.empty()) {")
    e("  error = codec_errc::field_not_in_version;")
    e("}")
    e.dedent()
    e("}")
    e()

    # ---- read ----
    e(f"void {q}::read(reader& r, [[maybe_unused]] std::int16_t version) {{")
    e.indent()
    e(f"[[maybe_unused]] const bool flexible = {flex_cond};")
    for f in s.fields:
        present = f.versions.condition("version", vr)
        if f.tag is not None:
            present = f"({present}) && !({f.tagged.condition('version', vr)})"
        if present == "false" or present.endswith("!(true)"):
            continue
        if present == "true":
            emit_read_value(e, f, f.name, "r", vr.intersect(f.versions), msg)
        else:
            e(f"if ({present}) {{")
            e.indent()
            emit_read_value(e, f, f.name, "r", vr.intersect(f.versions), msg)
            e.dedent()
            e("}")
        e("if (!r.ok()) return;")
    e("if (flexible) {")
    e.indent()
    e("std::uint32_t tag_count = r.read_uvarint();")
    e("std::int64_t last_tag = -1;")
    e("for (std::uint32_t i = 0; i < tag_count && r.ok(); ++i) {")
    e.indent()
    e("std::uint32_t tag_id = 0;")
    e("byte_span tag_bytes;")
    e("if (!detail::read_tag_header(r, last_tag, tag_id, tag_bytes)) break;")
    if tagged:
        e("[[maybe_unused]] reader tag_reader(tag_bytes, r.owner());")
        e("switch (tag_id) {")
        e.indent()
        for f in tagged:
            e(f"case {f.tag}:")
            e(f"  if ({f.tagged.condition('version', vr)}) {{")
            e.indent()
            e.indent()
            emit_read_value(e, f, f.name, "tag_reader", vr.intersect(f.tagged), msg)
            e("detail::finish_tagged(r, tag_reader);")
            e("continue;")
            e.dedent()
            e.dedent()
            e("  }")
            e("  break;")
        e("default:")
        e("  break;")
        e.dedent()
        e("}")
    e("unknown_tagged_fields.push_back(tagged_field{tag_id, bytes(tag_bytes.begin(), tag_bytes.end())});")
    e.dedent()
    e("}")
    e.dedent()
    e("}")
    e.dedent()
    e("}")
    e()


def emit_file_source(df: DefinitionFile) -> str:
    e = Emitter()
    e(f"// Generated by src/protocol/codegen/generate.py from src/protocol/messages/{df.stem}.msg. Do not edit.")
    e(f'#include "vltava/protocol/messages/{df.stem}.h"')
    e()
    e("namespace vltava::protocol {")
    e()
    for msg in df.messages():
        for s in struct_order(msg) + [msg.root]:
            emit_struct_impl(e, s, msg)
        q = msg.cpp_name
        e(f"std::error_code {q}::encode(writer& w, std::int16_t version) const {{")
        e("  if (!has_version(version)) return make_error_code(codec_errc::unsupported_version);")
        e("  const std::size_t start = w.position();")
        e("  codec_errc error = codec_errc::ok;")
        e("  write(w, version, error);")
        e("  if (error != codec_errc::ok) {")
        e("    w.buffer().resize(start);")
        e("    return make_error_code(error);")
        e("  }")
        e("  return {};")
        e("}")
        e()
        e(f"std::error_code {q}::decode(reader& r, std::int16_t version) {{")
        e("  if (!has_version(version)) return make_error_code(codec_errc::unsupported_version);")
        e(f"  *this = {q}{{}};")
        e("  read(r, version);")
        e("  return r.ok() ? std::error_code{} : r.error();")
        e("}")
        e()
        e(f"std::size_t {q}::encoded_size(std::int16_t version) const {{")
        e("  if (!has_version(version)) return 0;")
        e("  size_counter counter;")
        e("  codec_errc error = codec_errc::ok;")
        e("  write(counter, version, error);")
        e("  return counter.size();")
        e("}")
        e()
    e("}  // namespace vltava::protocol")
    return e.text()


def emit_api_key_header(apis: list[Api]) -> str:
    e = begin_header("src/protocol/messages/*.msg", ["cstdint", "string_view"], [])
    e("// Every API that has a definition, with its wire key.")
    e("enum class api_key : std::int16_t {")
    for api in apis:
        e(f"  {snake(api.name)} = {api.key},")
    e("};")
    e()
    e("constexpr std::string_view api_name(api_key key) noexcept {")
    e("  switch (key) {")
    for api in apis:
        e(f'    case api_key::{snake(api.name)}: return "{api.name}";')
    e("  }")
    e('  return "Unknown";')
    e("}")
    e()
    e("}  // namespace vltava::protocol")
    return e.text()


def emit_umbrella(files: list[DefinitionFile], apis: list[Api]) -> str:
    e = begin_header("src/protocol/messages/*.msg", ["array", "type_traits"],
                     ["vltava/protocol/api_key.h"] + [f"vltava/protocol/messages/{df.stem}.h" for df in files],
                     about=("Every message struct, and the catalog of every defined API.",))
    e("// What the definitions can encode and decode for one API (not what the broker advertises).")
    e("struct api_definition {")
    e("  api_key key;")
    e("  std::string_view name;")
    e("  std::int16_t min_version;")
    e("  std::int16_t max_version;")
    e("  std::int16_t first_flexible_version;  // -1: never flexible")
    e("};")
    e()
    e(f"inline constexpr std::array<api_definition, {len(apis)}> all_api_definitions{{{{")
    for api in apis:
        ff = -1 if api.flexible.empty else api.flexible.lo
        e(f'  {{api_key::{snake(api.name)}, "{api.name}", {api.versions.lo}, {api.versions.hi}, {ff}}},')
    e("}};")
    e()
    e("template <class T>")
    e("struct message_type_tag {")
    e("  using type = T;")
    e("};")
    e()
    e("// Calls f(message_type_tag<Request>{}, message_type_tag<Response>{}) for the API with this key and returns")
    e("// true, or returns false for a key without a definition.")
    e("template <class F>")
    e("bool visit_api(std::int16_t key, F&& f) {")
    e("  switch (key) {")
    for api in apis:
        e(f"    case {api.key}:")
        e(f"      f(message_type_tag<{snake(api.name)}_request>{{}}, message_type_tag<{snake(api.name)}_response>{{}});")
        e("      return true;")
    e("    default:")
    e("      return false;")
    e("  }")
    e("}")
    e()
    e("// Calls f(message_type_tag<T>{}) for every stored record type and header.")
    e("template <class F>")
    e("void visit_records(F&& f) {")
    for df in files:
        for rec in df.records:
            e(f"  f(message_type_tag<{rec.cpp_name}>{{}});")
    e("}")
    e()
    e("}  // namespace vltava::protocol")
    return e.text()


def emit_test_support(files: list[DefinitionFile]) -> str:
    e = begin_header("src/protocol/messages/*.msg", ["cstdint", "random"], ["vltava/protocol/messages.h"],
                     namespace="vltava::protocol::testing",
                     about=("fill_sample(value, version, rng) sets every field that `version` has to a varied, mostly",
                            "non-default value, so that round-trip tests exercise every field of every version."))
    e("struct sample_rng {")
    e("  std::mt19937_64 engine;")
    e("  int depth = 0;")
    e("  explicit sample_rng(std::uint64_t seed) : engine(seed) {}")
    e("  std::uint64_t next() { return engine(); }")
    e("  bool chance(int one_in) { return next() % static_cast<std::uint64_t>(one_in) == 0; }")
    e("  std::size_t count() { return depth > 3 ? 0 : static_cast<std::size_t>(next() % 3); }")
    e("  std::string text() {")
    e("    std::string s(static_cast<std::size_t>(next() % 12), 'a');")
    e("    for (auto& c : s) c = static_cast<char>('a' + next() % 26);")
    e("    return s;")
    e("  }")
    e("  bytes blob() {")
    e("    bytes b(static_cast<std::size_t>(next() % 20));")
    e("    for (auto& c : b) c = static_cast<std::uint8_t>(next());")
    e("    return b;")
    e("  }")
    e("  uuid id() {")
    e("    uuid u;")
    e("    for (auto& c : u.value) c = static_cast<std::uint8_t>(next());")
    e("    return u;")
    e("  }")
    e("  // Unknown tags above every tag the definitions use, to check that they survive a round trip.")
    e("  void unknown_tags(tagged_fields& out) {")
    e("    if (!chance(3)) return;")
    e("    out.push_back(tagged_field{static_cast<std::uint32_t>(100 + next() % 50), blob()});")
    e("  }")
    e("};")
    e()

    def sample_expr(el: str) -> str:
        if el == "bool":
            return "rng.chance(2)"
        if el in INTEGER_TYPES:
            return f"static_cast<{PRIMITIVES[el][0]}>(rng.next())"
        if el == "float64":
            return "static_cast<double>(rng.next() % 100000) / 8.0"
        if el == "uuid":
            return "rng.id()"
        if el == "string":
            return "rng.text()"
        if el == "bytes":
            return "rng.blob()"
        if el == "records":
            return "shared_bytes::adopt(rng.blob())"
        raise AssertionError(el)

    decls = []
    bodies = []
    for df in files:
        for msg in df.messages():
            vr = msg.versions
            for s in struct_order(msg) + [msg.root]:
                q = qualified(msg, s)
                decls.append(f"inline void fill_sample({q}& filled, std::int16_t version, sample_rng& rng);")
                b = Emitter()
                b(f"inline void fill_sample({q}& filled, [[maybe_unused]] std::int16_t version, sample_rng& rng) {{")
                b.indent()
                b("[[maybe_unused]] const bool flexible = " + msg.flexible.condition("version", vr) + ";")
                b("++rng.depth;")
                for f in s.fields:
                    present = f.versions.condition("version", vr)
                    if present == "false":
                        continue
                    b(f"if ({present}) {{")
                    b.indent()
                    member = f"filled.{f.name}"
                    if f.can_be_null:
                        b(f"if (({f.nullable.condition('version', vr)}) && rng.chance(4)) {{")
                        b(f"  {member}.reset();")
                        b("} else {")
                        b.indent()
                        empty = qualified(msg, f.struct) if (f.type.is_struct and not f.type.is_array) else None
                        b(f"{member} = {empty}{{}};" if empty else f"{member}.emplace();")
                        target = f"(*{member})"
                    else:
                        target = member
                    el = f.type.element
                    if f.type.is_array:
                        b(f"{target}.resize(rng.count());")
                        b(f"for (auto& item : {target}) {{")
                        if f.type.is_struct:
                            b("  fill_sample(item, version, rng);")
                        else:
                            b(f"  item = {sample_expr(el)};")
                        b("}")
                    elif f.type.is_struct:
                        b(f"fill_sample({target}, version, rng);")
                    else:
                        b(f"{target} = {sample_expr(el)};")
                    if f.can_be_null:
                        b.dedent()
                        b("}")
                    b.dedent()
                    b("}")
                b("if (flexible) rng.unknown_tags(filled.unknown_tagged_fields);")
                b("--rng.depth;")
                b.dedent()
                b("}")
                bodies.append(b.text())
    for d in decls:
        e(d)
    e()
    for b in bodies:
        e.lines.append(b)
    e("}  // namespace vltava::protocol::testing")
    return e.text()


def write_if_changed(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                os.utime(path)  # the build system compares times
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def load(paths: list[str]) -> tuple[list[DefinitionFile], list[Api]]:
    files = [parse_file(p) for p in sorted(paths, key=os.path.basename)]
    apis: list[Api] = []
    keys: dict[int, str] = {}
    names: dict[str, str] = {}
    for df in files:
        for api in df.apis:
            if api.key in keys:
                raise DefinitionError(f"{df.path}: api key {api.key} already used by {keys[api.key]}")
            keys[api.key] = api.name
            apis.append(api)
        for msg in df.messages():
            if msg.cpp_name in names:
                raise DefinitionError(f"{df.path}: message {msg.name} already defined in {names[msg.cpp_name]}")
            names[msg.cpp_name] = df.path
    apis.sort(key=lambda a: a.key)
    return files, apis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="output directory (…/generated/vltava/protocol)")
    parser.add_argument("--check", action="store_true", help="only parse and validate")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    try:
        files, apis = load(args.files)
    except DefinitionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check:
        for df in files:
            for api in df.apis:
                print(f"{df.path}: api {api.name} key={api.key} versions={api.versions} flexible={api.flexible}")
            for rec in df.records:
                print(f"{df.path}: record {rec.name} versions={rec.versions} flexible={rec.flexible}")
        return 0
    if not args.out:
        parser.error("--out is required unless --check is given")
    for df in files:
        write_if_changed(os.path.join(args.out, "messages", f"{df.stem}.h"), emit_file_header(df))
        write_if_changed(os.path.join(args.out, "messages", f"{df.stem}.cc"), emit_file_source(df))
    write_if_changed(os.path.join(args.out, "api_key.h"), emit_api_key_header(apis))
    write_if_changed(os.path.join(args.out, "messages.h"), emit_umbrella(files, apis))
    write_if_changed(os.path.join(args.out, "messages_test_support.h"), emit_test_support(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
