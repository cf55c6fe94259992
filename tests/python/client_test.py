#!/usr/bin/python3
"""An independent client: Debian's system Python with python3-grpcio drives
the rules service and a country worker end to end.

Stubs are generated from proto/ at test time by protoc with Debian's
grpc_python_plugin (python3-grpc-tools is too old), into a temp folder; the
daemons run as real processes on loopback, each with its own SQLite store.

Run by CTest (tests/CMakeLists.txt):
  client_test.py --cli BIN --rules BIN --worker BIN --source DIR
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def generate_stubs(source, out):
    protos = ["harmonia/v1/common.proto", "harmonia/v1/rules.proto",
              "harmonia/v1/country.proto", "harmonia/v1/report.proto",
              "google/rpc/status.proto"]
    subprocess.run(["protoc", "-I", os.path.join(source, "proto"), "-I", "/usr/include",
                    "--python_out", out, "--grpc_python_out", out,
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + protos,
                   check=True)
    # google/ stays a namespace package, so it merges with the system google.protobuf.
    for pkg in ["harmonia", "harmonia/v1"]:
        open(os.path.join(out, pkg, "__init__.py"), "a").close()
    sys.path.insert(0, out)


class Daemon:
    """A daemon whose JSON log says where it listens."""

    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            for line in read_text(log_path).splitlines():
                event = json.loads(line) if line.startswith("{") else {}
                if event.get("event") == "listening" and self.proc.poll() is None:
                    self.address = event["address"]
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (argv[0], read_text(log_path)))
            time.sleep(0.05)
        raise RuntimeError("%s did not listen" % argv[0])

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import grpc
        from harmonia.v1 import country_pb2, country_pb2_grpc, rules_pb2, rules_pb2_grpc
        cls.grpc, cls.country_pb2, cls.rules_pb2 = grpc, country_pb2, rules_pb2
        cls.dir = tempfile.mkdtemp(prefix="harmonia-python-")
        tokens = ""
        for principal, roles in [("ops@hq", "[global_ops]"), ("anna.rep", "[field:DE]"),
                                 ("olaf.ops", "[country_ops:DE]"), ("worker-de", "[service]")]:
            digest = hashlib.sha256((principal + "-token").encode()).hexdigest()
            tokens += "- principal: %s\n  token_sha256: %s\n  roles: %s\n" % (
                principal, digest, roles)
        with open(os.path.join(cls.dir, "tokens.yaml"), "w") as f:
            f.write(tokens)
        os.mkdir(os.path.join(cls.dir, "countries"))
        country = read_text(os.path.join(ARGS.source, "tests/golden/DE.yaml"))
        with open(os.path.join(cls.dir, "countries", "DE.yaml"), "w") as f:
            f.write(country.replace('schedule: "0 2 1 */3 *"\n', ""))
        worker_store = "sqlite:" + os.path.join(cls.dir, "worker.db")
        subprocess.run([ARGS.cli, "import", "--quiet", "--store", worker_store,
                        os.path.join(ARGS.source, "tests/golden/data")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.rules = Daemon([ARGS.rules, "--listen", "127.0.0.1:0", "--store",
                            "sqlite:" + os.path.join(cls.dir, "rules.db"), "--tokens",
                            os.path.join(cls.dir, "tokens.yaml")],
                           os.path.join(cls.dir, "rules.log"))
        env = dict(os.environ, HARMONIA_RULES_TOKEN="worker-de-token")
        cls.worker = Daemon([ARGS.worker, "--listen", "127.0.0.1:0", "--store", worker_store,
                             "--rules-server", cls.rules.address, "--countries", "DE",
                             "--countries-dir", os.path.join(cls.dir, "countries"),
                             "--tokens", os.path.join(cls.dir, "tokens.yaml")],
                            os.path.join(cls.dir, "worker.log"), env)
        cls.rules_channel = grpc.insecure_channel(cls.rules.address)
        cls.worker_channel = grpc.insecure_channel(cls.worker.address)
        cls.rules_stub = rules_pb2_grpc.RulesServiceStub(cls.rules_channel)
        cls.country_stub = country_pb2_grpc.CountryServiceStub(cls.worker_channel)

    @classmethod
    def tearDownClass(cls):
        cls.rules_channel.close()
        cls.worker_channel.close()
        codes = (cls.worker.stop(), cls.rules.stop())
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert codes == (0, 0), "daemons stopped cleanly: %r" % (codes,)

    @staticmethod
    def auth(principal):
        return [("authorization", "Bearer %s-token" % principal)]

    def health(self, channel, service):
        """grpc.health.v1.Health/Check, from its published wire format:
        request field 1 = service name; response field 1 = status
        (1 SERVING, 2 NOT_SERVING)."""
        name = service.encode()
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        reply = check(b"\x0a" + bytes([len(name)]) + name, timeout=10)
        return {b"": "UNKNOWN", b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}.get(
            reply, reply)

    def reflected_services(self, channel):
        """grpc.reflection.v1alpha list_services (request field 7), raw."""
        info = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        return b"".join(info(iter([b"\x3a\x00"]), timeout=10))

    def test_0_health_and_reflection(self):
        self.assertEqual(self.health(self.rules_channel, ""), "SERVING")
        self.assertEqual(self.health(self.rules_channel, "harmonia.v1.RulesService"), "SERVING")
        self.assertEqual(self.health(self.worker_channel, "harmonia.v1.CountryService"),
                         "NOT_SERVING", "a worker without its rule sets is not serving")
        self.assertIn(b"harmonia.v1.RulesService", self.reflected_services(self.rules_channel))
        self.assertIn(b"harmonia.v1.CountryService", self.reflected_services(self.worker_channel))

    def oncology(self):
        return read_text(os.path.join(ARGS.source, "rules/oncology.yaml"))

    def test_1_refusals_carry_codes_and_issue_details(self):
        grpc = self.grpc
        with self.assertRaises(grpc.RpcError) as e:
            self.rules_stub.ListRuleSets(self.rules_pb2.ListRuleSetsRequest())
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as e:
            self.rules_stub.PublishRuleSet(
                self.rules_pb2.PublishRuleSetRequest(source_text=self.oncology()),
                metadata=self.auth("anna.rep"))
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

        broken = self.oncology().replace("hit_policy: first", "hit_policy: maybe")
        with self.assertRaises(grpc.RpcError) as e:
            self.rules_stub.PublishRuleSet(
                self.rules_pb2.PublishRuleSetRequest(source_text=broken, file_name="broken.yaml"),
                metadata=self.auth("ops@hq"))
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        from google.rpc import status_pb2
        from harmonia.v1 import common_pb2
        trailers = dict(e.exception.trailing_metadata())
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        self.assertEqual(status.details[0].type_url, "type.googleapis.com/harmonia.v1.IssueList")
        issues = common_pb2.IssueList.FromString(status.details[0].value).issues
        self.assertEqual((issues[0].file, issues[0].line, issues[0].column),
                         ("broken.yaml", 50, 15))
        self.assertIn("unknown 'maybe'", issues[0].message)

    def test_2_publish_watch_cycle_query_refine_explain(self):
        rules_pb2, country_pb2 = self.rules_pb2, self.country_pb2
        published = self.rules_stub.PublishRuleSet(
            rules_pb2.PublishRuleSetRequest(source_text=self.oncology(), file_name="oncology.yaml"),
            metadata=self.auth("ops@hq"))
        self.assertEqual(published.published.version, 3)

        watch = self.rules_stub.WatchRuleSets(
            rules_pb2.WatchRuleSetsRequest(therapy_areas=["oncology"]),
            metadata=self.auth("worker-de"))
        first = next(watch)
        self.assertEqual((first.info.therapy_area, first.info.version), ("oncology", 3))
        watch.cancel()

        # The worker follows the same stream; its cycle runs once it has v3.
        deadline = time.time() + 30
        while True:
            try:
                events = list(self.country_stub.RunCycle(
                    country_pb2.RunCycleRequest(country="DE", therapy_area="oncology",
                                                as_of="2026-11-01"),
                    metadata=self.auth("olaf.ops")))
                break
            except self.grpc.RpcError as e:
                if e.code() != self.grpc.StatusCode.UNAVAILABLE or time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.assertTrue(any(ev.HasField("progress") for ev in events))
        summary = events[-1].summary
        self.assertEqual((summary.cycle_id, summary.customers, summary.rule_set_version),
                         (1, 7, 3))

        page = self.country_stub.QueryAssignments(
            country_pb2.QueryAssignmentsRequest(country="DE", therapy_area="oncology",
                                                page_size=4),
            metadata=self.auth("anna.rep"))
        self.assertEqual(len(page.assignments), 4)
        rest = self.country_stub.QueryAssignments(
            country_pb2.QueryAssignmentsRequest(country="DE", therapy_area="oncology",
                                                page_size=4, page_token=page.next_page_token),
            metadata=self.auth("anna.rep"))
        self.assertEqual(rest.next_page_token, "")
        segments = {a.customer_id: a.segment for a in list(page.assignments) + list(rest.assignments)}
        self.assertEqual(len(segments), 7)
        self.assertEqual(segments["D001"], "early_adopter")

        items = [country_pb2.RefinementInput(request_id="py-1", customer_id="D007",
                                             therapy_area="oncology", segment="conservative",
                                             calls_delta=4, reason="practice_change"),
                 country_pb2.RefinementInput(request_id="py-2", customer_id="F001",
                                             therapy_area="oncology", segment="conservative",
                                             reason="practice_change")]
        result = self.country_stub.SubmitRefinements(
            country_pb2.SubmitRefinementsRequest(country="DE", items=items),
            metadata=self.auth("anna.rep"))
        self.assertEqual([r.refinement.status for r in result.results],
                         [country_pb2.ACCEPTED, country_pb2.REJECTED])
        # A French customer reads exactly as an unknown one: nothing about FR leaks.
        self.assertIn("not a customer of DE", result.results[1].refinement.status_reason)
        again = self.country_stub.SubmitRefinements(
            country_pb2.SubmitRefinementsRequest(country="DE", items=items[:1]),
            metadata=self.auth("anna.rep"))
        self.assertTrue(again.results[0].duplicate)

        events = list(self.country_stub.RunCycle(
            country_pb2.RunCycleRequest(country="DE", therapy_area="oncology",
                                        as_of="2026-11-01"),
            metadata=self.auth("olaf.ops")))
        self.assertEqual(events[-1].summary.cycle_id, 2)
        explained = self.country_stub.ExplainAssignment(
            country_pb2.ExplainAssignmentRequest(country="DE", therapy_area="oncology",
                                                 customer_id="D007"),
            metadata=self.auth("anna.rep"))
        self.assertEqual(explained.assignment.segment, "conservative")
        self.assertEqual(explained.assignment.decided_by, "refinement")
        self.assertEqual(explained.refinement.submitted_by, "anna.rep")
        self.assertEqual(explained.rule_fired, "r7")
        report = self.country_stub.GetReport(
            country_pb2.GetCountryReportRequest(country="DE", therapy_area="oncology"),
            metadata=self.auth("anna.rep"))
        self.assertEqual(report.schema, "harmonia.report/1")
        market = report.markets[0]
        self.assertEqual((market.country, market.cycle_id), ("DE", 2))
        self.assertEqual(market.quality.customers, 7)
        self.assertEqual(sum(s.customers for s in market.quality.segments), 7)
        self.assertEqual(market.quality.churn.previous_cycle_id, 1)
        self.assertEqual(market.quality.decided_by.refinement, 1)
        self.assertEqual([h.cycle_id for h in market.history], [1, 2])
        questionnaire = self.country_stub.GetQuestionnaire(
            country_pb2.GetQuestionnaireRequest(country="DE", therapy_area="oncology"),
            metadata=self.auth("anna.rep"))
        self.assertEqual(questionnaire.questions[0].id, "q1")
        self.assertEqual(self.health(self.worker_channel, "harmonia.v1.CountryService"),
                         "SERVING")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ["--cli", "--rules", "--worker", "--source"]:
        parser.add_argument(flag, required=True)
    ARGS, rest = parser.parse_known_args()
    stubs = tempfile.mkdtemp(prefix="harmonia-python-stubs-")
    try:
        generate_stubs(ARGS.source, stubs)
        unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
    finally:
        shutil.rmtree(stubs, ignore_errors=True)
