"""Emits the C++ struct, encoder and decoder of one Kafka message.

Every struct gets three static functions in the message's .cc file
(struct_size, write_struct, read_struct) that take the version at run time;
per-field presence is a version-range test. The public entry points
(encoded_size/encode/decode) check the version range first.
"""

import json

from kp_schema import PRIMITIVE_SIZES, SchemaError, Versions

INT_TYPES = {"int8": "std::int8_t", "int16": "std::int16_t", "int32": "std::int32_t",
             "int64": "std::int64_t", "uint16": "std::uint16_t", "uint32": "std::uint32_t"}
INT_LIMITS = {"int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1),
              "int64": (-2**63, 2**63 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1)}
SCALAR_IO = {"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint16": "u16",
             "uint32": "u32", "float64": "f64", "bool": "bool"}
UUID_TYPE = "std::array<std::uint8_t, 16>"
BYTES_TYPE = "std::vector<std::uint8_t>"


def cpp_string_literal(s):
    """A C++ string literal for s (JSON escapes are valid C++ escapes for ASCII)."""
    return json.dumps(s, ensure_ascii=True)


def version_cond(vr, valid, var="v"):
    """C++ test for `var in vr`, simplified against the message's valid range."""
    vr = vr.intersect(valid)
    if vr.empty():
        return "false"
    if vr.lo <= valid.lo and vr.hi >= valid.hi:
        return "true"
    if vr.hi >= valid.hi:
        return "%s >= %d" % (var, vr.lo)
    if vr.lo <= valid.lo:
        return "%s <= %d" % (var, vr.hi)
    if vr.lo == vr.hi:
        return "%s == %d" % (var, vr.lo)
    return "%s >= %d && %s <= %d" % (var, vr.lo, var, vr.hi)


def int_default(field):
    if field.default in (None, ""):
        return 0
    value = int(field.default, 0)
    lo, hi = INT_LIMITS[field.type.element]
    if not lo <= value <= hi:
        raise SchemaError("%s.%s: default out of range" % (field.owner_name, field.name))
    return value


def int_literal(type_name, value):
    lo = INT_LIMITS[type_name][0]
    if value == lo and lo < 0:
        return "std::numeric_limits<%s>::min()" % INT_TYPES[type_name]
    return str(value)


