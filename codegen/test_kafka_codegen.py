"""Unit tests for the generator's parsing helpers.

Run: python3 -m unittest discover codegen
"""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kafka_codegen  # noqa: E402
from kp_cpp import MessageEmitter, version_cond  # noqa: E402
from kp_schema import (Message, SchemaError, Versions, cpp_identifier, parse_errors_tsv,  # noqa: E402
                       snake_case, strip_json_comments)

PROTOCOL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "kafka-protocol")


class StripCommentsTest(unittest.TestCase):
    def test_line_and_block_comments_go(self):
        text = '// licence\n{ "a": 1, // trailing\n /* block */ "b": 2 }'
        self.assertEqual(strip_json_comments(text).split(), ["{", '"a":', "1,", '"b":', "2", "}"])

    def test_slashes_inside_strings_stay(self):
        text = '{ "about": "see http://kafka.apache.org // not a comment" }'
        self.assertEqual(strip_json_comments(text), text)

    def test_escaped_quote_does_not_end_the_string(self):
        text = '{ "about": "a \\" // still a string" } // gone'
        self.assertEqual(strip_json_comments(text).rstrip(), '{ "about": "a \\" // still a string" }')

    def test_unterminated_block_comment_is_an_error(self):
        with self.assertRaises(SchemaError):
            strip_json_comments("{ /* never closed }")


class VersionsTest(unittest.TestCase):
    def test_forms(self):
        self.assertEqual((Versions.parse("3+").lo, Versions.parse("3+").hi), (3, 0x7FFF))
        self.assertEqual((Versions.parse("1-4").lo, Versions.parse("1-4").hi), (1, 4))
        self.assertEqual((Versions.parse("5").lo, Versions.parse("5").hi), (5, 5))
        self.assertTrue(Versions.parse("none").empty())
        self.assertTrue(Versions.parse(None).empty())

    def test_intersect_and_contains(self):
        v = Versions.parse("3+").intersect(Versions.parse("0-5"))
        self.assertEqual((v.lo, v.hi), (3, 5))
        self.assertTrue(v.contains(4))
        self.assertFalse(v.contains(6))
        self.assertTrue(Versions.parse("0-2").intersect(Versions.parse("3+")).empty())

    def test_version_condition(self):
        valid = Versions(0, 11)
        self.assertEqual(version_cond(Versions.parse("0+"), valid), "true")
        self.assertEqual(version_cond(Versions.parse("3+"), valid), "v >= 3")
        self.assertEqual(version_cond(Versions.parse("0-8"), valid), "v <= 8")
        self.assertEqual(version_cond(Versions.parse("8-10"), valid), "v >= 8 && v <= 10")
        self.assertEqual(version_cond(Versions.parse("0"), Versions(0, 3)), "v <= 0")
        self.assertEqual(version_cond(Versions.parse("none"), valid), "false")


class NamingTest(unittest.TestCase):
    def test_snake_case(self):
        self.assertEqual(snake_case("ThrottleTimeMs"), "throttle_time_ms")
        self.assertEqual(snake_case("ProduceRequest"), "produce_request")
        self.assertEqual(snake_case("V3AndBelowTransactionalId"), "v3_and_below_transactional_id")
        self.assertEqual(snake_case("ZkMigrationReady"), "zk_migration_ready")
        self.assertEqual(snake_case("ISRNodes"), "isr_nodes")

    def test_keywords_get_a_suffix(self):
        self.assertEqual(cpp_identifier("Operator"), "operator_")
        self.assertEqual(cpp_identifier("Default"), "default_")
        self.assertEqual(cpp_identifier("Name"), "name")


