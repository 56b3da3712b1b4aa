"""Parsing of Apache Kafka's message definition JSON into a small model.

The definitions are JSON with `//` comments. This module strips the comments,
parses version ranges ("0+", "3-7", "5", "none") and builds Message/Struct/Field
objects the emitters walk. Standard library only.
"""

import json
import re

MAX_VERSION = 0x7FFF

CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast requires return
short signed sizeof static static_assert static_cast struct switch template this thread_local
throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
xor xor_eq
""".split())

PRIMITIVE_SIZES = {"bool": 1, "int8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
                   "int64": 8, "float64": 8, "uuid": 16}
VARIABLE_TYPES = ("string", "bytes", "records")


class SchemaError(Exception):
    pass


def strip_json_comments(text):
    """Removes // and /* */ comments that are outside JSON strings."""
    out = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise SchemaError("unterminated /* comment")
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.loads(strip_json_comments(f.read()))


class Versions:
    """An inclusive version range; empty when lo > hi."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(spec):
        spec = (spec or "").strip()
        if spec in ("", "none"):
            return Versions(1, 0)
        if spec.endswith("+"):
            return Versions(int(spec[:-1]), MAX_VERSION)
        if "-" in spec:
            lo, hi = spec.split("-", 1)
            return Versions(int(lo), int(hi))
        return Versions(int(spec), int(spec))

    def empty(self):
        return self.lo > self.hi

    def contains(self, v):
        return self.lo <= v <= self.hi

    def intersect(self, other):
        return Versions(max(self.lo, other.lo), min(self.hi, other.hi))

    def __eq__(self, other):
        return isinstance(other, Versions) and (self.empty() and other.empty() or
                                                (self.lo, self.hi) == (other.lo, other.hi))

    def __repr__(self):
        return "Versions(%d, %d)" % (self.lo, self.hi)


def snake_case(name):
    """ThrottleTimeMs -> throttle_time_ms, ApiVersionsResponse -> api_versions_response."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def cpp_identifier(name):
    s = snake_case(name)
    return s + "_" if s in CPP_KEYWORDS else s


class FieldType:
    """A field type: primitive name, struct name, or array of either."""

    def __init__(self, spec):
        self.spec = spec
        self.is_array = spec.startswith("[]")
        base = spec[2:] if self.is_array else spec
        self.element = base
        self.is_struct = base not in PRIMITIVE_SIZES and base not in VARIABLE_TYPES
        if base in ("varint", "varlong"):
            raise SchemaError("type %s is not supported by this generator" % base)

    def __repr__(self):
        return "FieldType(%r)" % self.spec


class Field:
    def __init__(self, spec, owner_name):
        self.name = spec["name"]
        self.cpp_name = cpp_identifier(self.name)
        self.owner_name = owner_name
        self.type = FieldType(spec["type"].strip())
        self.versions = Versions.parse(spec.get("versions"))
        self.nullable_versions = Versions.parse(spec.get("nullableVersions"))
        self.tagged_versions = Versions.parse(spec.get("taggedVersions"))
        self.tag = spec.get("tag")
        if (self.tag is None) != self.tagged_versions.empty():
            raise SchemaError("%s.%s: tag and taggedVersions go together" % (owner_name, self.name))
        self.ignorable = bool(spec.get("ignorable", False))
        flex = spec.get("flexibleVersions")
        self.flexible_override = None if flex is None else Versions.parse(flex)
        raw_default = spec.get("default")
        self.default = None if raw_default is None else (
            str(raw_default).lower() if isinstance(raw_default, bool) else str(raw_default))
        self.inline_fields = spec.get("fields")
        if self.type.is_struct and not self.type.is_array and not self.nullable_versions.empty():
            raise SchemaError("%s.%s: nullable struct fields are not supported" % (owner_name, self.name))
        if self.type.element == "records" and self.type.is_array:
            raise SchemaError("%s.%s: arrays of records" % (owner_name, self.name))

    @property
    def nullable_type(self):
        """True when the C++ member is a std::optional."""
        return self.type.element == "records" and not self.type.is_array or \
            not self.nullable_versions.empty()

    @property
    def default_is_null(self):
        if self.type.element == "records" and not self.type.is_array:
            return True
        return self.default == "null"

    def regular_versions(self, valid):
        """Versions in which the field is written inline (not as a tagged field)."""
        v = self.versions.intersect(valid)
        if self.tagged_versions.empty():
            return v
        t = self.tagged_versions
        if t.hi >= v.hi and t.lo <= v.lo:
            return Versions(1, 0)
        if t.lo > v.lo and t.hi >= v.hi:
            return Versions(v.lo, min(v.hi, t.lo - 1))
        raise SchemaError("%s.%s: unsupported taggedVersions layout" % (self.owner_name, self.name))

    def tag_versions(self, valid):
        return self.tagged_versions.intersect(self.versions).intersect(valid)


