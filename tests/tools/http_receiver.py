#!/usr/bin/env python3
"""http_receiver.py -- the far end of lockcoord's http jobs in tests.

A small HTTP server (standard library only) that records every request and
answers as a test tells it to.

    python3 tests/tools/http_receiver.py --log FILE [--control FILE]
        [--port N] [--tls-cert PEM --tls-key PEM]

It listens on 127.0.0.1 (--port 0, the default: any free port; with
--tls-cert/--tls-key it speaks https) and, once listening, prints the port
alone on the first line of stdout. It runs until SIGTERM or SIGINT.

The log
-------
FILE gets one JSON object per line, flushed as it is written. When a
request has been read, before it is answered:

    {"event": "request", "id": 7, "t": 1764550000.123456,
     "method": "POST", "path": "/sync?since=abc",     (as sent, query included)
     "headers": {"lockcoord-fence": "12", ...},       (names in lower case;
                                                       a repeated header's values
                                                       joined with ", ")
     "body": "...", "body_len": 42,                   (UTF-8, bad bytes as U+FFFD)
     "seq": 3,                (the 3rd request for this path, query left out)
     "inflight": 1,           (requests being handled now, this one included)
     "inflight_path": 1}      (the same for this path)

and when the answer has been sent, or the client went away first:

    {"event": "done", "id": 7, "t": ..., "path": "/sync?since=abc",
     "status": 200, "completed": true}         (status null when not completed)

`t` is the wall clock (time.time()). `inflight_path` > 1 means two requests
for one path overlapped.

What it answers
---------------
A rule decides. It comes from the control file (optional, JSON, read again
for every request, so a test may change it at any time: write a new file and
rename it over the old one):

    {"/slow": {"delay_ms": 300}, "/api/": {"status": 500}, "*": {...}}

The key that is the longest prefix of the path (query left out) gives the
rule; "*" is the fallback. Then the request's own query parameters of the
same names (`/x?status=500&body=boom`) override the rule's keys. Keys:

    status        N: the status (default 200)
    body          text of the body (default {"ok": true})
    json          any JSON value, sent as the body
    content_type  default application/json
    headers       {"Name": "value"}: extra response headers
    delay_ms      N: wait N ms before answering
    hang          true: never answer; the request ends when the client goes
                  away (its "done" line then says completed: false)
    size          N: a body of N bytes of "x"
    chunked       true: send the body without Content-Length, in pieces, and
                  close the connection at its end
    cursor        "auto": the body is {"cursor": "c<N>"}, N counting the
                  requests for this path from 1; another string S: {"cursor": S}
    echo          true: the body is the request as JSON: {"method", "path",
                  "headers", "body"}
    sequence      [RULE, RULE, ...]: the n-th request for this path takes the
                  n-th rule over the others (the last one repeats); e.g.
                  {"sequence": [{"status": 500}, {"status": 200}]}

In the query, true is written 1 (`?hang=1`, `?echo=1`); `sequence`,
`headers` and `json` are control-file only.
"""

import argparse
import json
import os
import select
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

QUERY_KEYS = {"status", "body", "content_type", "delay_ms", "hang", "size", "chunked",
              "cursor", "echo"}
INT_KEYS = {"status", "delay_ms", "size"}
BOOL_KEYS = {"hang", "chunked", "echo"}


class State:
    def __init__(self, log_path, control_path):
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")
        self.control_path = control_path
        self.next_id = 0
        self.inflight = 0
        self.inflight_path = {}
        self.seq = {}

    def write(self, record):
        line = json.dumps(record, ensure_ascii=False)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()

    def control(self):
        if not self.control_path:
            return {}
        try:
            with open(self.control_path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}


def rule_for(control, path, query, seq):
    rule = {}
    best = None
    for key in control:
        if key != "*" and path.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    if best is None and "*" in control:
        best = "*"
    if best is not None:
        rule.update(control[best])
    steps = rule.pop("sequence", None)
    if steps:
        rule.update(steps[min(seq, len(steps)) - 1])
    for key, values in parse_qs(query, keep_blank_values=True).items():
        if key not in QUERY_KEYS:
            continue
        value = values[-1]
        if key in INT_KEYS:
            value = int(value)
        elif key in BOOL_KEYS:
            value = value not in ("", "0", "false")
        rule[key] = value
    return rule


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that go away or refuse the certificate are part of the tests


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "http_receiver"

    def log_message(self, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def client_gone(self, wait_s):
        ready, _, _ = select.select([self.connection], [], [], wait_s)
        if not ready:
            return False
        if isinstance(self.connection, ssl.SSLSocket):
            return True  # a waiting client sends nothing: this is its close_notify or EOF
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def handle_any(self):
        st = self.server.state
        body = self.read_body()
        split = urlsplit(self.path)
        headers = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = headers[key] + ", " + value if key in headers else value
        with st.lock:
            st.next_id += 1
            rid = st.next_id
            st.seq[split.path] = seq = st.seq.get(split.path, 0) + 1
            st.inflight += 1
            st.inflight_path[split.path] = st.inflight_path.get(split.path, 0) + 1
            inflight, inflight_path = st.inflight, st.inflight_path[split.path]
        text = body.decode("utf-8", errors="replace")
        st.write({"event": "request", "id": rid, "t": time.time(), "method": self.command,
                  "path": self.path, "headers": headers, "body": text, "body_len": len(body),
                  "seq": seq, "inflight": inflight, "inflight_path": inflight_path})
        status, completed = 0, False
        try:
            rule = rule_for(st.control(), split.path, split.query, seq)
            status = int(rule.get("status", 200))
            completed = self.answer(rule, status, seq, headers, text)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            completed = False
        finally:
            with st.lock:
                st.inflight -= 1
                st.inflight_path[split.path] -= 1
            st.write({"event": "done", "id": rid, "t": time.time(), "path": self.path,
                      "status": status if completed else None, "completed": completed})

    def payload(self, rule, seq, headers, text):
        if rule.get("echo"):
            return json.dumps({"method": self.command, "path": self.path, "headers": headers,
                               "body": text}).encode()
        cursor = rule.get("cursor")
        if cursor is not None:
            return json.dumps({"cursor": "c%d" % seq if cursor == "auto" else cursor}).encode()
        if "json" in rule:
            return json.dumps(rule["json"]).encode()
        if "size" in rule:
            return b"x" * int(rule["size"])
        if "body" in rule:
            return str(rule["body"]).encode()
        return b'{"ok": true}'

    def answer(self, rule, status, seq, headers, text):
        if rule.get("hang"):
            while not self.client_gone(0.1):
                pass
            self.close_connection = True
            return False
        delay = int(rule.get("delay_ms", 0))
        if delay > 0 and self.client_gone(delay / 1000.0):
            self.close_connection = True
            return False
        data = self.payload(rule, seq, headers, text)
        chunked = bool(rule.get("chunked"))
        self.send_response(status)
        self.send_header("Content-Type", rule.get("content_type", "application/json"))
        for name, value in rule.get("headers", {}).items():
            self.send_header(name, str(value))
        if chunked:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            for i in range(0, len(data), 65536):
                self.wfile.write(data[i:i + 65536])
                if chunked:
                    self.wfile.flush()
        self.wfile.flush()
        return True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--control")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.log, args.control)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # The handshake happens in the request's thread, on its first read.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except SystemExit:
        pass
    finally:
        server.server_close()
    # Daemon threads may still hold hung requests: leave without waiting.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