class MessageEmitter:
    def __init__(self, msg, source_label):
        self.msg = msg
        self.source_label = source_label
        self.valid = msg.valid
        self.never_flexible = msg.flexible_valid.empty()

    # ---- types and defaults ------------------------------------------------------
    def struct_type(self, struct):
        if struct is self.msg.root:
            return self.msg.cpp_name
        return "%s::%s" % (self.msg.cpp_name, struct.cpp_name)

    def element_type(self, field):
        e = field.type.element
        if field.type.is_struct:
            return self.struct_type(field.struct)
        if e in INT_TYPES:
            return INT_TYPES[e]
        return {"bool": "bool", "float64": "double", "string": "std::string", "bytes": BYTES_TYPE,
                "records": BYTES_TYPE, "uuid": UUID_TYPE}[e]

    def field_type(self, field):
        t = self.element_type(field)
        if field.type.is_array:
            t = "std::vector<%s>" % t
        return "std::optional<%s>" % t if field.nullable_type else t

    def default_init(self, field):
        """The member's initializer (including ' = ' or '{}'), '' for value-initialised types."""
        e, d = field.type.element, field.default
        if field.type.is_array:
            if field.nullable_type and not field.default_is_null:
                return " = std::vector<%s>{}" % self.element_type(field)
            return ""
        if e in INT_TYPES:
            return " = " + int_literal(e, int_default(field))
        if e == "bool":
            return " = " + ("true" if d == "true" else "false")
        if e == "float64":
            return " = %r" % float(d or 0.0)
        if e == "uuid":
            if d not in (None, ""):
                raise SchemaError("%s.%s: uuid defaults are not supported" % (field.owner_name, field.name))
            return "{}"
        if e == "string":
            if field.nullable_type:
                return "" if field.default_is_null else " = std::string(%s)" % cpp_string_literal(d or "")
            return " = %s" % cpp_string_literal(d) if d else ""
        if e in ("bytes", "records"):
            if field.nullable_type and not field.default_is_null:
                return " = %s{}" % BYTES_TYPE
            return ""
        return ""  # struct

    def is_default(self, field, x):
        e, d = field.type.element, field.default
        if field.type.is_array or e in ("bytes", "records"):
            if not field.nullable_type:
                return "%s.empty()" % x
            return "!%s.has_value()" % x if field.default_is_null else "(%s.has_value() && %s->empty())" % (x, x)
        if e in INT_TYPES:
            return "%s == %s" % (x, int_literal(e, int_default(field)))
        if e == "bool":
            return "%s == %s" % (x, "true" if d == "true" else "false")
        if e == "float64":
            return "%s == %r" % (x, float(d or 0.0))
        if e == "uuid":
            return "%s == %s{}" % (x, UUID_TYPE)
        if e == "string":
            lit = cpp_string_literal(d or "")
            if field.nullable_type:
                if field.default_is_null:
                    return "!%s.has_value()" % x
                return "(%s.has_value() && *%s == %s)" % (x, x, lit)
            return "%s.empty()" % x if not d else "%s == %s" % (x, lit)
        return "%s == %s{}" % (x, self.struct_type(field.struct))

    # ---- per-field code -----------------------------------------------------------
    def compact(self, field):
        if field.flexible_override is None:
            return "false" if self.never_flexible else "flex"
        return version_cond(self.msg.flexible.intersect(field.flexible_override), self.valid)

    def nullable_cond(self, field):
        return version_cond(field.nullable_versions, self.valid)

    def element_size(self, field, x, c):
        e = field.type.element
        if field.type.is_struct:
            return "struct_size(%s, v)" % x
        if e in PRIMITIVE_SIZES:
            return str(PRIMITIVE_SIZES[e])
        return "%s_size(%s, %s)" % ("string" if e == "string" else "bytes", x, c)

    def size_expr(self, field, x, depth=1):
        c = self.compact(field)
        if field.type.is_array:
            y = "x%d" % depth
            helper = "nullable_array_size" if field.nullable_type else "array_size"
            return "%s(%s, %s, [&]([[maybe_unused]] const auto& %s) -> std::size_t { return %s; })" % (
                helper, x, c, y, self.element_size(field, y, c))
        e = field.type.element
        if field.nullable_type:
            return "nullable_%s_size(%s, %s)" % ("string" if e == "string" else "bytes", x, c)
        return self.element_size(field, x, c)

    def element_write(self, field, x, c):
        e = field.type.element
        if field.type.is_struct:
            return "KP_TRY(write_struct(w, %s, v));" % x
        if e in SCALAR_IO:
            return "w.write_%s(%s);" % (SCALAR_IO[e], x)
        if e == "uuid":
            return "w.write_raw(%s.data(), %s.size());" % (x, x)
        if e == "string":
            return "KP_TRY(write_string(w, %s, %s));" % (x, c)
        return "write_bytes(w, %s, %s);" % (x, c)

    def write_stmt(self, struct, field, x):
        c = self.compact(field)
        label = cpp_string_literal(struct.label(field))
        if field.type.is_array:
            body = self.element_write(field, "x1", c)
            if body.startswith("KP_TRY("):  # no KP_TRY inside a KP_TRY argument (-Wshadow)
                body = "return %s;" % body[len("KP_TRY("):-2]
            else:
                body += " return {};"
            lam = "[&](const auto& x1) -> kprod::result<void> { %s }" % body
            if field.nullable_type:
                return "KP_TRY(write_nullable_array(w, %s, %s, %s, %s, v, %s));" % (
                    x, c, self.nullable_cond(field), label, lam)
            return "KP_TRY(write_array(w, %s, %s, %s));" % (x, c, lam)
        if field.nullable_type:
            kind = "string" if field.type.element == "string" else "bytes"
            return "KP_TRY(write_nullable_%s(w, %s, %s, %s, %s, v));" % (
                kind, x, c, self.nullable_cond(field), label)
        return self.element_write(field, x, c)

    def element_read(self, field, x, c, r):
        e = field.type.element
        if field.type.is_struct:
            return "read_struct(%s, %s, v);" % (r, x)
        if e in SCALAR_IO:
            return "%s = %s.read_%s();" % (x, r, SCALAR_IO[e])
        if e == "uuid":
            return "read_uuid(%s, %s);" % (r, x)
        if e == "string":
            return "read_string(%s, %s, %s);" % (r, x, c)
        return "read_bytes(%s, %s, %s);" % (r, x, c)

    def read_stmt(self, field, x, r):
        c = self.compact(field)
        if field.type.is_array:
            e = field.type.element
            min_bytes = PRIMITIVE_SIZES.get(e, 1)
            lam = "[&](auto& x1) { %s }" % self.element_read(field, "x1", c, r)
            if field.nullable_type:
                return "read_nullable_array(%s, %s, %s, %s, %d, %s);" % (
                    r, x, c, self.nullable_cond(field), min_bytes, lam)
            return "read_array(%s, %s, %s, %d, %s);" % (r, x, c, min_bytes, lam)
        if field.nullable_type:
            kind = "string" if field.type.element == "string" else "bytes"
            return "read_nullable_%s(%s, %s, %s, %s);" % (kind, r, x, c, self.nullable_cond(field))
        return self.element_read(field, x, c, r)

    # ---- struct functions ---------------------------------------------------------
    def flex_decl(self):
        if self.never_flexible:
            return []
        return ["  [[maybe_unused]] const bool flex = %s;" % version_cond(self.msg.flexible, self.valid)]

    def tagged_fields(self, struct):
        out = [f for f in struct.fields if not f.tag_versions(self.valid).empty()]
        return sorted(out, key=lambda f: f.tag)

    @staticmethod
    def guarded(cond, stmt, indent="  "):
        if cond == "true":
            return ["%s%s" % (indent, stmt)]
        if cond == "false":
            return []
        return ["%sif (%s) %s" % (indent, cond, stmt)]

    def emit_size(self, struct):
        t = self.struct_type(struct)
        out = ["std::size_t struct_size([[maybe_unused]] const %s& x, [[maybe_unused]] std::int16_t v) {" % t]
        out += self.flex_decl()
        out.append("  std::size_t n = 0;")
        for f in struct.fields:
            cond = version_cond(f.regular_versions(self.valid), self.valid)
            out += self.guarded(cond, "n += %s;" % self.size_expr(f, "x." + f.cpp_name))
        if not self.never_flexible:
            out.append("  if (flex) {")
            out.append("    std::size_t tags = x.unknown_tagged_fields.size();")
            out.append("    n += unknown_tags_size(x.unknown_tagged_fields);")
            for f in self.tagged_fields(struct):
                cond = version_cond(f.tag_versions(self.valid), self.valid)
                xf = "x." + f.cpp_name
                test = "!(%s)" % self.is_default(f, xf) if cond == "true" else "%s && !(%s)" % (
                    cond, self.is_default(f, xf))
                out.append("    if (%s) {" % test)
                out.append("      ++tags;")
                out.append("      n += tagged_entry_size(%d, %s);" % (f.tag, self.size_expr(f, xf)))
                out.append("    }")
            out.append("    n += codec::uvarint_size(tags);")
            out.append("  }")
        out.append("  return n;")
        out.append("}")
        return out

    def emit_write(self, struct):
        t = self.struct_type(struct)
        out = ["kprod::result<void> write_struct([[maybe_unused]] codec::byte_writer& w, const %s& x, "
               "[[maybe_unused]] std::int16_t v) {" % t]
        out += self.flex_decl()
        for f in struct.fields:
            if f.ignorable:
                continue
            present = version_cond(f.versions, self.valid)
            if present == "true":
                continue
            absent = "true" if present == "false" else "!(%s)" % present
            test = "!(%s)" % self.is_default(f, "x." + f.cpp_name)
            if absent != "true":
                test = "%s && %s" % (absent, test)
            out.append("  if (%s) return field_not_in_version(%s, v);" % (
                test, cpp_string_literal(struct.label(f))))
        for f in struct.fields:
            cond = version_cond(f.regular_versions(self.valid), self.valid)
            out += self.guarded(cond, self.write_stmt(struct, f, "x." + f.cpp_name))
        struct_label = cpp_string_literal("%s.%s" % (self.msg.name, struct.name)
                                          if struct is not self.msg.root else self.msg.name)
        if not self.never_flexible:
            tagged = self.tagged_fields(struct)
            out.append("  if (flex) {")
            out.append("    auto tags = static_cast<std::uint32_t>(x.unknown_tagged_fields.size());")
            for f in tagged:
                cond = version_cond(f.tag_versions(self.valid), self.valid)
                xf = "x." + f.cpp_name
                out.append("    const bool has_tag%d = %s!(%s);" % (
                    f.tag, "" if cond == "true" else "(%s) && " % cond, self.is_default(f, xf)))
                out.append("    tags += has_tag%d ? 1u : 0u;" % f.tag)
            out.append("    w.write_uvarint(tags);")
            out.append("    tag_section_writer tw(w, x.unknown_tagged_fields);")
            for f in tagged:
                xf = "x." + f.cpp_name
                out.append("    if (has_tag%d) {" % f.tag)
                out.append("      KP_TRY(tw.before(%d));" % f.tag)
                out.append("      w.write_uvarint(%d);" % f.tag)
                out.append("      w.write_uvarint(static_cast<std::uint32_t>(%s));" % self.size_expr(f, xf))
                out.append("      %s" % self.write_stmt(struct, f, xf))
                out.append("    }")
            out.append("    tw.finish();")
            out.append("  } else if (!x.unknown_tagged_fields.empty()) {")
        else:
            out.append("  if (!x.unknown_tagged_fields.empty()) {")
        out.append("    return tags_need_flexible(%s, v);" % struct_label)
        out.append("  }")
        out.append("  return {};")
        out.append("}")
        return out

    def emit_read(self, struct):
        t = self.struct_type(struct)
        out = ["void read_struct([[maybe_unused]] codec::byte_reader& r, [[maybe_unused]] %s& x, [[maybe_unused]] std::int16_t v) {" % t]
        out += self.flex_decl()
        for f in struct.fields:
            cond = version_cond(f.regular_versions(self.valid), self.valid)
            out += self.guarded(cond, self.read_stmt(f, "x." + f.cpp_name, "r"))
        if not self.never_flexible:
            tagged = self.tagged_fields(struct)
            if not tagged:
                out.append("  if (flex) read_tag_section(r, x.unknown_tagged_fields, "
                           "[](std::uint32_t, codec::byte_reader&) { return false; });")
            else:
                out.append("  if (flex) {")
                out.append("    read_tag_section(r, x.unknown_tagged_fields, "
                           "[&](std::uint32_t tag, codec::byte_reader& sub) -> bool {")
                out.append("      switch (tag) {")
                for f in tagged:
                    cond = version_cond(f.tag_versions(self.valid), self.valid)
                    out.append("        case %d:" % f.tag)
                    if cond != "true":
                        out.append("          if (!(%s)) return false;" % cond)
                    out.append("          %s" % self.read_stmt(f, "x." + f.cpp_name, "sub"))
                    out.append("          return true;")
                out.append("        default:")
                out.append("          return false;")
                out.append("      }")
                out.append("    });")
                out.append("  }")
        out.append("}")
        return out

    # ---- files -----------------------------------------------------------------------
    def banner(self):
        return ["// GENERATED by codegen/kafka_codegen.py from %s (Apache Kafka message definitions)." %
                self.source_label,
                "// Do not edit: change the generator and run the regen-protocol target."]

    def emit_struct_body(self, struct, indent):
        out = []
        for f in struct.fields:
            out.append("%s%s %s%s;" % (indent, self.field_type(f), f.cpp_name, self.default_init(f)))
        out.append("%sstd::vector<tagged_field> unknown_tagged_fields;" % indent)
        return out

    def header(self):
        m = self.msg
        out = self.banner() + ["#pragma once", "", "#include <array>", "#include <cstddef>",
                               "#include <cstdint>", "#include <limits>", "#include <optional>",
                               "#include <string>", "#include <string_view>", "#include <vector>", "",
                               '#include "protocol/primitives.h"', "", "namespace kprod::protocol {", ""]
        desc = "%s: versions %d-%d" % (m.name, m.valid.lo, m.valid.hi)
        if m.api_key is not None:
            desc += ", API key %d" % m.api_key
        desc += ", flexible %s" % ("never" if self.never_flexible else "from v%d" % m.first_flexible())
        if m.latest_unstable:
            desc += " (v%d is unstable and left out)" % m.declared_valid.hi
        out.append("// " + desc + ".")
        out.append("struct %s {" % m.cpp_name)
        for s in m.structs:
            out.append("  struct %s {" % s.cpp_name)
            out += self.emit_struct_body(s, "    ")
            out.append("    bool operator==(const %s&) const = default;" % s.cpp_name)
            out.append("  };")
            out.append("")
        out += self.emit_struct_body(m.root, "  ")
        out.append("")
        out.append("  static constexpr std::string_view message_name = %s;" % cpp_string_literal(m.name))
        out.append("  static constexpr std::int16_t lowest_version = %d;" % m.valid.lo)
        out.append("  static constexpr std::int16_t highest_version = %d;" % m.valid.hi)
        out.append("  bool operator==(const %s&) const = default;" % m.cpp_name)
        out.append("};")
        out.append("")
        n = m.cpp_name
        out.append("std::size_t encoded_size(const %s& m, std::int16_t version);" % n)
        out.append("kprod::result<void> encode(codec::byte_writer& w, const %s& m, std::int16_t version);" % n)
        out.append("kprod::result<void> decode(codec::byte_reader& r, %s& m, std::int16_t version);" % n)
        out.append("")
        out.append("}  // namespace kprod::protocol")
        return "\n".join(out) + "\n"

    def source(self):
        m = self.msg
        n = m.cpp_name
        out = self.banner() + ['#include "protocol/generated/%s.h"' % n, "", "namespace kprod::protocol {",
                               "namespace {", ""]
        for s in m.all_structs():
            out += self.emit_size(s) + [""] + self.emit_write(s) + [""] + self.emit_read(s) + [""]
        out.append("}  // namespace")
        out.append("")
        lo, hi = m.valid.lo, m.valid.hi
        name = cpp_string_literal(m.name)
        bad = "version < %d || version > %d" % (lo, hi)
        out += [
            "std::size_t encoded_size(const %s& m, std::int16_t version) {" % n,
            "  if (%s) return 0;" % bad,
            "  return struct_size(m, version);",
            "}",
            "",
            "kprod::result<void> encode(codec::byte_writer& w, const %s& m, std::int16_t version) {" % n,
            "  if (%s) return bad_version(%s, version, %d, %d);" % (bad, name, lo, hi),
            "  const std::size_t start = w.size();",
            "  auto written = write_struct(w, m, version);",
            "  if (!written.ok()) w.buffer().resize(start);  // leave no half-written message behind",
            "  return written;",
            "}",
            "",
            "kprod::result<void> decode(codec::byte_reader& r, %s& m, std::int16_t version) {" % n,
            "  if (%s) return bad_version(%s, version, %d, %d);" % (bad, name, lo, hi),
            "  m = %s{};" % n,
            "  read_struct(r, m, version);",
            "  if (!r.ok()) return malformed(%s, version);" % name,
            "  return {};",
            "}",
            "",
            "}  // namespace kprod::protocol",
        ]
        return "\n".join(out) + "\n"
