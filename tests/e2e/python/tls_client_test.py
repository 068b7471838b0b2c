#!/usr/bin/python3
"""An independent client (Python grpcio, not muster's C++ code) against the
real musterd over TLS and mutual TLS, with and without an access token
(musterd --auth: the bootstrap token the daemon writes on its first start).

Run by ctest (tests/e2e/CMakeLists.txt) as
  /usr/bin/python3 tls_client_test.py --musterd PATH --proto-dir DIR
It makes its certificates with the openssl command line, generates the
Python stubs with the system protoc and grpc_python_plugin into a temp dir,
and starts musterd on free 127.0.0.1 ports.

Credentials are built in one place, `credentials()`: a bearer token for
musterd --auth is one more argument there (grpc.access_token_call_credentials
composed with the channel credentials).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None


def run(*argv, cwd=None):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1, a client certificate of the
    CA and one of an unrelated CA (ECDSA P-256)."""
    def key(name):
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", f"{d}/{name}.key")

    def ca(name):
        key(name)
        run("openssl", "req", "-x509", "-new", "-key", f"{d}/{name}.key",
            "-subj", f"/CN={name}", "-days", "2", "-addext",
            "basicConstraints=critical,CA:TRUE", "-out", f"{d}/{name}.crt")

    def leaf(name, ca_name, ext):
        key(name)
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        run("openssl", "req", "-new", "-key", f"{d}/{name}.key", "-subj",
            f"/CN={name}", "-out", f"{d}/{name}.csr")
        run("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA",
            f"{d}/{ca_name}.crt", "-CAkey", f"{d}/{ca_name}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext",
            "-out", f"{d}/{name}.crt")

    ca("ca")
    ca("other-ca")
    leaf("server", "ca",
         "extendedKeyUsage=serverAuth,clientAuth\n"
         "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    leaf("client", "ca", "extendedKeyUsage=clientAuth\n")
    leaf("other-client", "other-ca", "extendedKeyUsage=clientAuth\n")


def make_stubs(out):
    protos = ["muster/v1/types.proto", "muster/v1/registry.proto"]
    run("protoc", f"--proto_path={ARGS.proto_dir}", f"--python_out={out}",
        f"--grpc_out={out}",
        "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos)
    sys.path.insert(0, out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Musterd:
    """musterd with TLS on free ports; stopped with SIGTERM. With `auth`,
    --auth: its admin token's secret is then in `token_file`."""

    def __init__(self, d, mutual, auth=False):
        self.port = free_port()
        data = f"{d}/data-{self.port}"
        self.token_file = f"{data}/bootstrap-token"
        argv = [ARGS.musterd, "--listen", f"127.0.0.1:{self.port}",
                "--http-listen", f"127.0.0.1:{free_port()}", "--data-dir",
                data, "--tls-cert", f"{d}/server.crt",
                "--tls-key", f"{d}/server.key"]
        if mutual:
            argv += ["--tls-client-ca", f"{d}/ca.crt"]
        if auth:
            argv += ["--auth"]
        self.log = open(f"{d}/musterd-{self.port}.log", "w")
        self.process = subprocess.Popen(argv, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


class TlsClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="muster-pytls-")
        cls.dir = cls.tmp.name
        make_certs(cls.dir)
        make_stubs(cls.dir)
        global grpc, pb, pb_grpc, types
        import grpc
        import muster.v1.registry_pb2 as pb
        import muster.v1.types_pb2 as types
        import muster.v1.registry_pb2_grpc as pb_grpc

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def credentials(self, ca="ca", client=None, token=None):
        """TLS channel credentials trusting `ca`, presenting `client`'s
        certificate when given, and sending `token` as
        `authorization: Bearer` on every call when given."""
        d = self.dir
        if client is None:
            channel = grpc.ssl_channel_credentials(read(f"{d}/{ca}.crt"))
        else:
            channel = grpc.ssl_channel_credentials(
                read(f"{d}/{ca}.crt"), read(f"{d}/{client}.key"),
                read(f"{d}/{client}.crt"))
        if token is None:
            return channel
        return grpc.composite_channel_credentials(
            channel, grpc.access_token_call_credentials(token))

    def stub(self, daemon, credentials):
        channel = grpc.secure_channel(daemon.address, credentials)
        self.addCleanup(channel.close)
        return pb_grpc.RegistryStub(channel)

    def start(self, mutual, auth=False):
        daemon = Musterd(self.dir, mutual, auth)
        self.addCleanup(daemon.stop)
        # Ready when a TLS Ping answers; a fresh channel per attempt.
        good = self.credentials(client="client" if mutual else None)
        deadline = time.monotonic() + 20
        while True:
            self.assertIsNone(daemon.process.poll(), "musterd exited")
            try:
                self.stub(daemon, good).Ping(pb.PingRequest(), timeout=1)
                return daemon
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def test_tls_register_and_read_back(self):
        daemon = self.start(mutual=False)
        stub = self.stub(daemon, self.credentials())
        instance = types.Instance(service="web", id="py-1", address="10.0.0.7",
                               port=8080)
        stub.Register(pb.RegisterRequest(instance=instance), timeout=5)
        got = stub.GetInstance(
            pb.GetInstanceRequest(service="web", id="py-1"), timeout=5)
        self.assertEqual(got.address, "10.0.0.7")

    def test_tls_refuses_plaintext_and_a_wrong_ca(self):
        daemon = self.start(mutual=False)
        plain = pb_grpc.RegistryStub(grpc.insecure_channel(daemon.address))
        with self.assertRaises(grpc.RpcError) as caught:
            plain.Ping(pb.PingRequest(), timeout=3)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)
        wrong = self.stub(daemon, self.credentials(ca="other-ca"))
        with self.assertRaises(grpc.RpcError) as caught:
            wrong.Ping(pb.PingRequest(), timeout=3)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_mutual_tls_needs_a_client_certificate_of_the_ca(self):
        daemon = self.start(mutual=True)
        for credentials in (self.credentials(),
                            self.credentials(client="other-client")):
            with self.assertRaises(grpc.RpcError) as caught:
                self.stub(daemon, credentials).Ping(pb.PingRequest(),
                                                    timeout=3)
            self.assertEqual(caught.exception.code(),
                             grpc.StatusCode.UNAVAILABLE)
        stub = self.stub(daemon, self.credentials(client="client"))
        info = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=5)
        self.assertTrue(info.version)

    def assert_code(self, code, call, *args):
        with self.assertRaises(grpc.RpcError) as caught:
            call(*args, timeout=5)
        self.assertEqual(caught.exception.code(), code)
        return caught.exception

    def test_tls_and_a_token(self):
        daemon = self.start(mutual=False, auth=True)
        # Ping answers before the first call; the bootstrap file exists.
        token = read(daemon.token_file).decode().strip()
        instance = types.Instance(service="web", id="py-2", address="10.0.0.8",
                                  port=8080)
        request = pb.RegisterRequest(instance=instance)
        anonymous = self.stub(daemon, self.credentials())
        denied = self.assert_code(grpc.StatusCode.UNAUTHENTICATED,
                                  anonymous.Register, request)
        self.assertIn("missing access token", denied.details())
        wrong = self.stub(daemon, self.credentials(token="mst_" + "x" * 43))
        denied = self.assert_code(grpc.StatusCode.UNAUTHENTICATED,
                                  wrong.Register, request)
        self.assertNotIn("x" * 43, denied.details())

        stub = self.stub(daemon, self.credentials(token=token))
        stub.Register(request, timeout=5)
        got = stub.GetInstance(
            pb.GetInstanceRequest(service="web", id="py-2"), timeout=5)
        self.assertEqual(got.address, "10.0.0.8")
        events = stub.ListEvents(
            pb.ListEventsRequest(service="web", id="py-2"), timeout=5)
        self.assertEqual(events.events[0].actor, "token:bootstrap")
        # A watch stream carries the token too.
        stream = stub.Watch(pb.WatchRequest(), timeout=5)
        self.assertTrue(next(stream).events)
        stream.cancel()

    def test_mutual_tls_and_a_token(self):
        daemon = self.start(mutual=True, auth=True)
        token = read(daemon.token_file).decode().strip()
        # The certificate alone is not enough under --auth.
        certified = self.stub(daemon, self.credentials(client="client"))
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED,
                         certified.GetServerInfo, pb.GetServerInfoRequest())
        stub = self.stub(daemon,
                         self.credentials(client="client", token=token))
        info = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=5)
        self.assertEqual(info.realm_count, 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--musterd", required=True)
    parser.add_argument("--proto-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
