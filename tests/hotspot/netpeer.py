"""Run inside a test's network namespace: a phone's DNS+HTTP client, TCP probes, and stand-in servers.

    netpeer.py http URL DNS_IP [k=v ...]   -> JSON {status, location, body, elapsed}  (POST when data)
    netpeer.py connect HOST PORT           -> JSON {result: connected|refused|timeout|error, elapsed}
    netpeer.py dns NAME TYPE DNS_IP        -> JSON {rcode, answers, elapsed} (TYPE: A, AAAA, TXT, HTTPS)
    netpeer.py getaddrinfo NAME            -> JSON {addresses, elapsed} through the system resolver
    netpeer.py serve IP:PORT:TEXT ...      -> HTTP servers answering TEXT; PORT 443 = plain TCP listener
"""
import http.client
import json
import random
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


QTYPES = {"A": 1, "TXT": 16, "AAAA": 28, "HTTPS": 65}


def query(name, qtype, dns_ip, timeout=3.0):
    """(rcode, answer count, reply) of one UDP query; rcode None when nothing came back."""
    query_id = random.randrange(65536)
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet += struct.pack(">HH", QTYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (dns_ip, 53))
        try:
            reply = sock.recv(4096)
        except socket.timeout:
            return None, 0, b""
    return reply[3] & 0x0F, struct.unpack(">H", reply[6:8])[0], reply


def dns(name, qtype, dns_ip):
    start = time.monotonic()
    rcode, answers, _ = query(name, qtype, dns_ip)
    return {"rcode": rcode, "answers": answers, "elapsed": time.monotonic() - start}


def getaddrinfo(name):
    start = time.monotonic()
    try:
        found = sorted({info[4][0] for info in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)})
    except socket.gaierror as exc:
        found = [f"error: {exc}"]
    return {"addresses": found, "elapsed": time.monotonic() - start}


def resolve(name, dns_ip):
    query_id = random.randrange(65536)
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(packet, (dns_ip, 53))
        reply = sock.recv(2048)
    answers, rcode = struct.unpack(">H", reply[6:8])[0], reply[3] & 0x0F
    if rcode or not answers:
        raise LookupError(f"rcode {rcode}")
    return socket.inet_ntoa(reply[-4:])       # last answer record of a plain A reply


def fetch(url, dns_ip, *pairs):
    parts = urllib.parse.urlsplit(url)
    start = time.monotonic()
    try:
        host = parts.hostname if parts.hostname[0].isdigit() else resolve(parts.hostname, dns_ip)
    except (LookupError, OSError) as exc:
        return {"error": f"dns: {exc}", "elapsed": time.monotonic() - start}
    conn = http.client.HTTPConnection(host, parts.port or 80, timeout=4)
    body = urllib.parse.urlencode([tuple(p.split("=", 1)) for p in pairs]) if pairs else None
    headers = {"Host": parts.netloc, "User-Agent": "netpeer"}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request("POST" if body else "GET", parts.path + ("?" + parts.query if parts.query else ""),
                     body, headers)
        response = conn.getresponse()
        data = response.read().decode("utf-8", "replace")
        return {"status": response.status, "location": response.getheader("Location"),
                "body": data, "address": host, "elapsed": time.monotonic() - start}
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "elapsed": time.monotonic() - start}


def connect(host, port):
    start = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            result = "connected"
    except ConnectionRefusedError:
        result = "refused"      # a TCP reset
    except socket.timeout:
        result = "timeout"
    except OSError as exc:
        result = f"error: {exc}"
    return {"result": result, "elapsed": time.monotonic() - start}


def serve(*specs):
    for spec in specs:
        ip, port, text = spec.split(":", 2)
        if port in ("443", "22") or text == "-":
            server = socketserver.ThreadingTCPServer((ip, int(port)), socketserver.BaseRequestHandler)
        else:
            class Handler(BaseHTTPRequestHandler):
                answer = text.encode()

                def do_GET(self):
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(self.answer)))
                    self.end_headers()
                    self.wfile.write(self.answer)

                def log_message(self, *args):
                    pass
            server = ThreadingHTTPServer((ip, int(port)), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "serve":
        serve(*args)
    print(json.dumps({"http": fetch, "connect": connect, "dns": dns,
                      "getaddrinfo": getaddrinfo}[command](*args)))