class Struct:
    def __init__(self, name, fields_spec, message_name):
        self.name = name
        self.cpp_name = snake_case(name)
        self.message_name = message_name
        self.fields = [Field(f, name) for f in fields_spec]

    def label(self, field):
        """Message.Field for top-level fields, Message.Struct.Field below."""
        if self.name == self.message_name:
            return "%s.%s" % (self.message_name, field.name)
        return "%s.%s.%s" % (self.message_name, self.name, field.name)

    def known_tags(self):
        return sorted({f.tag for f in self.fields if f.tag is not None})


class Message:
    def __init__(self, spec, source_name):
        self.source_name = source_name
        self.name = spec["name"]
        self.kind = spec["type"]
        self.api_key = spec.get("apiKey")
        self.cpp_name = snake_case(self.name)
        valid = Versions.parse(spec["validVersions"])
        self.declared_valid = valid
        self.latest_unstable = bool(spec.get("latestVersionUnstable", False))
        if self.latest_unstable:
            valid = Versions(valid.lo, valid.hi - 1)
        self.valid = valid
        self.flexible = Versions.parse(spec.get("flexibleVersions", "none")).intersect(
            Versions(0, MAX_VERSION))
        self.root = Struct(self.name, spec.get("fields", []), self.name)
        self.structs = []  # nested structs, dependencies first
        common = {c["name"]: c for c in spec.get("commonStructs", [])}
        self._collect(self.root, common, {})
        self._resolve_names()

    def _collect(self, struct, common, seen):
        for f in struct.fields:
            if not f.type.is_struct:
                continue
            tname = f.type.element
            if tname in seen:
                if f.inline_fields:
                    raise SchemaError("%s: struct %s defined twice" % (self.name, tname))
                f.struct = seen[tname]
                continue
            if f.inline_fields is not None:
                child = Struct(tname, f.inline_fields, self.name)
            elif tname in common:
                child = Struct(tname, common[tname].get("fields", []), self.name)
            else:
                raise SchemaError("%s: unknown struct type %s" % (self.name, tname))
            seen[tname] = child
            f.struct = child
            self._collect(child, common, seen)
            self.structs.append(child)

    def _resolve_names(self):
        """A nested type named like a member would be hidden by it: suffix _t."""
        member_names = set()
        for s in [self.root] + self.structs:
            member_names.update(f.cpp_name for f in s.fields)
        reserved = {"unknown_tagged_fields", "message_name", "lowest_version", "highest_version"}
        for s in self.structs:
            if s.cpp_name in member_names or s.cpp_name in reserved or s.cpp_name == self.cpp_name:
                s.cpp_name += "_t"
        for f in self.root.fields:
            if f.cpp_name in reserved:
                raise SchemaError("%s: field %s collides with a generated member" % (self.name, f.name))

    @property
    def flexible_valid(self):
        return self.flexible.intersect(self.valid)

    def first_flexible(self):
        fv = self.flexible_valid
        return -1 if fv.empty() else fv.lo

    def all_structs(self):
        return self.structs + [self.root]


def load_message(path, source_name):
    return Message(load_json(path), source_name)


def read_whitelist(path):
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def parse_errors_tsv(path):
    """Rows of (code, NAME, retriable, message) from errors.tsv."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        idx = {name: i for i, name in enumerate(header)}
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            cols += [""] * (len(header) - len(cols))
            retriable = cols[idx["retriable"]].strip().lower()
            if retriable not in ("yes", "no"):
                raise SchemaError("errors.tsv: bad retriable flag %r" % retriable)
            rows.append((int(cols[idx["code"]]), cols[idx["name"]].strip(), retriable == "yes",
                         cols[idx["message"]].strip()))
    return rows
