"""A fake mail server for end-to-end tests: SMTP (RFC 5321) over a real socket, with STARTTLS and
AUTH PLAIN, that keeps what it receives. `refuse(n)` answers the next n recipients with 451, as a
server that is down for a while does, so retries can be watched."""
import base64
import email
import email.policy
import socket
import ssl
import threading
import time


class FakeSMTP:
    def __init__(self, tls_context=None, username=None, password=None):
        self.tls_context = tls_context
        self.credentials = (username, password) if username else None
        self.messages = []
        self.refusals = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def refuse(self, count):
        with self.lock:
            self.refusals = count

    def stop(self):
        self.running = False
        self.listener.close()

    def wait_for(self, predicate, timeout=15):
        """The first received message for which `predicate` holds, waiting for it to arrive."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = [m for m in self.messages if predicate(m)]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no such mail arrived within {timeout}s; got {[(m['to'], m['subject']) for m in self.messages]}")

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(30)
        stream = conn.makefile("rwb")
        state = {"tls": False, "user": None, "from": None, "to": []}

        def reply(line):
            stream.write((line + "\r\n").encode())
            stream.flush()

        reply("220 fake-smtp ESMTP ready")
        try:
            while True:
                raw = stream.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                argument = line[len(verb):].strip()
                if verb in ("EHLO", "HELO"):
                    offers = ["250-fake-smtp", "250-8BITMIME"]
                    if self.tls_context and not state["tls"]:
                        offers.append("250-STARTTLS")
                    if self.credentials:
                        offers.append("250-AUTH PLAIN")
                    offers.append("250 SIZE 10000000")
                    for offer in offers:
                        stream.write((offer + "\r\n").encode())
                    stream.flush()
                elif verb == "STARTTLS" and self.tls_context and not state["tls"]:
                    reply("220 go ahead")
                    conn = self.tls_context.wrap_socket(conn, server_side=True)
                    stream = conn.makefile("rwb")
                    state["tls"] = True
                elif verb == "AUTH":
                    mechanism, _, payload = argument.partition(" ")
                    parts = base64.b64decode(payload).split(b"\0") if mechanism.upper() == "PLAIN" else []
                    if len(parts) == 3 and self.credentials == (parts[1].decode(), parts[2].decode()):
                        state["user"] = parts[1].decode()
                        reply("235 2.7.0 authenticated")
                    else:
                        reply("535 5.7.8 authentication failed")
                elif verb == "MAIL":
                    if self.credentials and not state["user"]:
                        reply("530 5.7.0 authentication required")
                    else:
                        state["from"] = argument.split(":", 1)[1].strip().strip("<>")
                        state["to"] = []
                        reply("250 ok")
                elif verb == "RCPT":
                    with self.lock:
                        refuse = self.refusals > 0
                        if refuse:
                            self.refusals -= 1
                    if refuse:
                        reply("451 4.3.0 try again later")
                    else:
                        state["to"].append(argument.split(":", 1)[1].strip().strip("<>"))
                        reply("250 ok")
                elif verb == "DATA":
                    reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while True:
                        data = stream.readline()
                        if data in (b".\r\n", b".\n", b""):
                            break
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    parsed = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                    with self.lock:
                        self.messages.append({
                            "from": state["from"], "to": state["to"][0] if state["to"] else None, "tls": state["tls"],
                            "user": state["user"], "subject": str(parsed["subject"]), "body": parsed.get_content(),
                            "headers": dict(parsed.items())})
                    reply("250 ok queued")
                elif verb == "RSET":
                    state["from"], state["to"] = None, []
                    reply("250 ok")
                elif verb == "NOOP":
                    reply("250 ok")
                elif verb == "QUIT":
                    reply("221 bye")
                    return
                else:
                    reply("502 command not implemented")
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()


def self_signed_authority(directory):
    """A certificate authority of our own and a server certificate for 127.0.0.1 and localhost; the CA's
    PEM file (for the client to trust) and the server's TLS context."""
    import trustme

    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca_file = directory / "mail-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return ca_file, context