def tiny_message(**overrides):
    spec = {
        "apiKey": 99, "type": "request", "name": "TinyRequest", "validVersions": "0-3",
        "flexibleVersions": "2+",
        "fields": [
            {"name": "Topics", "type": "[]TopicThing", "versions": "0+", "fields": [
                {"name": "Name", "type": "string", "versions": "0+"},
                {"name": "Common", "type": "CommonThing", "versions": "1+"}]},
            {"name": "CommonThing", "type": "CommonThing", "versions": "2+", "tag": 0, "taggedVersions": "2+"},
        ],
        "commonStructs": [{"name": "CommonThing", "versions": "0+", "fields": [
            {"name": "Id", "type": "int32", "versions": "0+", "default": "-1"}]}],
    }
    spec.update(overrides)
    return Message(spec, "messages/TinyRequest.json")


class MessageModelTest(unittest.TestCase):
    def test_structs_are_collected_dependencies_first(self):
        m = tiny_message()
        self.assertEqual([s.name for s in m.structs], ["CommonThing", "TopicThing"])

    def test_type_named_like_a_member_gets_a_suffix(self):
        m = tiny_message()
        self.assertEqual(m.structs[0].cpp_name, "common_thing_t")

    def test_latest_version_unstable_caps_the_range(self):
        self.assertEqual(tiny_message(latestVersionUnstable=True).valid.hi, 2)
        self.assertEqual(tiny_message(latestVersionUnstable=False).valid.hi, 3)

    def test_tagged_field_is_not_a_regular_field(self):
        m = tiny_message()
        tagged = m.root.fields[1]
        self.assertTrue(tagged.regular_versions(m.valid).empty())
        self.assertEqual(tagged.tag_versions(m.valid).lo, 2)

    def test_unknown_struct_is_an_error(self):
        with self.assertRaises(SchemaError):
            tiny_message(fields=[{"name": "X", "type": "[]Missing", "versions": "0+"}])

    def test_emitted_code_mentions_defaults_and_source(self):
        em = MessageEmitter(tiny_message(), "messages/TinyRequest.json")
        header = em.header()
        self.assertIn("from messages/TinyRequest.json", header)
        self.assertIn("std::int32_t id = -1;", header)
        self.assertIn("struct tiny_request {", header)


class ErrorsTsvTest(unittest.TestCase):
    def test_rows(self):
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write("code\tname\tretriable\tjava_exception\tmessage\n")
            f.write("-1\tUNKNOWN_SERVER_ERROR\tno\tX\tThe server failed.\n")
            f.write("0\tNONE\tno\t-\t\n")
            f.write("6\tNOT_LEADER_OR_FOLLOWER\tyes\tY\tNot the leader.\n")
            path = f.name
        try:
            rows = parse_errors_tsv(path)
        finally:
            os.unlink(path)
        self.assertEqual(rows[0], (-1, "UNKNOWN_SERVER_ERROR", False, "The server failed."))
        self.assertEqual(rows[1], (0, "NONE", False, ""))
        self.assertEqual(rows[2][2], True)


@unittest.skipUnless(os.path.isdir(os.path.join(PROTOCOL_DIR, "messages")), "no ../shared/kafka-protocol")
class RealDefinitionsTest(unittest.TestCase):
    def test_output_is_deterministic(self):
        apis = kafka_codegen.read_whitelist(os.path.join(os.path.dirname(kafka_codegen.__file__), "apis.txt"))
        first = kafka_codegen.render(PROTOCOL_DIR, apis)
        second = kafka_codegen.render(PROTOCOL_DIR, apis)
        self.assertEqual(first, second)
        self.assertIn("src/protocol/generated/produce_request.h", first)
        self.assertIn("tests/fuzz/generated/produce_response_fuzz.cc", first)
        self.assertNotIn("tests/fuzz/generated/produce_request_fuzz.cc", first)

    def test_request_header_client_id_is_never_compact(self):
        apis = ["RequestHeader"]
        src = kafka_codegen.render(PROTOCOL_DIR, apis)["src/protocol/generated/request_header.cc"]
        self.assertIn("write_nullable_string(w, x.client_id, false,", src)


if __name__ == "__main__":
    unittest.main()
