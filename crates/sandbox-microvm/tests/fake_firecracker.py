"""A stand-in for the firecracker binary, for tests on hosts without KVM.

It speaks Firecracker's API on --api-sock (the subset MicrovmSandbox uses)
and, on InstanceStart, plays the vsock muxer: it listens on the configured
uds_path, reads `CONNECT <port>\n`, answers `OK <port>\n` and splices the
connection to a real bureau-guest-agent it started on a Unix socket (where a
real VM would run the agent on AF_VSOCK). No virtual machine is involved.

Usage: fake_firecracker.py --agent PATH --api-sock PATH --id ID
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

AGENT_PORT = 52


def arg(name):
    return sys.argv[sys.argv.index(name) + 1]


agent_bin = arg("--agent")
api_sock = arg("--api-sock")
workdir = os.path.dirname(api_sock)
state = {"started": False, "vsock": None, "config": {}, "agent": None}
log = open(os.path.join(workdir, "fake-requests.jsonl"), "a")


def respond(conn, status, fault=None):
    if fault is None:
        conn.sendall(b"HTTP/1.1 %d No Content\r\nServer: Firecracker API\r\n\r\n" % status)
        return
    body = json.dumps({"fault_message": fault}).encode()
    head = "HTTP/1.1 %d Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    conn.sendall((head % (status, len(body))).encode() + body)


def splice(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def vsock_muxer(uds_path, agent_sock):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(uds_path)
    server.listen(8)
    while True:
        host, _ = server.accept()
        line = b""
        while not line.endswith(b"\n") and len(line) < 64:
            byte = host.recv(1)
            if not byte:
                break
            line += byte
        if line != b"CONNECT %d\n" % AGENT_PORT:
            host.close()
            continue
        guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(500):
            try:
                guest.connect(agent_sock)
                break
            except OSError:
                time.sleep(0.01)
        host.sendall(b"OK 1073741824\n")
        threading.Thread(target=splice, args=(host, guest), daemon=True).start()
        threading.Thread(target=splice, args=(guest, host), daemon=True).start()


def handle(method, path, body):
    """Returns (status, fault) like Firecracker's API would."""
    if state["started"] and path != "/actions":
        return 400, "The requested operation is not supported after starting the microVM."
    if method != "PUT":
        return 400, "Invalid request method and/or path: %s %s." % (method, path)
    if path == "/machine-config":
        if body.get("vcpu_count", 0) < 1 or body.get("mem_size_mib", 0) < 1:
            return 400, "The vCPU number is invalid!"
    elif path == "/boot-source":
        if not os.path.isfile(body.get("kernel_image_path", "")):
            return 400, "The kernel file cannot be opened: No such file or directory (os error 2)"
    elif path.startswith("/drives/"):
        if not os.path.isfile(body.get("path_on_host", "")):
            return 400, "Unable to create the block device: No such file or directory (os error 2)"
    elif path == "/vsock":
        state["vsock"] = body["uds_path"]
    elif path == "/actions":
        action = body.get("action_type")
        if action == "InstanceStart":
            if state["started"]:
                return 400, "The requested operation is not supported after starting the microVM."
            missing = [k for k in ("/machine-config", "/boot-source", "/drives/rootfs") if k not in state["config"]]
            if missing:
                return 400, "Cannot start microvm without %s" % ", ".join(missing)
            state["started"] = True
            agent_sock = os.path.join(workdir, "agent.sock")
            state["agent"] = subprocess.Popen([agent_bin, "--unix", agent_sock])
            if state["vsock"]:
                threading.Thread(target=vsock_muxer, args=(state["vsock"], agent_sock), daemon=True).start()
        elif action == "SendCtrlAltDel":
            if state["agent"]:
                state["agent"].kill()
            threading.Timer(0.05, lambda: os._exit(0)).start()
        else:
            return 400, "unknown action"
    else:
        return 400, "Invalid request method and/or path: %s %s." % (method, path)
    state["config"][path] = body
    return 204, None


def serve(conn):
    f = conn.makefile("rb")
    request = f.readline().decode().split()
    if len(request) != 3:
        conn.close()
        return
    method, path, _ = request
    length = 0
    while True:
        line = f.readline().decode().strip()
        if not line:
            break
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = json.loads(f.read(length)) if length else {}
    log.write(json.dumps({"method": method, "path": path, "body": body}) + "\n")
    log.flush()
    status, fault = handle(method, path, body)
    respond(conn, status, fault)
    conn.close()


def main():
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(api_sock)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        serve(conn)


main()
